"""The run store in the scheduler's own KV bucket: claims are `create`, changes compare-and-set."""

from __future__ import annotations

import json

import nats.js.errors
from nats.js.kv import KeyValue

from services.runtime.keys import encode_key
from services.scheduler.domain.runs import RunDoc
from services.scheduler.ports import AlreadyClaimed


class KvRunStore:
    """The `RunStore` port."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def get(self, key: str) -> tuple[RunDoc, int] | None:
        try:
            entry = await self._kv.get(encode_key(key))
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value or entry.revision is None:
            return None
        doc: RunDoc = json.loads(entry.value)
        return doc, entry.revision

    async def create(self, key: str, doc: RunDoc) -> int:
        try:
            return await self._kv.create(encode_key(key), _encode(doc))
        except nats.js.errors.KeyWrongLastSequenceError:
            raise AlreadyClaimed(key) from None

    async def update(self, key: str, doc: RunDoc, revision: int) -> int:
        try:
            return await self._kv.update(encode_key(key), _encode(doc), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            raise AlreadyClaimed(key) from None


def _encode(doc: RunDoc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()
