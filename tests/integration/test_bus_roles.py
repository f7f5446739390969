"""The bus as a trust boundary, on a real nats-server with the generated configuration: each
role can do what it is for, and a sample of what it must not do is refused by NATS itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as Nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts import auth as a
from contracts import notifier as n
from contracts import scheduler as sc
from contracts import subjects
from contracts.client import EnsClient
from contracts.common import EventMeta
from contracts.organisations import OrganisationKind
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings
from tests.support.suite import running

FORGED = a.AuthIdReissued(
    meta=EventMeta(event_id="forged-1", occurred_at=datetime(2027, 4, 1, tzinfo=UTC), source="auth"),
    auth_id="victim-01",
    organisation=a.Organisation(
        organisation_id="1234567890123",
        kind=OrganisationKind.ACCEPTING_ORGANISATION,
        name="至急：パスワード再設定 http://evil.example/login",
    ),
    email="victim@example.jp",
)


class Recorder:
    """A connection as one identity that keeps the server's asynchronous errors (permission
    violations arrive that way, not as exceptions of the publish)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: Nats | None = None

    async def open(self, url: str, identity: str) -> Nats:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        self.nc = await connect_as(RuntimeSettings(nats_url=url), identity, error_cb=on_error)
        return self.nc

    def violations(self) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e.lower()]


async def refused(rec: Recorder, action: Callable[[], Awaitable[object]]) -> None:
    """The action fails (timeout, no responders, JetStream error) and NATS reports a violation."""
    before = len(rec.violations())
    with pytest.raises((TimeoutError, nats.errors.Error, nats.js.errors.Error)):
        await asyncio.wait_for(action(), timeout=2)
    assert rec.nc is not None
    await rec.nc.flush(timeout=2)
    for _ in range(40):  # the -ERR line may trail the failed request by a moment
        if len(rec.violations()) > before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no permissions violation reported; errors: {rec.errors}")


async def refused_subscription(rec: Recorder, subject: str, queue: str = "") -> None:
    assert rec.nc is not None
    before = len(rec.violations())
    await rec.nc.subscribe(subject, queue=queue)
    await rec.nc.flush(timeout=2)
    for _ in range(40):
        if len(rec.violations()) > before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"subscription to {subject} was not refused; errors: {rec.errors}")


async def events_count(nc: Nats) -> int:
    info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM)
    return int(info.state.messages)


async def test_an_anonymous_connection_is_refused(nats_url):
    async def quiet(_: Exception) -> None:
        pass

    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(nats_url, allow_reconnect=False, connect_timeout=2, error_cb=quiet)


@pytest.mark.parametrize("identity", ["client", "events-reader", "operator"])
async def test_an_outsider_cannot_forge_an_event_or_read_a_services_bucket(nats_url, nc, identity):
    async with running(["auth"], nats_url):
        events_before = await events_count(nc)
        rec = Recorder()
        outsider = await rec.open(nats_url, identity)
        js = outsider.jetstream(timeout=1)
        try:
            await refused(rec, lambda: js.publish(FORGED.SUBJECT, FORGED.model_dump_json().encode()))
            await refused(rec, lambda: js.key_value("auth_accounts"))
            await refused(rec, lambda: outsider.request("$KV.auth_accounts.victim-01", b"{}", timeout=1))
            await refused(rec, lambda: js.delete_stream(subjects.EVENTS_STREAM))
            await refused(rec, lambda: js.purge_stream(subjects.AUDIT_STREAM))
            await refused_subscription(rec, f"{subjects.ROOT}.auth.>")  # passwords of others' logins
            await refused_subscription(rec, f"{subjects.ROOT}.auth.login", queue="ens-auth")  # answering them
            await refused_subscription(rec, "_INBOX.>")  # others' replies (session tokens)
            await refused_subscription(rec, "_INBOX_client.>" if identity != "client" else "_INBOX_operator.>")
        finally:
            await outsider.close()
        assert await events_count(nc) == events_before


async def test_a_client_calls_public_commands_but_not_system_ones_nor_the_delivery_log(nats_url):
    async with running(["auth", "notifier", "scheduler"], nats_url):
        rec = Recorder()
        nc = await rec.open(nats_url, "client")
        client = EnsClient(nc, timeout=2)
        try:
            with pytest.raises(Exception) as refusal:
                await client.call(a.Login(auth_id="nobody-here", password="Wrong#pass1"))
            assert getattr(refusal.value, "code", None) == "login_failed"  # answered: the subject is open to clients
            assert (await client.status("auth")).service == "auth"
            now = datetime(2099, 1, 1, tzinfo=UTC)
            await refused(
                rec,
                lambda: nc.request(
                    a.ExpireIdleAccounts.SUBJECT, a.ExpireIdleAccounts(as_of=now).model_dump_json().encode(), timeout=1
                ),
            )
            await refused(rec, lambda: nc.request(n.QueryDeliveryLog.SUBJECT, b'{"auth_id": "victim-01"}', timeout=1))
            await refused(rec, lambda: nc.request(sc.ListJobs.SUBJECT, b"{}", timeout=1))
        finally:
            await nc.close()


