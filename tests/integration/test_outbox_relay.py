"""The relay on a real nats-server: it publishes recorded events once, and it stops promptly."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from contracts.common import Event
from services.runtime.clock import FakeClock
from services.runtime.nats import ensure_kv, ensure_shared_streams
from services.runtime.outbox import OutboxRelay, OutboxStore, StaleRevision, draft
from services.runtime.settings import RuntimeSettings
from tests.support import bus


class Noted(Event):
    SUBJECT: ClassVar[str] = "ens.v1.events.test.noted"
    n: int


async def _store(url: str, bucket: str):
    nc = await bus.connect_as(url, "admin")
    js = nc.jetstream()
    await ensure_shared_streams(js, RuntimeSettings(nats_url=url))
    kv = await ensure_kv(js, bucket, history=64)
    return nc, js, OutboxStore(kv, js=js, source="test", bucket=bucket, clock=FakeClock())


async def test_a_write_based_on_an_old_revision_is_refused_and_records_nothing(nats_url):
    nc, _, store = await _store(nats_url, "cas")
    first = await store.put("k", {"n": 1}, expected=None, events=[draft(Noted, n=1)])
    await store.put("k", {"n": 2}, expected=first, events=[draft(Noted, n=2)])
    try:
        await store.put("k", {"n": 3}, expected=first, events=[draft(Noted, n=3)])
        raise AssertionError("stale write accepted")
    except StaleRevision:
        pass
    try:
        await store.put("k", {"n": 9}, expected=None)
        raise AssertionError("second create accepted")
    except StaleRevision:
        pass
    current = await store.get("k")
    assert current is not None and current.state == {"n": 2} and current.version == 2
    assert [e["data"]["n"] for e in current.events] == [1, 2]
    await nc.close()


async def test_relay_stops_within_seconds_even_after_its_connection_closed(nats_url):
    nc, js, _ = await _store(nats_url, "stopper")
    relay = OutboxRelay(js, "stopper")
    await relay.start()
    await asyncio.sleep(0.1)  # let it enter a fetch
    await nc.close()
    started = time.monotonic()
    await relay.stop()
    assert time.monotonic() - started < 20  # a hang would be forever; 20 s is only a bound


async def test_relay_publishes_each_recorded_event_once_though_later_revisions_carry_it(nats_url):
    nc, js, store = await _store(nats_url, "carry")
    entry = await store.put("k", {"n": 1}, expected=None, events=[draft(Noted, n=1)])
    for n in range(2, 6):  # later writes carry event 1 (and each other) along
        entry = await store.put("k", {"n": n}, expected=entry, events=[draft(Noted, n=n)])
    assert len(entry.events) == 5
    relay = OutboxRelay(js, "carry", batch=1)  # one revision per batch: 15 recorded copies in all
    await relay.start()
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while relay.published < 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        info = await js.consumer_info("KV_carry", "outbox-relay-carry")
        while (info.num_pending or info.num_ack_pending) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            info = await js.consumer_info("KV_carry", "outbox-relay-carry")
    finally:
        await relay.stop()
    stream = await js.stream_info("ENS_EVENTS", subjects_filter=Noted.SUBJECT)
    assert (stream.state.subjects or {}).get(Noted.SUBJECT) == 5
    assert relay.published == 5
    assert relay.publish_calls == 5  # not 15: copies it already published are not sent again
    await nc.close()
