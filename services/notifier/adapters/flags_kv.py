"""Flagged addresses (a hard bounce came back from them) in a KV bucket, with a copy per replica.

The delivery path asks for every mail whether its recipient is flagged, so the answer comes
from the replica's copy, not a round trip: the copy is read whole at start, changed at once by
this replica's own flags and clears, and read again every `refresh_s` for the other replicas'.
Flags are rare (one per dead address), so the whole read is small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from services.runtime.keys import decode_key, encode_key
from services.runtime.nats import ensure_kv, kv_current

log = logging.getLogger("ens.notifier.flags")

FLAGS_BUCKET = "notifier_flags"


def _norm(address: str) -> str:
    # Addresses are stored as given; a flag is about the mailbox, whatever case it was written in.
    return address.strip().lower()


async def open_flags(js: JetStreamContext, *, replicas: int) -> KeyValue:
    return await ensure_kv(js, FLAGS_BUCKET, history=1, replicas=replicas, description="addresses flagged by a hard bounce")


class KvFlags:
    def __init__(self, kv: KeyValue, js: JetStreamContext, *, refresh_s: float = 5.0) -> None:
        self._kv = kv
        self._js = js
        self._refresh_s = refresh_s
        self._flagged: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.load()
        self._task = asyncio.create_task(self._refresh(), name="notifier-flags")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def load(self) -> None:
        keys = await kv_current(self._js, FLAGS_BUCKET, keys_only=True)
        self._flagged = {decode_key(k) for k, _, _ in keys}

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.load()
            except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
                log.warning("notifier: reading flagged addresses failed (%s); keeping the copy", exc)

    def is_flagged(self, address: str) -> bool:
        return _norm(address) in self._flagged

    async def flag(self, address: str) -> None:
        await self._kv.put(encode_key(_norm(address)), b"1")
        self._flagged.add(_norm(address))

    async def clear(self, address: str) -> None:
        # Always written: another replica may have flagged it since this copy was read.
        await self._kv.delete(encode_key(_norm(address)))
        self._flagged.discard(_norm(address))
