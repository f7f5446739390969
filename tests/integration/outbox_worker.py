"""A process that changes entities through the outbox and relays their events; the kill test
SIGKILLs it at a chosen step (ENS_TEST_CRASH=step:occurrence) and starts it again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import ClassVar

from contracts.common import Event
from services.runtime.clock import SystemClock
from services.runtime.nats import ensure_kv, ensure_shared_streams
from services.runtime.outbox import OutboxRelay, OutboxStore, draft
from services.runtime.settings import RuntimeSettings
from tests.support import bus

KEYS = [f"entity.{i}*>" for i in range(5)]  # user-input-like keys with subject metacharacters


def crash_hook() -> callable:
    spec = os.environ.get("ENS_TEST_CRASH", "")
    step, _, nth = spec.partition(":")
    seen = {"n": 0}

    def hook(at: str) -> None:
        if at == step:
            seen["n"] += 1
            if seen["n"] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


async def main(url: str, bucket: str, target: int) -> None:
    class Counted(Event):
        SUBJECT: ClassVar[str] = f"ens.v1.events.test.{bucket}"
        key: str
        n: int

    hook = crash_hook()
    nc = await bus.connect_as(url, "admin")
    js = nc.jetstream()
    await ensure_shared_streams(js, RuntimeSettings(nats_url=url))
    kv = await ensure_kv(js, bucket, history=64)
    store = OutboxStore(kv, js=js, source="test", bucket=bucket, clock=SystemClock())
    relay = OutboxRelay(js, bucket, batch=4, ack_wait=1.0, crash_hook=hook)
    await relay.start()
    for key in KEYS:
        while True:
            entry = await store.get(key)
            n = entry.state["n"] if entry else 0
            if n >= target:
                break
            hook("before_put")
            await store.put(key, {"n": n + 1}, expected=entry, events=[draft(Counted, key=key, n=n + 1)])
            hook("after_put")
            await asyncio.sleep(0.002)  # let the relay interleave with the writes
    # Wait until the relay has published and acked every revision.
    while True:
        info = await js.consumer_info(f"KV_{bucket}", f"outbox-relay-{bucket}")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    await relay.stop()
    await nc.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
