"""The ledger on a real JetStream KV bucket: one claim wins, leases expire, results are
compare-and-set, and queries find exactly their records even for IDs full of subject symbols."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from contracts.notifier import DeliveryStatus, MailType
from services.notifier.adapters.ledger_kv import BUCKET, KvLedger, installation_id
from services.notifier.domain.ledger import ClaimOutcome
from services.notifier.domain.routing import MailRequest
from services.runtime.nats import ensure_kv

NOW = datetime(2027, 4, 1, tzinfo=UTC)
LEASE = timedelta(seconds=90)


def mail(
    event_id: str = "auth.accounts.x.1.0",
    auth_id: str | None = "org-1",
    recipient: str = "a@example.jp",
    reception_number: str | None = None,
    mail_type: MailType = MailType.PASSWORD_CHANGED,
) -> MailRequest:
    return MailRequest(
        event_id=event_id,
        mail_type=mail_type,
        recipient=recipient,
        context={},
        auth_id=auth_id,
        reception_number=reception_number,
    )


async def ledger(nc) -> KvLedger:
    return KvLedger(await ensure_kv(nc.jetstream(), BUCKET, history=8), nc.jetstream())


async def test_of_ten_workers_claiming_one_mail_at_once_exactly_one_may_send(nc):
    kv = await ledger(nc)
    claims = await asyncio.gather(*(kv.claim(mail(), now=NOW, owner=f"w{i}", lease=LEASE) for i in range(10)))
    outcomes = sorted(c.outcome for c in claims)
    assert outcomes.count(ClaimOutcome.NEW) == 1 and outcomes.count(ClaimOutcome.BUSY) == 9
    assert all(c.busy_until == NOW + LEASE for c in claims if c.outcome is ClaimOutcome.BUSY)


async def test_a_recorded_mail_is_done_and_an_expired_lease_is_taken_over_once(nc):
    kv = await ledger(nc)
    m = mail(event_id="e.2")
    first = await kv.claim(m, now=NOW, owner="dead", lease=LEASE)
    later = NOW + LEASE + timedelta(seconds=1)
    taken = await asyncio.gather(*(kv.claim(m, now=later, owner=f"w{i}", lease=LEASE) for i in range(5)))
    assert [c.outcome for c in taken].count(ClaimOutcome.RESUMED) == 1
    winner = next(c for c in taken if c.outcome is ClaimOutcome.RESUMED)
    # The dead worker's late result loses the compare-and-set; the winner's stands.
    assert not await kv.record(m, first, first.record.model_copy(update={"status": DeliveryStatus.SENT}))
    sent = winner.record.model_copy(update={"status": DeliveryStatus.SENT, "attempts": 1, "smtp_code": 250})
    assert await kv.record(m, winner, sent)
    again = await kv.claim(m, now=later, owner="w9", lease=LEASE)
    assert again.outcome is ClaimOutcome.DONE and again.record.smtp_code == 250


async def test_queries_match_whole_values_even_when_ids_hold_subject_symbols(nc):
    kv = await ledger(nc)
    tricky = ["org.*", "org.>", "org", "org.a", "*", ">"]
    for i, auth_id in enumerate(tricky):
        await kv.claim(
            mail(event_id=f"e.{i}", auth_id=auth_id, recipient=f"u{i}@example.jp", reception_number=f"R{i}" if i % 2 else None),
            now=NOW + timedelta(minutes=i),
            owner="w",
            lease=LEASE,
        )
    for i, auth_id in enumerate(tricky):
        found = await kv.query(auth_id=auth_id)
        assert [r.recipient for r in found] == [f"u{i}@example.jp"], auth_id
    assert [r.auth_id for r in await kv.query(reception_number="R3")] == ["org.a"]
    assert [r.auth_id for r in await kv.query(recipient="u4@example.jp")] == ["*"]
    assert await kv.query(auth_id="org.*", recipient="u1@example.jp") == []
    everything = await kv.query(recipient="u5@example.jp", limit=1)
    assert len(everything) == 1 and everything[0].mail_id == mail(event_id="e.5", auth_id=">", recipient="u5@example.jp").mail_id
    assert await kv.query(mail_id="not-a-mail-id.*") == []


async def test_newest_first_and_the_limit(nc):
    kv = await ledger(nc)
    for i in range(5):
        await kv.claim(mail(event_id=f"n.{i}", auth_id="many"), now=NOW + timedelta(hours=i), owner="w", lease=LEASE)
    got = await kv.query(auth_id="many", limit=3)
    assert [r.event_id for r in got] == ["n.4", "n.3", "n.2"]


async def test_the_ledger_bucket_keeps_records_for_the_configured_days_only(nats_url, nc, clock, monkeypatch):
    from tests.support.suite import running

    monkeypatch.setenv("ENS_NOTIFIER_LOG_KEEP_DAYS", "45")
    async with running(["notifier"], nats_url, clock=clock):
        info = await nc.jetstream().stream_info(f"KV_{BUCKET}")
    assert info.config.max_age == 45 * 86400 and info.config.max_msgs_per_subject == 8


async def test_a_query_racing_with_updates_lists_each_mail_once_in_its_latest_state(nc):
    kv = await ledger(nc)
    mails = [mail(event_id=f"race.{i}", auth_id="racer", recipient=f"r{i}@example.jp") for i in range(40)]
    claims = [await kv.claim(m, now=NOW, owner="w", lease=LEASE) for m in mails]

    async def churn() -> None:
        # Each record moves queued -> retrying -> ... while the queries read the bucket.
        current = list(claims)
        for attempt in range(1, 6):
            for i, (m, c) in enumerate(zip(mails, current, strict=True)):
                rec = c.record.model_copy(update={"status": DeliveryStatus.RETRYING, "attempts": attempt})
                await kv.record(m, c, rec)
                current[i] = await kv.claim(m, now=NOW + LEASE * attempt * 2, owner=f"w{attempt}", lease=LEASE)

    churner = asyncio.create_task(churn())
    try:
        while not churner.done():
            records = await kv.query(auth_id="racer", limit=1000)
            ids = [r.mail_id for r in records]
            assert len(ids) == len(set(ids)), "a mail listed twice"
            assert len(ids) == len(mails)
    finally:
        await churner


async def test_the_installation_id_is_made_once_kept_across_restarts_and_not_shared_by_another_bucket(nc):
    js = nc.jetstream()
    kv = await ensure_kv(js, BUCKET, history=8)
    first = await asyncio.gather(*(installation_id(kv) for _ in range(5)))  # replicas starting together
    assert len(set(first)) == 1 and len(first[0]) == 16
    assert await installation_id(await ensure_kv(js, BUCKET, history=8)) == first[0]  # a restart
    other = await ensure_kv(js, "notifier_ledger_other_installation", history=8)
    assert await installation_id(other) != first[0]
