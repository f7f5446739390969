"""The account lifecycle over a real nats-server, time moved by a FakeClock (SPEC §1)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from contracts import auth as c
from contracts.client import CommandRefused
from contracts.common import ErrorCode
from contracts.organisations import OrganisationKind, Role
from services.runtime.clock import FakeClock
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support.suite import running

# 2027-04-01 10:00 JST
START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)
OFFICER_PW = "Officer#2027x"
ORG_PW = "Secret#123abc"
CORP = "1180301018771"  # a real corporate number (check digit 1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def make_officer(client, auth_id: str = "officer01") -> str:
    await client.call(
        c.CreateOfficer(
            operator_token=TEST_OPERATOR_TOKEN,
            auth_id=auth_id,
            password=OFFICER_PW,
            name="審査 太郎",
            email="officer@example.go.jp",
        )
    )
    reply = await client.call(c.Login(auth_id=auth_id, password=OFFICER_PW))
    return reply.session_token


def org(org_id: str = CORP, name: str = "株式会社テスト") -> c.Organisation:
    return c.Organisation(organisation_id=org_id, kind=OrganisationKind.ACCEPTING_ORGANISATION, name=name)


async def register(client, officer: str, auth_id: str = "org-user1", org_id: str = CORP, email: str = "org@example.jp"):
    return await client.call(
        c.RegisterAccount(session_token=officer, organisation=org(org_id), auth_id=auth_id, initial_password=ORG_PW, email=email)
    )


async def refused(coro) -> CommandRefused:
    with pytest.raises(CommandRefused) as err:
        await coro
    return err.value


async def events(nc, subject: str = "ens.v1.events.auth.>", wait: float = 5.0) -> list[dict]:
    """Every auth event in the stream so far (waiting briefly for the relay to publish)."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(subject, stream="ENS_EVENTS")
    out = []
    try:
        while True:
            try:
                msgs = await sub.fetch(256, timeout=wait if not out else 0.5)
            except Exception:
                break
            for m in msgs:
                out.append({"subject": m.subject, **json.loads(m.data)})
                await m.ack()
    finally:
        await sub.unsubscribe()
    return out


async def test_registration_takes_effect_at_the_next_day_batch_and_mails_once(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        reg = await register(client, officer)
        assert str(reg.effective_on) == "2027-04-02"

        pending = await refused(client.call(c.Login(auth_id="org-user1", password=ORG_PW)))
        assert pending.code == ErrorCode.REGISTRATION_PENDING

        # 2027-04-02 08:59 JST: the day has come but not the batch time.
        clock.set(datetime(2027, 4, 1, 23, 59, tzinfo=UTC))
        early = await client.call(c.ActivateDueRegistrations(as_of=clock.now()))
        assert early.changed == 0
        clock.set(datetime(2027, 4, 2, 0, 0, tzinfo=UTC))  # 09:00 JST
        first = await client.call(c.ActivateDueRegistrations(as_of=clock.now()))
        again = await client.call(c.ActivateDueRegistrations(as_of=clock.now()))
        assert (first.changed, again.changed) == (1, 0)

        session = await client.call(c.Login(auth_id="org-user1", password=ORG_PW))
        assert session.role == Role.ORGANISATION and session.organisation.organisation_id == CORP
        info = await client.call(c.IntrospectSession(session_token=session.session_token))
        assert info.active and info.auth_id == "org-user1" and info.email == "org@example.jp"
        assert info.organisation.organisation_id == CORP and info.role == Role.ORGANISATION

        seen = await events(nc)
    activated = [e for e in seen if e["subject"] == c.AccountActivated.SUBJECT]
    assert len(activated) == 1 and activated[0]["email"] == "org@example.jp"
    assert [e["subject"] for e in seen].count(c.AccountRegistered.SUBJECT) == 1


async def test_one_valid_account_per_organisation_and_auth_ids_are_never_reused(nats_url, client, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        await register(client, officer)
        second = await refused(register(client, officer, auth_id="org-user2"))
        assert second.code == ErrorCode.CONFLICT
        assert second.error.fields[0].field == "organisation.organisation_id"

        await client.call(c.Deregister(session_token=officer, auth_id="org-user1"))
        # The organisation may register again, but never with the old auth ID.
        reused = await refused(register(client, officer, auth_id="org-user1"))
        assert reused.code == ErrorCode.CONFLICT and reused.error.fields[0].field == "auth_id"
        officer_id = await refused(register(client, officer, auth_id="officer01"))
        assert officer_id.code == ErrorCode.CONFLICT
        await register(client, officer, auth_id="org-user2")
        view = await client.call(c.GetAccount(session_token=officer, organisation_id=CORP))
        assert view.account.auth_id == "org-user2" and view.account.status == "pending"


async def test_concurrent_registrations_for_one_organisation_leave_exactly_one(nats_url, client, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        results = await asyncio.gather(
            *(register(client, officer, auth_id=f"race-user{i}") for i in range(8)), return_exceptions=True
        )
    ok = [r for r in results if isinstance(r, c.AccountRegistration)]
    assert len(ok) == 1
    assert all(isinstance(r, CommandRefused) and r.code == ErrorCode.CONFLICT for r in results if r not in ok)
