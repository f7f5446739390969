"""Two auth replicas on one NATS (two Hosts, one queue group): concurrent logins and password
changes for the same accounts lose no update and never count a failure twice (compare-and-set)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from contextlib import AsyncExitStack

import pytest

from contracts import auth as c
from contracts.client import CommandRefused, EnsClient
from contracts.common import ErrorCode
from services.auth.app import AuthService
from services.auth.settings import AuthSettings
from services.runtime.clock import FakeClock
from services.runtime.keys import encode_key
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.integration.test_auth_lifecycle import ORG_PW, START, events, make_officer, register
from tests.support.suite import running

WRONG = "Wrong#999zz"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def two_replicas(stack: AsyncExitStack, nats_url: str, clock: FakeClock, **auth: object) -> list:
    hosts = []
    for _ in range(2):
        service = AuthService(RuntimeSettings(nats_url=nats_url), AuthSettings(operator_token=TEST_OPERATOR_TOKEN, **auth), clock)
        hosts.append(await stack.enter_async_context(running(None, nats_url, clock=clock, services=[service])))
    return hosts


async def stored(nc, auth_id: str) -> dict:
    kv = await nc.jetstream().key_value("auth_accounts")
    return json.loads((await kv.get(encode_key(auth_id))).value)


async def outcome(coro) -> str:
    try:
        await coro
    except CommandRefused as exc:
        return str(exc.code)
    return "ok"


async def activate(client: EnsClient, clock: FakeClock, officer: str, accounts: dict[str, str]) -> None:
    """Register {auth_id: organisation_id} and run the next-day batch at 09:00 JST."""
    for auth_id, org_id in accounts.items():
        reg = await register(client, officer, auth_id=auth_id, org_id=org_id)
    clock.set(START.replace(day=reg.effective_on.day, hour=0))
    await client.call(c.ActivateDueRegistrations(as_of=clock.now()))


async def test_200_concurrent_failures_lock_after_exactly_five(nats_url, nc, clock):
    client = EnsClient(nc, timeout=120)
    async with AsyncExitStack() as stack:
        await two_replicas(stack, nats_url, clock)
        officer = await make_officer(client)
        await activate(client, clock, officer, {"org-user1": "1180301018771"})
        results = Counter(
            await asyncio.gather(*(outcome(client.call(c.Login(auth_id="org-user1", password=WRONG))) for _ in range(200)))
        )
        doc = await stored(nc, "org-user1")
        locked = [e for e in await events(nc) if e["subject"] == c.AccountLocked.SUBJECT]
    assert results == {ErrorCode.LOGIN_FAILED: 5, ErrorCode.ACCOUNT_LOCKED: 195}
    assert doc["state"]["failed_logins"] == 5 and doc["state"]["locked_until"]
    assert len(locked) == 1


async def test_concurrent_logins_and_password_changes_on_two_replicas_lose_no_update(nats_url, nc, clock):
    client = EnsClient(nc, timeout=120)
    async with AsyncExitStack() as stack:
        await two_replicas(stack, nats_url, clock, lockout_threshold=1000)
        officer = await make_officer(client)
        await activate(client, clock, officer, {"org-aaaa1": "1180301018771", "org-bbbb1": "TOKYO-0001"})
        session = (await client.call(c.Login(auth_id="org-bbbb1", password=ORG_PW))).session_token
        before_a, before_b = await stored(nc, "org-aaaa1"), await stored(nc, "org-bbbb1")
        new_passwords = [f"New#{i:03d}pass" for i in range(50)]

        failures_a = [client.call(c.Login(auth_id="org-aaaa1", password=WRONG)) for _ in range(100)]
        changes_b = [
            client.call(c.ChangePassword(session_token=session, current_password=ORG_PW, new_password=p)) for p in new_passwords
        ]
        # Wrong for the old and every new password: each one is a counted failure (one write).
        logins_b = [client.call(c.Login(auth_id="org-bbbb1", password=WRONG)) for _ in range(50)]
        jobs = failures_a + changes_b + logins_b
        order = list(range(len(jobs)))
        order = order[::2] + order[1::2]  # interleave the kinds
        results = dict(zip(order, await asyncio.gather(*(outcome(jobs[i]) for i in order)), strict=True))
        after_a, after_b = await stored(nc, "org-aaaa1"), await stored(nc, "org-bbbb1")
        changed = [e for e in await events(nc) if e["subject"] == c.PasswordChanged.SUBJECT]

        a = Counter(results[i] for i in range(100))
        change = [results[100 + i] for i in range(50)]
        login = Counter(results[150 + i] for i in range(50))
        winner = new_passwords[change.index("ok")]
        # The surviving password is the one whose change was acknowledged.
        await client.call(c.Login(auth_id="org-bbbb1", password=winner))

    # Every failure counted exactly once: 100 replies, 100 increments, 100 writes.
    assert a == {ErrorCode.LOGIN_FAILED: 100}
    assert after_a["state"]["failed_logins"] == 100
    assert after_a["v"] - before_a["v"] == 100
    # Exactly one change wins (the others no longer know the current password); no write lost:
    # each of the 50 failures and the change is one version of the entry, and the change
    # survived the concurrent failure writes (the winner's password works).
    assert change.count("ok") == 1 and Counter(change)[ErrorCode.VALIDATION] == 49
    assert login == {ErrorCode.LOGIN_FAILED: 50}
    assert after_b["v"] - before_b["v"] == 1 + 50
    assert len(changed) == 1
