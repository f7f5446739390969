"""Keeping a state change and its domain events together, with nothing but NATS.

The write: a service changes an entity by one compare-and-set write of a KV entry that holds
both the new state and the events that change caused (a transactional outbox inside the
entry). There is no second write that could be lost: if the CAS write happened, the events
are recorded; if not, neither is.

The relay: a durable pull consumer on the bucket's own stream (`KV_<bucket>`) sees every
revision and publishes its recorded events to the event stream with `Nats-Msg-Id` = event id,
then acks. A crash before the ack means the revision is delivered again and republished; the
stream's duplicate window drops the copy. Event ids derive from (source, bucket, key, entry
version, index), so a replayed change always yields the same id, and consumers (the notifier's
ledger) can dedupe beyond the window too.

An entry keeps the events of its recent changes (not only the last one): if the relay fell so
far behind that the bucket's history limit dropped an intermediate revision, its events still
ride along on a later one. A relay skips the ids it has published itself; any other copy (after
a restart, or from another replica) is republished and dropped by the stream. Recent means
younger than half the duplicate window, so a republish is always within the window that drops it.

Each recorded event keeps the trace id of the command that caused it (services/runtime/tracing.py),
and the relay publishes it in the event's `traceparent` header, so the mails it leads to share it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue

from contracts.common import Event, EventMeta
from services.runtime import health, metrics, tracing
from services.runtime.clock import Clock
from services.runtime.idempotency import check_applied, mark_requests
from services.runtime.keys import decode_key, encode_key
from services.runtime.nats import end_fetch_loop, kv_current
from services.runtime.settings import RuntimeSettings

log = logging.getLogger("ens.outbox")

_DRAFT_META = EventMeta(event_id="draft", occurred_at=datetime(2000, 1, 1, tzinfo=UTC), source="draft")


@dataclass(frozen=True)
class EventDraft:
    """An event a change causes, checked against its contract when the change is decided; the
    store gives it its `meta` (deterministic id, time, source) when it records the change."""

    event: Event

    @property
    def kind(self) -> type[Event]:
        return type(self.event)


def draft(kind: type[Event], **fields: Any) -> EventDraft:
    """`draft(AccountActivated, auth_id=..., ...)`: the event without its meta. A field the
    contract does not accept fails here, in the use case that made it, not in the relay."""
    return EventDraft(kind.model_validate({**fields, "meta": _DRAFT_META}))


BUCKET_HISTORY = 64  # the most JetStream allows; the relay's margin before any revision is dropped


class StaleRevision(Exception):
    """The entry changed since it was read (or exists already, for a create)."""


@dataclass(frozen=True)
class Entry:
    key: str
    state: dict[str, Any]
    revision: int  # the KV revision, for compare-and-set
    version: int  # the entry's own change counter, part of event ids
    events: tuple[dict[str, Any], ...] = ()
    requests: tuple[dict[str, Any], ...] = ()  # marks of the keyed requests that changed it lately


def event_id(source: str, bucket: str, key: str, version: int, index: int) -> str:
    return f"{source}.{bucket}.{encode_key(key)}.{version}.{index}"


class KvStore:
    """A KV bucket of documents `{"v": version, "state": ..., "events": [...]}` written by
    compare-and-set. Its changes record no events; see `OutboxStore` for those that do.

    `commits`: its writes are the commit point of the commands that make them, so they record the
    running request's idempotency key (runtime/idempotency.py), and reading an entity that a copy
    of the running request changed already raises `AlreadyApplied`. Only a command's last write
    may be a committing one (an earlier one would claim the whole change happened)."""

    def __init__(
        self, kv: KeyValue, *, js: JetStreamContext | None = None, bucket: str, clock: Clock, commits: bool = False
    ) -> None:
        self._kv = kv
        # The JetStream context for whole-bucket reads; by default the one the bucket was opened with.
        self._js: JetStreamContext = js if js is not None else kv._js
        self._bucket = bucket
        self._clock = clock
        self._commits = commits

    @property
    def kv(self) -> KeyValue:
        return self._kv

    async def get(self, key: str) -> Entry | None:
        try:
            raw = await self._kv.get(encode_key(key))
        except nats.js.errors.KeyNotFoundError:
            return None
        if raw.value is None or raw.revision is None or raw.operation in ("DEL", "PURGE"):
            return None
        entry = self.decode(key, raw.value, raw.revision)
        if self._commits and entry.requests:
            check_applied(entry.requests, entry.state, entry.version, self._clock.now())
        return entry

    @staticmethod
    def decode(key: str, value: bytes, revision: int) -> Entry:
        doc = json.loads(value)
        return Entry(
            key=key,
            state=doc["state"],
            revision=revision,
            version=doc["v"],
            events=tuple(doc["events"]),
            requests=tuple(doc.get("requests", ())),
        )

    async def put(self, key: str, state: dict[str, Any], *, expected: Entry | None) -> Entry:
        """Write state in one compare-and-set; `expected=None` means create."""
        return await self._write(key, state, expected, [])

    async def _write(self, key: str, state: dict[str, Any], expected: Entry | None, events: list[dict[str, Any]]) -> Entry:
        version = expected.version + 1 if expected else 1
        doc: dict[str, Any] = {"v": version, "state": state, "events": events}
        requests = mark_requests(expected.requests if expected else (), self._clock.now()) if self._commits else []
        if requests:
            doc["requests"] = requests
        value = json.dumps(doc, ensure_ascii=False).encode()
        try:
            if expected is None:
                revision = await self._kv.create(encode_key(key), value)
            else:
                revision = await self._kv.update(encode_key(key), value, last=expected.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            if self._commits and expected is None:
                await self.get(key)  # a copy of this request created it already: AlreadyApplied
            raise StaleRevision(key) from None
        return Entry(key=key, state=state, revision=revision, version=version, events=tuple(events), requests=tuple(requests))

    async def delete(self, key: str, expected: Entry) -> None:
        """Remove an entity (e.g. retention); records no event."""
        try:
            await self._kv.delete(encode_key(key), last=expected.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            raise StaleRevision(key) from None

    async def keys(self) -> list[str]:
        return [decode_key(key) for key, _, _ in await kv_current(self._js, self._bucket)]

    async def entries(self) -> list[Entry]:
        """Every live entry, read in one pass (no get per key)."""
        return [self.decode(decode_key(k), v, rev) for k, v, rev in await kv_current(self._js, self._bucket)]


class OutboxStore(KvStore):
    """A KV bucket whose entries carry the events their change caused.

    Make one through `Outbox`, which creates the relay that publishes those events with it: an
    event recorded in a bucket nobody relays would be stored and never published."""

    def __init__(
        self,
        kv: KeyValue,
        *,
        js: JetStreamContext | None = None,
        source: str,
        bucket: str,
        clock: Clock,
        keep_events_for: timedelta = timedelta(minutes=30),
        keep_events: int = 16,
    ) -> None:
        super().__init__(kv, js=js, bucket=bucket, clock=clock, commits=True)
        self._source = source
        self._keep_for = keep_events_for
        self._keep = keep_events

    async def put(
        self,
        key: str,
        state: dict[str, Any],
        *,
        expected: Entry | None,
        events: Sequence[EventDraft] = (),
    ) -> Entry:
        """Write state and its events in one compare-and-set; `expected=None` means create."""
        now = self._clock.now()
        version = expected.version + 1 if expected else 1
        recorded = [self._record(key, version, i, d, now) for i, d in enumerate(events)]
        recent = [e for e in (expected.events if expected else ()) if self._is_recent(e, now)]
        kept = (recent + recorded)[-max(self._keep, len(recorded)) :]
        return await self._write(key, state, expected, kept)

    def _record(self, key: str, version: int, index: int, d: EventDraft, now: datetime) -> dict[str, Any]:
        eid = event_id(self._source, self._bucket, key, version, index)
        event = d.event.model_copy(update={"meta": EventMeta(event_id=eid, occurred_at=now, source=self._source)})
        recorded = {"id": eid, "subject": d.kind.SUBJECT, "at": now.isoformat(), "data": event.model_dump(mode="json")}
        trace_id = tracing.current()
        if trace_id is not None:
            recorded["trace"] = trace_id
        return recorded

    def _is_recent(self, recorded: dict[str, Any], now: datetime) -> bool:
        return now - datetime.fromisoformat(recorded["at"]) < self._keep_for


CrashHook = Callable[[str], None]
SENT_IDS_KEPT = 100_000


class OutboxRelay:
    """Publishes the events recorded in a bucket's entries; one per bucket per service replica."""

    def __init__(
        self,
        js: JetStreamContext,
        bucket: str,
        *,
        durable: str | None = None,
        batch: int = 128,
        ack_wait: float = 5.0,
        crash_hook: CrashHook | None = None,
    ) -> None:
        self._js = js
        self._bucket = bucket
        self._durable = durable or f"outbox-relay-{bucket}"
        self._batch = batch
        # A relay that died holding messages gets them redelivered after ack_wait; republishing
        # is harmless (deduplicated), so keep it short.
        self._ack_wait = ack_wait
        self._hook = crash_hook or (lambda step: None)
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._stopping = False
        self._health: health.FetchLoop | None = None
        # Ids this relay already published: an entry carries its recent events on every later
        # revision, and republishing them only to have the stream drop them costs a round trip each.
        self._sent_ids: OrderedDict[str, None] = OrderedDict()
        self.published = 0  # events the stream took as new
        self.publish_calls = 0  # publishes sent, duplicates included

    async def start(self) -> None:
        self._sub = await self._js.pull_subscribe(
            f"$KV.{self._bucket}.>",
            durable=self._durable,
            stream=f"KV_{self._bucket}",
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait,
                max_deliver=-1,
                max_ack_pending=10_000,
            ),
        )
        self._health = health.watch(
            self._js, f"outbox-relay-{self._bucket}", stream=f"KV_{self._bucket}", consumer=self._durable, kind="outbox"
        )
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._bucket}")

    async def stop(self) -> None:
        # nats-py turns a cancellation that lands in a fetch on a closed connection into
        # ConnectionClosedError, which the loop would survive; the flag ends it regardless.
        self._stopping = True
        if self._health is not None:
            self._health.stop()
        await end_fetch_loop(self._task, self._sub, f"outbox relay {self._bucket}")
        self._task = self._sub = None

    async def _run(self) -> None:
        beat = self._health
        assert beat is not None  # set by start()
        while not self._stopping:
            try:
                msgs = await self._sub.fetch(self._batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                beat.ok()
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - connection loss etc.: keep going, nothing is acked
                beat.failed(exc)
                log.warning("outbox relay %s: fetch failed: %s", self._bucket, exc)
                await asyncio.sleep(0.5)
                continue
            beat.ok()
            try:
                await self.relay(msgs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - unacked messages come back after ack_wait
                log.warning("outbox relay %s: publish failed, will retry: %s", self._bucket, exc)
                for m in msgs:
                    try:
                        await m.nak(delay=1)
                    except Exception:  # noqa: BLE001 - a nak that fails changes nothing: the message comes back after ack_wait
                        pass
                await asyncio.sleep(0.5)

    async def relay(self, msgs: Sequence[Any]) -> None:
        publishes = []
        ids: list[str] = []
        for m in msgs:
            op = (m.headers or {}).get("KV-Operation")
            if op in ("DEL", "PURGE") or not m.data:
                continue
            doc = json.loads(m.data)
            for recorded in doc.get("events", ()):
                if recorded["id"] in self._sent_ids or recorded["id"] in ids:
                    continue
                ids.append(recorded["id"])
                publishes.append(
                    self._js.publish(
                        recorded["subject"],
                        json.dumps(recorded["data"], ensure_ascii=False).encode(),
                        headers=tracing.headers({"Nats-Msg-Id": recorded["id"]}, recorded.get("trace")),
                        timeout=5,
                    )
                )
        self._hook("before_publish")
        acks = await asyncio.gather(*publishes)
        self.publish_calls += len(publishes)
        new = sum(1 for a in acks if not a.duplicate)
        self.published += new
        metrics.events_published(self._bucket, new)
        for event_id in ids:
            self._sent_ids[event_id] = None
        while len(self._sent_ids) > SENT_IDS_KEPT:
            self._sent_ids.popitem(last=False)
        self._hook("after_publish")
        for m in msgs:
            await m.ack()
        self._hook("after_ack")


class Outbox:
    """A bucket whose changes cause events, made together with the relay that publishes them.

    Events ride on an entry while they are younger than half the event stream's duplicate
    window (RuntimeSettings), so any republish lands inside the window that drops it."""

    def __init__(
        self,
        kv: KeyValue,
        js: JetStreamContext,
        *,
        source: str,
        bucket: str,
        clock: Clock,
        runtime: RuntimeSettings,
        crash_hook: CrashHook | None = None,
    ) -> None:
        keep_for = timedelta(seconds=runtime.events_duplicate_window_s / 2)
        self.store = OutboxStore(kv, js=js, source=source, bucket=bucket, clock=clock, keep_events_for=keep_for)
        self.relay = OutboxRelay(js, bucket, crash_hook=crash_hook)

    async def start(self) -> None:
        await self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
