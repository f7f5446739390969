"""The delivery ledger in a JetStream KV bucket.

Key: `m.<mail id>.<auth id>.<reception number>.<recipient>`, each user-given part encoded
(`_` when absent), so every key is valid by construction and writes skip nats-py's per-call
regex check (a test holds ledger_key to that check for any input). The key is known from the event alone, so claiming is one `create`; and the
key *is* the index: the helpdesk's queries are subject filters (`m.*.<auth id>.>`,
`m.*.*.<reception>.*`, ...) that the server answers from its per-subject index of the bucket's
stream, without reading unrelated records.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from contracts.notifier import DeliveryRecord
from services.notifier.domain.ledger import (
    Claim,
    ClaimOutcome,
    Lease,
    StatusChange,
    decide,
    first_record,
    lease_for,
    queued,
)
from services.notifier.domain.routing import MailRequest
from services.notifier.ports import LedgerEntry, LedgerUnavailable
from services.runtime import tracing
from services.runtime.keys import encode_key
from services.runtime.nats import ensure_kv, kv_current
from services.runtime.outbox import OutboxRelay

BUCKET = "notifier_ledger"
HISTORY = 8  # enough to see a mail's attempts while debugging; the record itself has the totals


async def open_bucket(js: JetStreamContext, *, replicas: int, keep_days: int) -> KeyValue:
    """The ledger bucket; a record stays `keep_days` after its last change (the delivery log's
    reach, and far beyond the event stream's age, so no event can outlive its mails' records)."""
    return await ensure_kv(
        js,
        BUCKET,
        history=HISTORY,
        replicas=replicas,
        ttl_s=keep_days * 86400.0,
        description="notifier delivery ledger and log",
    )


def _token(value: str | None) -> str:
    return encode_key(value) if value else "_"


@functools.lru_cache(maxsize=4096)  # claim and result of one mail ask for it within moments: three encodings saved
def ledger_key(mail: MailRequest) -> str:
    return f"m.{mail.mail_id}.{_token(mail.auth_id)}.{_token(mail.reception_number)}.{_token(mail.recipient)}"


def record_key(record: DeliveryRecord) -> str:
    """The key of a record's entry: the same as `ledger_key` of the mail it records."""
    return f"m.{record.mail_id}.{_token(record.auth_id)}.{_token(record.reception_number)}.{_token(record.recipient)}"


def query_filter(*, auth_id: str | None, reception_number: str | None, recipient: str | None, mail_id: str | None) -> str:
    def part(value: str | None) -> str:
        return encode_key(value) if value else "*"

    mid = mail_id if mail_id and mail_id.isalnum() else ("*" if not mail_id else "-invalid-")
    return f"m.{mid}.{part(auth_id)}.{part(reception_number)}.{part(recipient)}"


Recorded = dict[str, Any]  # an event as the outbox relay publishes it: id, subject, at, data, trace
Outbox = tuple[Sequence[Recorded], Sequence[Recorded]]  # (published by this revision, recorded earlier)
KEEP_EVENTS = 16


def _encode(
    record: DeliveryRecord,
    lease: Lease | None,
    outbox: Outbox = ((), ()),
    writes: int = 1,
) -> bytes:
    held = json.dumps({"owner": lease.owner, "until": lease.until.isoformat()}) if lease else "null"
    doc = b'{"record":%s,"lease":%s,"w":%d' % (record.model_dump_json().encode(), held.encode(), writes)
    events, past = outbox
    if events:
        doc += b',"events":' + json.dumps(list(events), ensure_ascii=False).encode()
    if past:
        doc += b',"past":' + json.dumps(list(past), ensure_ascii=False).encode()
    return doc + b"}"


def _decode(value: bytes) -> tuple[DeliveryRecord, Lease | None]:
    record, lease, _, _ = _decode_all(value)
    return record, lease


