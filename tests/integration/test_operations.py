"""What an operator sees of a running suite (issue 18): counters that move by what happened,
readiness that follows NATS, the NATS service API, one trace id from a command to its mails."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import auth as a
from contracts import filing as f
from contracts.client import EnsClient
from contracts.notifier import DeliveryRecord, DeliveryStatus, QueryDeliveryLog
from contracts.organisations import OrganisationKind
from ens.embedded import free_port
from services.runtime import tracing
from services.runtime.clock import FakeClock
from services.runtime.host import Host
from tests.support import bus
from tests.support.story import officer_and_active_account
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)
OFFICER = "officer01"
ORG_PASSWORD = "Secret#123abc"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int, path: str = "/metrics") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"http://127.0.0.1:{port}{path}")


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def sent_mails(client: EnsClient, within: float = 30.0, **filters: str) -> list[DeliveryRecord]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        records = (await client.call(QueryDeliveryLog(**filters))).records  # type: ignore[arg-type]
        if records and all(r.status is DeliveryStatus.SENT for r in records):
            return records
        assert asyncio.get_running_loop().time() < deadline, records
        await asyncio.sleep(0.05)


@pytest.fixture
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    monkeypatch.setenv("ENS_SCHEDULER_TRIGGERS", "false")
    return mail_sink


@pytest.fixture
async def suite(nats_url, smtp_env) -> AsyncIterator[Host]:
    async with running(
        ["auth", "filing", "notifier", "scheduler"], nats_url, clock=FakeClock(START), metrics_port=free_port()
    ) as host:
        yield host


async def active_organisation(client: EnsClient, clock: FakeClock) -> tuple[str, str]:
    """An officer registers an organisation, activated the next day; its (auth id, session)."""
    auth_id = f"org-{uuid.uuid4().hex[:8]}"
    organisation = a.Organisation(
        organisation_id="1000011000005", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社さくら"
    )
    await officer_and_active_account(
        client, clock, organisation=organisation, auth_id=auth_id, password=ORG_PASSWORD, email="tanto@sakura.example.jp"
    )
    session = (await client.call(a.Login(auth_id=auth_id, password=ORG_PASSWORD))).session_token
    return auth_id, session


def filing(session: str, n: int) -> f.SubmitFiling:
    person = f.Person(
        nationality="VNM",
        name_latin="NGUYEN VAN AN",
        sex=f.Sex.MALE,
        date_of_birth=date(1998, 4, 1),
        residence_card_number=f"AB{n:08d}CD",
        event_date=date(2027, 3, 30),
    )
    return f.SubmitFiling(session_token=session, kind=f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE, persons=[person])


async def test_counters_move_by_what_the_story_did_and_carry_no_personal_data(suite, client):
    port = suite.probe.port
    clock = suite.clock
    assert isinstance(clock, FakeClock)
    auth_id, session = await active_organisation(client, clock)
    before = samples((await scrape(port)).text)

    received = [(await client.call(filing(session, n))).filing.reception_number for n in range(3)]
    with pytest.raises(Exception):  # noqa: B017 - the refusal itself is not the point: its count is
        await client.call(a.Login(auth_id=auth_id, password="Wrong#password1"))
    for number in received:
        await sent_mails(client, reception_number=number)

    response = await scrape(port)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ens_commands_total", service="filing", command="SubmitFiling", outcome="ok") == 3
    assert moved("ens_commands_total", service="auth", command="Login", outcome="login_failed") == 1
    assert moved("ens_notifier_mails_total", mail_type="filing_submitted", status="sent") == 3
    assert moved("ens_outbox_events_published_total", bucket="filing_filings") == 3
    assert moved("ens_command_duration_seconds_count", service="filing", command="SubmitFiling") == 3
    assert moved("ens_notifier_smtp_attempt_duration_seconds_count", outcome="ok") == 3
    assert moved("ens_auth_password_hashes_total", operation="verify") == 1
    for service in ("auth", "filing", "notifier", "scheduler"):
        assert value(after, "ens_service_ready", service=service) == 1
    assert value(after, "ens_notifier_consumer_pending_events", consumer="notifier") == 0
    assert value(after, "ens_outbox_relay_lag_revisions", bucket="filing_filings") == 0
    assert any(name == "process_cpu_seconds_total" for name, _ in after)
    # Labels are closed sets: no auth ID, address, name or reception number anywhere.
    for needle in (auth_id, OFFICER, "@", "NGUYEN", *received):
        assert needle not in response.text

    assert (await scrape(port, "/healthz")).status_code == 200
    ready = await scrape(port, "/readyz")
    assert ready.status_code == 200 and ready.text.startswith("ready")
    assert "notifier fetch:notifier-events ok" in ready.text
    assert "filing consumer:KV_filing_filings/outbox-relay-filing_filings ok" in ready.text
    assert (await scrape(port, "/nothing")).status_code == 404


async def test_one_trace_id_goes_from_the_command_to_its_event_to_its_mail(suite, client, nc):
    clock = suite.clock
    assert isinstance(clock, FakeClock)
    _, session = await active_organisation(client, clock)
    trace_id = tracing.new_trace_id()
    reply = await nc.request(
        f.SubmitFiling.SUBJECT,
        filing(session, 7).model_dump_json().encode(),
        timeout=10,
        headers={"traceparent": f"00-{trace_id}-{'1' * 16}-01"},
    )
    number = json.loads(reply.data)["filing"]["reception_number"]
    (record,) = [r for r in await sent_mails(client, reception_number=number) if r.mail_type.value == "filing_submitted"]
    assert record.trace_id == trace_id

    js = nc.jetstream()
    sub = await js.subscribe(f.FilingSubmitted.SUBJECT, ordered_consumer=True)
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            if number in msg.data.decode():
                break
    finally:
        await sub.unsubscribe()
    assert tracing.from_headers(msg.headers) == trace_id

    from ens.commands.mail import log_text

    assert f"トレースID: {trace_id}" in log_text(await client.call(QueryDeliveryLog(reception_number=number)))


async def test_readyz_fails_while_nats_is_stopped_and_recovers_after(nats_server, smtp_env, client):
    port = free_port()
    async with running(["auth", "notifier"], nats_server.url, clock=FakeClock(START), metrics_port=port) as host:

        async def until(status: int, within: float = 60.0) -> str:
            deadline = asyncio.get_running_loop().time() + within
            while True:
                response = await scrape(port, "/readyz")
                if response.status_code == status:
                    return response.text
                assert asyncio.get_running_loop().time() < deadline, response.text
                await asyncio.sleep(0.1)

        await until(200)
        st = await client.status("notifier")
        assert st.ready is True and st.metrics_port == port and st.checks and all(c.ok for c in st.checks)

        await asyncio.to_thread(nats_server.stop)
        down = await until(503)
        assert "notifier nats FAIL" in down and "auth nats FAIL" in down
        assert (await scrape(port, "/healthz")).status_code == 200  # alive, only not ready
        notifier = next(s for s in host.services if s.name == "notifier")
        assert not any(c.ok for c in await host.readiness(notifier) if c.name == "nats")

        await asyncio.to_thread(nats_server.start)
        await until(200)
        mails = await scrape(port)
        assert value(samples(mails.text), "ens_service_ready", service="notifier") == 1


async def test_a_plain_nats_client_lists_the_services_through_the_micro_protocol(nats_url, smtp_env, client):
    async with running(["auth", "filing", "notifier", "scheduler"], nats_url, clock=FakeClock(START)):
        with pytest.raises(Exception):  # noqa: B017 - a refused login still counts as a request
            await client.call(a.Login(auth_id="nobody-here", password="Wrong#password1"))
        nc = await bus.connect_as(nats_url, "operator")
        try:
            pings = await gather(nc, "$SRV.PING", want=4)
            assert sorted(p["name"] for p in pings) == ["ens-auth", "ens-filing", "ens-notifier", "ens-scheduler"]
            assert all(p["type"] == "io.nats.micro.v1.ping_response" for p in pings)

            (info,) = await gather(nc, "$SRV.INFO.ens-filing", want=1)
            endpoints = {e["name"]: e for e in info["endpoints"]}
            assert endpoints["SubmitFiling"]["subject"] == f.SubmitFiling.SUBJECT
            assert endpoints["SubmitFiling"]["queue_group"] == "ens-filing"

            (stats,) = await gather(nc, "$SRV.STATS.ens-auth", want=1)
            login = next(e for e in stats["endpoints"] if e["name"] == "Login")
            assert login["num_requests"] >= 1 and login["num_errors"] >= 1
        finally:
            await nc.close()


async def gather(nc, subject: str, *, want: int, wait: float = 10.0) -> list[dict]:
    """Scatter-gather: publish once, collect replies until `want` came (a bound, not a sleep)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(subject, b"", reply=inbox)
        await nc.flush()
        out: list[dict] = []
        deadline = asyncio.get_running_loop().time() + wait
        while len(out) < want:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except Exception:
                break
            out.append(json.loads(msg.data))
        return out
    finally:
        await sub.unsubscribe()
