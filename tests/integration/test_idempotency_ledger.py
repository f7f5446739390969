"""The request ledger on a real nats-server: a key is claimed once, a repeat gets the first answer,
another payload under the same key is refused, a copy in flight waits for the first, a claim whose
replica died is taken over (recovering), and a key is new again after the retention period."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.runtime.clock import FakeClock
from services.runtime.idempotency import (
    Claim,
    IdempotencyKeyReused,
    Replay,
    RequestLedger,
    replayed,
    request_key,
)
from services.runtime.nats import ensure_kv


@pytest.fixture
async def ledger(nc):
    kv = await ensure_kv(nc.jetstream(), "test_requests", history=1)
    return RequestLedger(kv, FakeClock(), owner="replica-a", poll_s=0.01)


async def test_a_repeat_gets_the_first_reply_and_another_payload_is_refused(ledger):
    key = request_key("filing", "org-1", "SubmitFiling", "k-00000001")
    claim = await ledger.begin(key, "payload-1")
    assert isinstance(claim, Claim) and not claim.recovering
    await ledger.finish(claim, reply={"reception_number": "20270401-000001", "version": 1})
    again = await ledger.begin(key, "payload-1")
    assert again == Replay(reply={"reception_number": "20270401-000001", "version": 1})
    with pytest.raises(IdempotencyKeyReused):
        await ledger.begin(key, "payload-2")


async def test_a_stored_refusal_is_answered_again(ledger):
    key = request_key("auth", "officer01", "ReissueAuthId", "k-00000002")
    claim = await ledger.begin(key, "p")
    assert isinstance(claim, Claim)
    await ledger.finish(claim, error={"code": "not_found", "message": "対象が見つかりません。", "fields": [], "details": {}})
    replay = await ledger.begin(key, "p")
    assert isinstance(replay, Replay)
    assert replay.refusal().code == "not_found"


async def test_ten_copies_at_once_one_runs_the_others_get_its_reply(ledger):
    key = request_key("auth", "officer01", "ReissueAuthId", "k-00000003")
    runs = 0

    async def copy() -> dict:
        nonlocal runs
        begun = await ledger.begin(key, "p")
        if isinstance(begun, Replay):
            assert begun.reply is not None
            return begun.reply
        runs += 1
        await asyncio.sleep(0.05)  # the work, while the other copies wait
        await ledger.finish(begun, reply={"ok": True, "n": runs})
        return {"ok": True, "n": runs}

    replies = await asyncio.gather(*(copy() for _ in range(10)))
    assert runs == 1
    assert replies == [{"ok": True, "n": 1}] * 10


async def test_a_claim_whose_replica_died_is_taken_over_after_its_lease_with_what_it_reserved(ledger):
    key = request_key("filing", "org-1", "SubmitFiling", "k-00000004")
    first = await ledger.begin(key, "p")
    assert isinstance(first, Claim)
    assert await ledger.reserve(first, "reception_number", "20270401-000007") == "20270401-000007"
    # ... the replica dies here, before finishing ...
    ledger.clock.advance(ledger.lease + timedelta(seconds=1))  # type: ignore[attr-defined]
    taken = await ledger.begin(key, "p")
    assert isinstance(taken, Claim) and taken.recovering
    assert await ledger.reserve(taken, "reception_number", "20270401-000099") == "20270401-000007"


async def test_a_key_is_new_again_after_the_retention_period(ledger):
    key = request_key("auth", "org-1", "ChangeEmail", "k-00000005")
    claim = await ledger.begin(key, "p")
    assert isinstance(claim, Claim)
    await ledger.finish(claim, reply={"ok": True})
    ledger.clock.advance(ledger.retention - timedelta(seconds=1))  # type: ignore[attr-defined]
    assert isinstance(await ledger.begin(key, "p"), Replay)
    ledger.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    fresh = await ledger.begin(key, "another payload is fine now")
    assert isinstance(fresh, Claim) and not fresh.recovering


def test_a_change_that_happened_is_found_by_its_mark():
    marks = [{"key": "a", "reply": {"v": 1}}, {"key": "b", "reply": {"v": 2}}]
    assert replayed("b", marks) == {"v": 2}
    assert replayed("c", marks) is None
    assert replayed(None, marks) is None