async def test_an_operator_runs_jobs_and_reads_the_delivery_log(nats_url):
    async with running(["auth", "notifier", "scheduler"], nats_url):
        rec = Recorder()
        nc = await rec.open(nats_url, "operator")
        client = EnsClient(nc, timeout=5)
        try:
            assert (await client.call(sc.ListJobs())).jobs
            assert (await client.call(n.QueryDeliveryLog(auth_id="nobody-here"))).records == []
            await refused(rec, lambda: nc.jetstream(timeout=1).delete_stream(subjects.AUDIT_STREAM))
        finally:
            await nc.close()


async def test_an_events_reader_follows_the_event_stream_with_its_own_durable_consumer(nats_url, nc):
    async with running(["auth"], nats_url):
        js_admin = nc.jetstream()
        await js_admin.publish(FORGED.SUBJECT, FORGED.model_dump_json().encode())  # stands in for a real event
        rec = Recorder()
        reader = await rec.open(nats_url, "events-reader")
        try:
            js = reader.jetstream(timeout=2)
            sub = await js.pull_subscribe(
                f"{subjects.EVENTS_PREFIX}.>",
                durable="portal-1",
                stream=subjects.EVENTS_STREAM,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            )
            (msg,) = await sub.fetch(1, timeout=5)
            await msg.ack()
            assert json.loads(msg.data)["auth_id"] == "victim-01"
            await refused(rec, lambda: reader.request(a.Login.SUBJECT, b"{}", timeout=1))
            await refused(rec, lambda: js.publish(FORGED.SUBJECT, b"{}"))
        finally:
            await reader.close()


@pytest.mark.parametrize(
    ("identity", "other"),
    [("auth", "filing"), ("filing", "auth"), ("notifier", "auth"), ("scheduler", "filing")],
)
async def test_a_service_may_not_speak_for_another_or_touch_its_store(nats_url, identity, other):
    async with running(["auth", "filing"], nats_url):
        rec = Recorder()
        nc = await rec.open(nats_url, identity)
        js = nc.jetstream(timeout=1)
        other_bucket = {"auth": "auth_accounts", "filing": "filing_filings"}[other]
        try:
            await refused(rec, lambda: js.publish(f"{subjects.EVENTS_PREFIX}.{other}.forged", b"{}"))
            await refused(rec, lambda: js.key_value(other_bucket))
            await refused(rec, lambda: js.purge_stream(subjects.AUDIT_STREAM))
            await refused(rec, lambda: js.delete_stream(subjects.EVENTS_STREAM))
            await refused_subscription(rec, f"{subjects.ROOT}.{other}.>", queue=f"ens-{other}")
            if identity != "scheduler":
                await refused(rec, lambda: nc.request(f"{subjects.ROOT}.{other}.system.purge", b"{}", timeout=1))
        finally:
            await nc.close()


async def test_a_service_writes_its_own_bucket_and_publishes_its_own_events(nats_url, nc):
    async with running(["auth"], nats_url):
        auth = await connect_as(RuntimeSettings(nats_url=nats_url), "auth")
        try:
            js = auth.jetstream(timeout=5)
            kv = await js.key_value("auth_notices")
            await kv.put("probe", b"{}")
            ack = await js.publish(f"{subjects.EVENTS_PREFIX}.auth.probe", b"{}")
            assert ack.stream == subjects.EVENTS_STREAM
        finally:
            await auth.close()


async def test_the_audit_stream_cannot_be_purged_even_by_admin(nats_url, nc):
    async with running(["auth"], nats_url):
        with pytest.raises(nats.js.errors.Error):
            await nc.jetstream().purge_stream(subjects.AUDIT_STREAM)


async def test_every_service_owns_exactly_the_buckets_its_grant_names(nats_url):
    from services.runtime.identities import BUCKETS

    async with running(list(subjects.SERVICES), nats_url) as host:
        for service in host.services:
            owned = {o.removeprefix("kv:") for o in service.owns() if o.startswith("kv:")}
            if service.pipeline.requests is not None:  # type: ignore[attr-defined]
                owned.add(f"{service.name}_requests")  # the host opens the ledger of idempotency keys
            assert owned == set(BUCKETS[service.name]), service.name
