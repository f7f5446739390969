"""The delivery ledger in a JetStream KV bucket.

Key: `m.<mail id>.<auth id>.<reception number>.<recipient>`, each user-given part encoded
(`_` when absent), so every key is valid by construction and writes skip nats-py's per-call
regex check (a test holds ledger_key to that check for any input). The key is known from the event alone, so claiming is one `create`; and the
key *is* the index: the helpdesk's queries are subject filters (`m.*.<auth id>.>`,
`m.*.*.<reception>.*`, ...) that the server answers from its per-subject index of the bucket's
stream, without reading unrelated records.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from contracts.notifier import DeliveryRecord
from services.notifier.domain.ledger import Claim, ClaimOutcome, Lease, decide, first_record, lease_for
from services.notifier.domain.routing import MailRequest
from services.notifier.ports import LedgerUnavailable
from services.runtime.keys import encode_key
from services.runtime.nats import ensure_kv, kv_current

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


def ledger_key(mail: MailRequest) -> str:
    return f"m.{mail.mail_id}.{_token(mail.auth_id)}.{_token(mail.reception_number)}.{_token(mail.recipient)}"


def query_filter(*, auth_id: str | None, reception_number: str | None, recipient: str | None, mail_id: str | None) -> str:
    def part(value: str | None) -> str:
        return encode_key(value) if value else "*"

    mid = mail_id if mail_id and mail_id.isalnum() else ("*" if not mail_id else "-invalid-")
    return f"m.{mid}.{part(auth_id)}.{part(reception_number)}.{part(recipient)}"


def _encode(record: DeliveryRecord, lease: Lease | None) -> bytes:
    held = json.dumps({"owner": lease.owner, "until": lease.until.isoformat()}) if lease else "null"
    return b'{"record":%s,"lease":%s}' % (record.model_dump_json().encode(), held.encode())


def _decode(value: bytes) -> tuple[DeliveryRecord, Lease | None]:
    doc = json.loads(value)
    raw = doc.get("lease")
    lease = Lease(raw["owner"], datetime.fromisoformat(raw["until"])) if raw else None
    return DeliveryRecord.model_validate(doc["record"]), lease


class KvLedger:
    """The `Ledger` port over the bucket."""

    def __init__(self, kv: KeyValue, js: JetStreamContext) -> None:
        self._kv = kv
        self._js = js

    async def claim(self, mail: MailRequest, *, now: datetime, owner: str, lease: timedelta) -> Claim:
        key = ledger_key(mail)
        held = lease_for(owner, now, lease)
        record = first_record(mail, now)
        try:
            revision = await self._kv.create(key, _encode(record, held), validate_keys=False)  # valid by construction
            return Claim(ClaimOutcome.NEW, record, revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        entry = await self._kv.get(key)
        read = entry.revision
        assert entry.value is not None and read is not None  # a get always answers with both
        existing, current = _decode(entry.value)
        outcome = decide(existing, current, now, owner)
        if outcome is ClaimOutcome.DONE:
            return Claim(outcome, existing, read)
        if outcome is ClaimOutcome.BUSY:
            assert current is not None
            return Claim(outcome, existing, read, busy_until=current.until)
        try:
            revision = await self._kv.update(key, _encode(existing, held), last=read, validate_keys=False)
        except nats.js.errors.KeyWrongLastSequenceError:
            # Another worker took it over this instant: let it work, look again after its lease.
            return Claim(ClaimOutcome.BUSY, existing, read, busy_until=held.until)
        return Claim(ClaimOutcome.RESUMED, existing, revision)

    async def record(self, mail: MailRequest, claim: Claim, record: DeliveryRecord) -> bool:
        try:
            await self._kv.update(ledger_key(mail), _encode(record, None), last=claim.revision, validate_keys=False)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except (TimeoutError, nats.errors.Error) as exc:
            raise LedgerUnavailable(str(exc) or exc.__class__.__name__) from exc
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
