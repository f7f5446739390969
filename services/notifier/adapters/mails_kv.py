"""The exact messages sent, one KV entry per mail (`notifier_mails`, key = mail id), zlib-compressed,
kept as long as the delivery log keeps records.

Not inside the ledger entry: a message is 3-8 KB (about 4 KB compressed: base64 bodies compress
little) against a record's 1-2 KB, and the ledger is what the helpdesk's queries, the outbox
relay and every claim and result write read and write; six times the bytes there cost every
mail and every query, while here the message is written once per mail, alongside the SMTP
transaction, and read only when someone asks for it.
"""

from __future__ import annotations

import zlib

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from services.runtime.nats import ensure_kv

MAILS_BUCKET = "notifier_mails"


async def open_mails(js: JetStreamContext, *, replicas: int, keep_days: int) -> KeyValue:
    return await ensure_kv(
        js,
        MAILS_BUCKET,
        history=1,
        replicas=replicas,
        ttl_s=keep_days * 86400.0,
        description="the exact messages the notifier sent (zlib), as long as the delivery log",
    )


class KvMails:
    """The `MailStore` port over the bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def put(self, mail_id: str, data: bytes) -> None:
        await self._kv.put(mail_id, zlib.compress(data, 1), validate_keys=False)  # hex ids: valid by construction

    async def get(self, mail_id: str) -> bytes | None:
        if not mail_id.isalnum():
            return None
        try:
            entry = await self._kv.get(mail_id)
        except nats.js.errors.KeyNotFoundError:
            return None
        if entry.value is None or entry.operation in ("DEL", "PURGE"):
            return None
        return zlib.decompress(entry.value)
