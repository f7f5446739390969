"""The notifier's event-driven entry point: one durable pull consumer on ENS_EVENTS that every notifier replica shares.

Events are fetched in batches (a pull of up to `batch`, worked on concurrently up to
`max_in_flight`; a pull waits at most `fetch_wait_s` for its batch to fill, since the server
holds it until then and a quiet period would otherwise add that wait to every mail). Each is
acked only after the ledger holds the result of all its mails, naked with a delay when a mail
must be retried, and redelivered after `ack_wait` if the replica died holding it. `max_deliver` is unlimited by default: JetStream would drop an event silently,
so the notifier decides itself when a mail has failed (give_up_after_s, recorded in the ledger).

An event still being worked on (a slow SMTP server may take minutes to answer, RFC 5321
§4.5.3.2) is kept from redelivery: every quarter of `ack_wait` one timer sends `in_progress`
(+WPI) for each event held longer than that, so JetStream redelivers only the events of a replica
that is gone. One task for the replica, nothing per event beyond a dict entry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from contracts import subjects
from services.notifier.delivery import Deliverer, RetryLater
from services.notifier.domain.routing import EVENT_BY_SUBJECT
from services.notifier.settings import NotifierSettings
from services.runtime import health, metrics, tracing

log = logging.getLogger("ens.notifier.events")


def consumer_config(settings: NotifierSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=settings.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        filter_subjects=sorted(EVENT_BY_SUBJECT),  # only the events someone is mailed about
        ack_wait=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
        max_ack_pending=settings.max_ack_pending,
    )


def unexpected_failure_delay(deliveries: int) -> float:
    """1 s, 2 s, 4 s, ... up to 5 min: a passing NATS hiccup is retried at once, a bug is not hammered."""
    return float(min(2 ** max(deliveries - 1, 0), 300))


class EventConsumer:
    def __init__(self, js: JetStreamContext, settings: NotifierSettings, deliverer: Deliverer) -> None:
        self._js = js
        self._settings = settings
        self._deliverer = deliverer
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._in_flight: set[asyncio.Task[None]] = set()
        # every event fetched and not yet settled: id(msg) -> [msg, when JetStream last heard of it]
        self._held: dict[int, list[Any]] = {}
        self._keep_alive: asyncio.Task[None] | None = None
        self.handled = 0
        # what /readyz knows of the fetch loop (issue 18)
        self._beat = health.FetchLoop("notifier-events", stream=subjects.EVENTS_STREAM, consumer=settings.durable, kind="events")

    async def start(self) -> None:
        # Create-or-update: every replica declares the same consumer, so a changed setting (e.g.
        # ack_wait) takes effect on the next start; the replicas then share its messages.
        await self._js.add_consumer(subjects.EVENTS_STREAM, consumer_config(self._settings))
        self._sub = await self._js.pull_subscribe_bind(durable=self._settings.durable, stream=subjects.EVENTS_STREAM)
        health.register(self._js, self._beat)
        self._task = asyncio.create_task(self._run(), name="notifier-events")
        self._keep_alive = asyncio.create_task(self._keep_alive_loop(), name="notifier-events-in-progress")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop fetching, let in-flight events finish (so their claims are released), then go."""
        self._stopping.set()
        self._beat.stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, grace)
            except TimeoutError:
                log.warning("notifier: events still in flight after %.0fs; they come back after ack_wait", grace)
            self._task = None
        if self._keep_alive is not None:  # after the in-flight events: they are kept alive until then
            self._keep_alive.cancel()
            await asyncio.gather(self._keep_alive, return_exceptions=True)
            self._keep_alive = None
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except (nats.errors.Error, nats.errors.ConnectionClosedError) as exc:
                log.debug("notifier: unsubscribe failed: %s", exc)
            self._sub = None

    async def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                free = self._settings.max_in_flight - len(self._in_flight)
                want = max(1, min(self._settings.batch, free))
                try:
                    msgs = await self._sub.fetch(want, timeout=self._settings.fetch_wait_s)
                    self._beat.ok()
                except (TimeoutError, nats.errors.TimeoutError):
                    self._beat.ok()
                    continue
                except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                    self._beat.failed(exc)
                    log.warning("notifier: fetch failed (%s); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                now = asyncio.get_running_loop().time()
                for msg in msgs:
                    self._held[id(msg)] = [msg, now]  # kept alive even while waiting for a slot
                    await self._slots.acquire()
                    task = asyncio.create_task(self._handle(msg))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
        finally:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _handle(self, msg: Any) -> None:
        tracing.adopt(tracing.from_headers(msg.headers))  # this task's log lines and ledger records carry the event's trace
        try:
            await self._handle_one(msg)
        except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
            # The ack or nak did not reach the server: the event comes back after ack_wait and
            # the ledger tells what became of its mails.
            log.warning("notifier: could not settle %s: %s", msg.subject, exc)
        except Exception:
            log.exception("notifier: handling %s failed; it comes back after ack_wait", msg.subject)
        finally:
            self._held.pop(id(msg), None)
            self._slots.release()

    async def _keep_alive_loop(self) -> None:
        """Tell JetStream that the events held for longer than a quarter of ack_wait are still being
        worked on, so it gives them to no other replica while this one waits on the SMTP server."""
        every = self._settings.ack_wait_s / 4
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            now = loop.time()
            for held in list(self._held.values()):
                msg, since = held
                if now - since < every:
                    continue
                try:
                    await msg.in_progress()
                    held[1] = now
                except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                    # NATS away: the event may come back after ack_wait; the ledger's lease keeps
                    # another replica from sending its mail meanwhile.
                    log.debug("notifier: in_progress for %s failed: %s", msg.subject, exc)

    async def _handle_one(self, msg: Any) -> None:
        cls = EVENT_BY_SUBJECT.get(msg.subject)
        if cls is None:  # the filter keeps these out; a changed filter may let one through
            await msg.ack()
            return
        try:
            event = cls.model_validate_json(msg.data)
        except ValidationError as exc:
            # A malformed event can never become a mail; redelivering it would only repeat this.
            log.error("notifier: %s is not a valid %s, dropped: %s", msg.subject, cls.__name__, exc)
            await msg.term()
            return
        if event.meta.source != subjects.event_owner(msg.subject):
            # Only the owning service may publish on its subjects (docs/SECURITY.md); an event whose
            # claimed source is another service was not made by that service: never a mail.
            log.error(
                "notifier: %s claims source %r but the subject is %r's; dropped, no mail",
                event.meta.event_id,
                event.meta.source,
                subjects.event_owner(msg.subject),
            )
            await msg.term()
            return
        try:
            outcome = await self._deliverer.deliver_event(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            delay = unexpected_failure_delay(msg.metadata.num_delivered)
            log.exception(
                "notifier: event %s failed (delivery %d); retrying it in %.0fs",
                event.meta.event_id,
                msg.metadata.num_delivered,
                delay,
            )
            await msg.nak(delay=delay)
            return
        if isinstance(outcome, RetryLater):
            metrics.retry_waiting(event.meta.event_id, outcome.delay)
            await msg.nak(delay=outcome.delay)
        else:
            await msg.ack()
            self.handled += 1
