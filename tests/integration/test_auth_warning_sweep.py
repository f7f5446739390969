"""How far the password-expiry warning job got is kept with auth's due markers (auth_index,
`sweep.<job>`) on a real nats-server: a restarted auth (another process on the same bucket)
starts from the last finished run instead of reading the whole 31-day window again, and two
replicas finishing at once keep the later day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from contracts import auth as a
from services.auth.adapters.kv import INDEX, KvDueIndex
from services.auth.ports import Swept
from services.runtime.clock import FakeClock
from services.runtime.nats import ensure_kv
from tests.support import bus
from tests.support.suite import running


async def test_the_sweep_survives_a_restart_and_never_moves_back(nats_url, client):
    clock = FakeClock(datetime(2027, 4, 1, 0, 0, tzinfo=UTC))  # 09:00 JST
    async with running(["auth"], nats_url, clock=clock):
        first = await client.call(a.SendPasswordExpiryWarnings(as_of=clock.now(), days_before=[30, 7]))
        assert first.processed == 0
    admin = await bus.connect_as(nats_url, "admin")
    try:
        index = KvDueIndex(await ensure_kv(admin.jetstream(), INDEX, history=1, replicas=1), admin.jetstream())
        assert await index.swept("password_expiry_warnings") == Swept(date(2027, 4, 1), (7, 30))
        # Another replica that finished an earlier day later does not move it back.
        await index.set_swept("password_expiry_warnings", Swept(date(2027, 3, 31), (7, 30)))
        assert await index.swept("password_expiry_warnings") == Swept(date(2027, 4, 1), (7, 30))
        scanned: list[date | None] = []
        clock.set(datetime(2027, 4, 2, 0, 0, tzinfo=UTC))
        async with running(["auth"], nats_url, clock=clock) as host:  # a new process on the same store
            index_of_service = host.services[0].deps.index  # type: ignore[attr-defined]
            inner = index_of_service.scan

            async def counting(kind, day=None):  # type: ignore[no-untyped-def]
                scanned.append(day)
                return await inner(kind, day)

            index_of_service.scan = counting
            await client.call(a.SendPasswordExpiryWarnings(as_of=clock.now(), days_before=[30, 7]))
        assert scanned == [date(2027, 4, 10), date(2027, 5, 3)]  # one marker day per threshold, not 31
        assert await index.swept("password_expiry_warnings") == Swept(date(2027, 4, 2), (7, 30))
    finally:
        await admin.close()