def _decode_all(value: bytes) -> tuple[DeliveryRecord, Lease | None, tuple[Recorded, ...], int]:
    doc = json.loads(value)
    raw = doc.get("lease")
    lease = Lease(raw["owner"], datetime.fromisoformat(raw["until"])) if raw else None
    record = DeliveryRecord.model_validate(doc["record"])
    known = tuple(doc.get("past", ())) + tuple(doc.get("events", ()))
    return record, lease, known, int(doc.get("w", 0))


def recorded(change: StatusChange, at: datetime) -> Recorded:
    """One event in the form `services/runtime/outbox.py`'s relay publishes (Nats-Msg-Id = id)."""
    meta = {"event_id": change.event_id, "occurred_at": at.isoformat().replace("+00:00", "Z"), "source": SOURCE}
    out: Recorded = {
        "id": change.event_id,
        "subject": change.subject,
        "at": at.isoformat(),
        "data": {"meta": meta, **change.fields},
    }
    trace_id = tracing.current()
    if trace_id is not None:
        out["trace"] = trace_id
    return out


SOURCE = "notifier"
ENTRY_SUBJECT = f"$KV.{BUCKET}.m."


class LedgerRelay(OutboxRelay):
    """The outbox relay over the ledger's bucket: mail entries (`m.`) carry the events; the
    bucket's other keys (the installation id) carry none and are only acknowledged."""

    async def relay(self, msgs: Sequence[Any]) -> None:
        ours = [m for m in msgs if m.subject.startswith(ENTRY_SUBJECT)]
        if ours:
            await super().relay(ours)
        for m in msgs:
            if not m.subject.startswith(ENTRY_SUBJECT):
                await m.ack()


def _known(outbox: Outbox) -> tuple[Recorded, ...]:
    """Every recent event an entry knows of, for the next write's outbox."""
    return (*outbox[1], *outbox[0])


