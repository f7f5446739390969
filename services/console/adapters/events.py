"""The event behind a mail, read back from ENS_EVENTS as `events-reader` (a contract role).

The delivery log keeps no message bytes; the notifier's rendering is pure, so the same event
rendered at the mail's queue time gives the same bytes. Finding the event: a short-lived pull
consumer filtered to the one event subject that causes the mail type, starting shortly before
the mail was queued (the event was stored before the notifier claimed the mail) and widening
when it is not there (the notifier may have been down for a while); a scan stops once the
stream has passed the queue time. Events older than the stream's age (ENS_EVENTS_MAX_AGE_DAYS)
are gone: then None, and the page says so.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import nats.errors
import nats.js.errors
from nats.aio.client import Client as Nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts import subjects
from contracts.common import Event
from contracts.notifier import MAIL_CAUSES, DeliveryRecord
from services.runtime.clock import Clock, SystemClock

BATCH = 256
WINDOWS = (timedelta(seconds=5), timedelta(hours=1), timedelta(days=2), None)  # None: the whole stream
SLACK = timedelta(seconds=5)


class EventArchive:
    def __init__(self, nc: Nats, wall: Clock | None = None) -> None:
        self._js = nc.jetstream(timeout=5)
        self._wall = wall or SystemClock()  # JetStream stamps messages with the real time, whatever clock the suite runs on

    async def find(self, record: DeliveryRecord) -> Event | None:
        cause = MAIL_CAUSES[record.mail_type]
        queued = record.queued_at
        in_the_past = queued <= self._wall.now()
        for window in WINDOWS:
            if window is not None and not in_the_past:
                continue  # a simulated clock ahead of the real one: the stream's times say nothing
            start = queued - window if window is not None else None
            found = await self._scan(cause, record.event_id, start, queued + SLACK if in_the_past else None)
            if found is not None:
                return found
        return None

    async def _scan(self, cause: type[Event], event_id: str, start: datetime | None, until: datetime | None) -> Event | None:
        config = ConsumerConfig(
            name=f"console-{uuid.uuid4().hex[:12]}",
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            deliver_policy=DeliverPolicy.BY_START_TIME if start is not None else DeliverPolicy.ALL,
            opt_start_time=start,
        )
        sub = await self._js.pull_subscribe(cause.SUBJECT, stream=subjects.EVENTS_STREAM, config=config)
        try:
            info = await sub.consumer_info()
            if info.num_pending == 0:
                return None
            while True:
                try:
                    batch = await sub.fetch(BATCH, timeout=2.0)
                except nats.errors.TimeoutError:
                    return None
                for msg in batch:
                    if (msg.headers or {}).get("Nats-Msg-Id") == event_id:
                        return cause.model_validate_json(msg.data)
                    if until is not None and msg.metadata.timestamp is not None and msg.metadata.timestamp > until:
                        return None
                if batch[-1].metadata.num_pending == 0:
                    return None
        finally:
            await sub.unsubscribe()
            try:
                await self._js.delete_consumer(subjects.EVENTS_STREAM, config.name or "")
            except (nats.js.errors.NotFoundError, nats.errors.TimeoutError):
                pass  # it lapses by itself after inactive_threshold
