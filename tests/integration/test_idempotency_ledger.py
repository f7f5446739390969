"""The request ledger on a real nats-server: a key is claimed once, a repeat gets the first answer,
another payload under the same key is refused, a copy in flight waits for the first, a claim whose
replica died is taken over (recovering), and a key is new again after the retention period."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.runtime.clock import FakeClock
from services.runtime.idempotency import (
    IN_FLIGHT,
    AlreadyApplied,
    Claim,
    IdempotencyKeyReused,
    InFlight,
    Replay,
    RequestLedger,
    request_key,
)
from services.runtime.nats import ensure_kv
from services.runtime.outbox import KvStore, StaleRevision


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


@pytest.fixture
async def store(nc):
    kv = await ensure_kv(nc.jetstream(), "test_entities", history=8)
    return KvStore(kv, bucket="test_entities", clock=FakeClock(), commits=True)


async def test_a_change_records_its_request_and_a_later_copy_of_that_request_finds_it(store):
    token = IN_FLIGHT.set(InFlight("request-a", timedelta(hours=24)))
    try:
        written = await store.put("e1", {"n": 1}, expected=None)
    finally:
        IN_FLIGHT.reset(token)
    assert [m["key"] for m in written.requests] == ["request-a"]
    assert (await store.get("e1")) is not None  # outside the request: an ordinary read
    token = IN_FLIGHT.set(InFlight("request-b", timedelta(hours=24)))
    try:
        entry = await store.get("e1")  # another request: not its change
        assert entry is not None
        second = await store.put("e1", {"n": 2}, expected=entry)
    finally:
        IN_FLIGHT.reset(token)
    assert [m["key"] for m in second.requests] == ["request-a", "request-b"]  # marks ride along
    token = IN_FLIGHT.set(InFlight("request-a", timedelta(hours=24)))
    try:
        with pytest.raises(AlreadyApplied) as found:
            await store.get("e1")
        assert found.value.state == {"n": 2} and found.value.version == 2
    finally:
        IN_FLIGHT.reset(token)


async def test_a_copy_that_creates_the_entity_again_learns_its_change_happened(store):
    token = IN_FLIGHT.set(InFlight("request-c", timedelta(hours=24)))
    try:
        await store.put("e2", {"reception_number": "20270401-000007"}, expected=None)
        with pytest.raises(AlreadyApplied):
            await store.put("e2", {"reception_number": "20270401-000007"}, expected=None)
    finally:
        IN_FLIGHT.reset(token)
    token = IN_FLIGHT.set(InFlight("request-d", timedelta(hours=24)))
    try:
        with pytest.raises(StaleRevision):  # another request creating the same key: a plain conflict
            await store.put("e2", {}, expected=None)
    finally:
        IN_FLIGHT.reset(token)


async def test_a_mark_older_than_the_retention_no_longer_counts(store):
    token = IN_FLIGHT.set(InFlight("request-e", timedelta(hours=24)))
    try:
        await store.put("e3", {"n": 1}, expected=None)
        store._clock.advance(timedelta(hours=24))  # type: ignore[attr-defined]
        assert (await store.get("e3")) is not None  # the key is new again: so is its command
    finally:
        IN_FLIGHT.reset(token)