class KvLedger:
    """The `Ledger` port over the bucket."""

    def __init__(self, kv: KeyValue, js: JetStreamContext, *, keep_events_for: timedelta = timedelta(minutes=30)) -> None:
        self._kv = kv
        self._js = js
        self._keep_for = keep_events_for

    def _outbox(self, known: Sequence[Recorded], writes: int, now: datetime, new: Sequence[Recorded] = ()) -> Outbox:
        """What write number `writes` of an entry records: `events` (the relay publishes them from
        this revision) and `past` (recent events earlier revisions published).

        outbox.py carries every recent event on every later write, so that a relay that fell
        behind the bucket's history still publishes them; here that would publish a mail's
        `queued` a second time with its `sent` whenever another replica's relay reads the second
        revision. So an earlier event rides again only on the write that would otherwise leave its
        revision to be dropped (HISTORY writes later), and counts from there: every event is in a
        revision the stream keeps, and the usual mail (claim, result) publishes each event once.
        `past` keeps the earlier ones (recent: younger than half the duplicate window, so any
        republish is dropped by the stream) for that decision."""
        recent = [e for e in known if now - datetime.fromisoformat(e["at"]) < self._keep_for]
        due = [{**e, "w": writes} for e in recent if writes - int(e.get("w", 0)) >= HISTORY - 1]
        past = [e for e in recent if writes - int(e.get("w", 0)) < HISTORY - 1]
        events = due + [{**e, "w": writes} for e in new]
        return events, past[-KEEP_EVENTS:]

    async def claim(self, mail: MailRequest, *, now: datetime, owner: str, lease: timedelta, flagged: bool = False) -> Claim:
        key = ledger_key(mail)
        held = lease_for(owner, now, lease)
        record = first_record(mail, now, flagged=flagged)
        outbox = self._outbox((), 1, now, [recorded(queued(record), now)])
        try:
            revision = await self._kv.create(key, _encode(record, held, outbox), validate_keys=False)  # valid by construction
            return Claim(ClaimOutcome.NEW, record, revision, events=_known(outbox), writes=1)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        entry = await self._kv.get(key)
        read = entry.revision
        assert entry.value is not None and read is not None  # a get always answers with both
        existing, current, kept, writes = _decode_all(entry.value)
        outcome = decide(existing, current, now, owner)
        if outcome is ClaimOutcome.DONE:
            return Claim(outcome, existing, read)
        if outcome is ClaimOutcome.BUSY:
            assert current is not None
            return Claim(outcome, existing, read, busy_until=current.until)
        outbox = self._outbox(kept, writes + 1, now)
        try:
            value = _encode(existing, held, outbox, writes + 1)
            revision = await self._kv.update(key, value, last=read, validate_keys=False)
        except nats.js.errors.KeyWrongLastSequenceError:
            # Another worker took it over this instant: let it work, look again after its lease.
            return Claim(ClaimOutcome.BUSY, existing, read, busy_until=held.until)
        return Claim(
            ClaimOutcome.RESUMED,
            existing,
            revision,
            events=_known(outbox),
            writes=writes + 1,
        )

    async def record(
        self,
        mail: MailRequest,
        claim: Claim,
        record: DeliveryRecord,
        changes: Sequence[StatusChange] = (),
    ) -> bool:
        now = record.last_attempt_at or record.queued_at
        outbox = self._outbox(claim.events, claim.writes + 1, now, [recorded(c, now) for c in changes])
        value = _encode(record, None, outbox, claim.writes + 1)
        try:
            await self._kv.update(ledger_key(mail), value, last=claim.revision, validate_keys=False)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except (TimeoutError, nats.errors.Error) as exc:
            raise LedgerUnavailable(str(exc) or exc.__class__.__name__) from exc
        return True

    async def find(self, mail_id: str) -> LedgerEntry | None:
        """The entry of one mail, by its id alone (the key's first token after `m.`)."""
        if not mail_id.isalnum():
            return None
        found = await kv_current(self._js, BUCKET, f"m.{mail_id}.>")
        if not found:
            return None
        key, value, revision = found[0]
        record, lease, events, writes = _decode_all(value)
        return LedgerEntry(key, revision, record, events, lease, writes)

    async def write(
        self,
        entry: LedgerEntry | None,
        record: DeliveryRecord,
        changes: Sequence[StatusChange],
        *,
        at: datetime,
    ) -> bool:
        """A command's compare-and-set of one entry (`entry=None`: create the record's) with the
        events it causes; False when the entry changed since it was read (or exists, for a create)."""
        writes = entry.writes + 1 if entry else 1
        outbox = self._outbox(entry.events if entry else (), writes, at, [recorded(c, at) for c in changes])
        lease = entry.lease if entry else None
        value = _encode(record, lease, outbox, writes)
        try:
            if entry is None:
                await self._kv.create(record_key(record), value, validate_keys=False)
            else:
                await self._kv.update(entry.key, value, last=entry.revision, validate_keys=False)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def query(
        self,
        *,
        auth_id: str | None = None,
        reception_number: str | None = None,
        recipient: str | None = None,
        mail_id: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        subject = query_filter(auth_id=auth_id, reception_number=reception_number, recipient=recipient, mail_id=mail_id)
        # One consistent snapshot: the current revision of each matching key, read once.
        records = [_decode(value)[0] for _, value, _ in await kv_current(self._js, BUCKET, subject)]
        records.sort(key=lambda r: r.queued_at, reverse=True)
        return records[:limit]


INSTALLATION_KEY = "installation"


async def installation_id(kv: KeyValue) -> str:
    """This installation's id, made once at its first start and kept in the ledger bucket: it
    goes into every Message-ID, so two installations never send different mails under one id,
    while a redelivered event's mail keeps its id across restarts. Written again at every start,
    so the bucket's age limit (the delivery log's reach) never drops it from a running system."""
    try:
        entry = await kv.get(INSTALLATION_KEY)
    except nats.js.errors.KeyNotFoundError:
        entry = None
    if entry is not None and entry.value:
        value = entry.value.decode()
        await kv.put(INSTALLATION_KEY, entry.value)
        return value
    candidate = secrets.token_hex(8)
    try:
        await kv.create(INSTALLATION_KEY, candidate.encode())
        return candidate
    except nats.js.errors.KeyWrongLastSequenceError:
        # Another replica made it first this very moment: use its id.
        won = await kv.get(INSTALLATION_KEY)
        assert won.value is not None
        return won.value.decode()
