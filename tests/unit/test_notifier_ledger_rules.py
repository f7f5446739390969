"""The delivery rules with fakes (ledger in memory, a scripted mailer, a FakeClock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from contracts.notifier import DeliveryRecord, DeliveryStatus, MailType
from services.notifier.delivery import Deliverer, RetryLater, Settled
from services.notifier.domain.ledger import Claim, ClaimOutcome, Lease, decide, first_record
from services.notifier.domain.rendering import Renderer
from services.notifier.domain.retry import RetryPolicy
from services.notifier.domain.routing import MailRequest, mails_for
from services.notifier.ports import LedgerUnavailable, PermanentFailure, TemporaryFailure
from services.notifier.samples import sample_event
from services.notifier.settings import NotifierSettings
from services.runtime.clock import FakeClock
from tests.fakes.notifier import MemoryLedger, MemoryMails, ScriptedMailer

POLICY = RetryPolicy((60, 300, 1800, 7200), 6 * 3600, timedelta(days=3))


def deliverer(ledger, mailer, clock, lease=timedelta(seconds=90)):
    return Deliverer(
        ledger,
        mailer,
        Renderer(NotifierSettings()),
        clock,
        POLICY,
        sender="no-reply@ens.example.jp",
        lease=lease,
        instance="test",
    )


def test_the_default_backoff_is_1m_5m_30m_2h_then_every_6h_until_3_days():
    s = NotifierSettings()
    policy = RetryPolicy(s.retry_delays_s, s.retry_every_s, timedelta(seconds=s.give_up_after_s))
    assert [policy.delay(n) for n in range(1, 8)] == [60, 300, 1800, 7200, 21600, 21600, 21600]
    start = datetime(2027, 4, 1).astimezone()
    assert not policy.gives_up(start, start + timedelta(days=3) - timedelta(seconds=1))
    assert policy.gives_up(start, start + timedelta(days=3))


def test_an_unreachable_server_does_not_grow_the_wait_so_mails_follow_soon_after_it_returns():
    assert [POLICY.delay(n, server_answered=False) for n in (1, 4, 9)] == [60, 60, 60]


async def test_an_event_delivered_twice_sends_one_mail():
    ledger, mailer, clock = MemoryLedger(), ScriptedMailer(), FakeClock()
    d = deliverer(ledger, mailer, clock)
    event = sample_event(MailType.FILING_SUBMITTED)
    assert isinstance(await d.deliver_event(event), Settled)
    assert isinstance(await d.deliver_event(event), Settled)
    assert len(mailer.sent) == 1 and d.duplicates == 1


async def test_a_temporary_failure_asks_for_the_next_delay_and_records_retrying():
    ledger, clock = MemoryLedger(), FakeClock()
    mailer = ScriptedMailer([TemporaryFailure(451, "4.3.0 later"), TemporaryFailure(452, "4.3.1 full")])
    d = deliverer(ledger, mailer, clock)
    event = sample_event(MailType.PASSWORD_CHANGED)
    assert await d.deliver_event(event) == RetryLater(60)
    ((record, lease, _),) = ledger.entries.values()
    assert (record.status, record.attempts, record.smtp_code, lease) == (DeliveryStatus.RETRYING, 1, 451, None)
    assert record.next_attempt_at == clock.now() + timedelta(seconds=60)
    clock.advance(seconds=60)
    assert await d.deliver_event(event) == RetryLater(300)
    clock.advance(seconds=300)
    assert isinstance(await d.deliver_event(event), Settled)
    ((record, _, _),) = ledger.entries.values()
    assert (record.status, record.attempts, record.smtp_code) == (DeliveryStatus.SENT, 3, 250)
    assert len(mailer.sent) == 1


async def test_a_permanent_failure_is_recorded_failed_and_never_retried():
    ledger, clock = MemoryLedger(), FakeClock()
    mailer = ScriptedMailer([PermanentFailure(550, "5.1.1 unknown user")])
    d = deliverer(ledger, mailer, clock)
    event = sample_event(MailType.FILING_WITHDRAWN)
    assert isinstance(await d.deliver_event(event), Settled)
    assert isinstance(await d.deliver_event(event), Settled)
    ((record, _, _),) = ledger.entries.values()
    assert (record.status, record.attempts, record.smtp_code) == (DeliveryStatus.FAILED, 1, 550)
    assert mailer.attempts == 1


async def test_temporary_failures_for_three_days_end_as_failed():
    ledger, clock = MemoryLedger(), FakeClock()
    mailer = ScriptedMailer([TemporaryFailure(421, "busy")] * 100)
    d = deliverer(ledger, mailer, clock)
    event = sample_event(MailType.AUTH_ID_REISSUE)
    waited = 0.0
    while isinstance(outcome := await d.deliver_event(event), RetryLater):
        waited += outcome.delay
        clock.advance(seconds=outcome.delay)
    ((record, _, _),) = ledger.entries.values()
    assert record.status == DeliveryStatus.FAILED and waited >= 3 * 86400
    assert record.attempts == 4 + 12 + 1  # four early retries, 6-hourly ones up to 3 days, the last


async def test_a_live_claim_of_another_worker_makes_this_one_wait_for_its_lease():
    ledger, mailer, clock = MemoryLedger(), ScriptedMailer(), FakeClock()
    mail = mails_for(sample_event(MailType.FILING_CHANGED))[0]
    other = await ledger.claim(mail, now=clock.now(), owner="other/1", lease=timedelta(seconds=90))
    assert other.outcome is ClaimOutcome.NEW
    d = deliverer(ledger, mailer, clock)
    clock.advance(seconds=30)
    assert await d.deliver(mail) == pytest.approx(60)
    assert mailer.sent == []
    clock.advance(seconds=61)  # the other worker died: its lease ran out, this one takes over
    assert await d.deliver(mail) is None
    assert len(mailer.sent) == 1


async def test_an_email_change_settles_only_when_both_mails_are():
    ledger, clock = MemoryLedger(), FakeClock()
    mailer = ScriptedMailer([TemporaryFailure(451, "later")])
    d = deliverer(ledger, mailer, clock)
    event = sample_event(MailType.EMAIL_CHANGED)
    assert isinstance(await d.deliver_event(event), RetryLater)
    assert len(mailer.sent) == 1
    assert isinstance(await d.deliver_event(event), Settled)
    assert sorted(r for r, _ in mailer.sent) == sorted([event.new_email, event.old_email])


def test_a_finished_mail_is_done_whoever_holds_a_lease():
    mail = mails_for(sample_event(MailType.FILING_SUBMITTED))[0]
    now = FakeClock().now()
    sent = first_record(mail, now).model_copy(update={"status": DeliveryStatus.SENT})
    assert decide(sent, Lease("x", now + timedelta(hours=1)), now, "y") is ClaimOutcome.DONE
    queued = first_record(mail, now)
    assert decide(queued, Lease("x", now + timedelta(seconds=1)), now, "y") is ClaimOutcome.BUSY
    assert decide(queued, Lease("x", now), now, "y") is ClaimOutcome.RESUMED
    assert decide(queued, None, now, "y") is ClaimOutcome.RESUMED


async def test_a_recipient_that_cannot_be_written_is_recorded_failed_without_an_attempt():
    ledger, mailer, clock = MemoryLedger(), ScriptedMailer(), FakeClock()
    event = sample_event(MailType.AUTH_ID_REISSUE).model_copy(update={"email": "担当@example.jp"})
    assert isinstance(await deliverer(ledger, mailer, clock).deliver_event(event), Settled)
    ((record, _, _),) = ledger.entries.values()
    assert record.status == DeliveryStatus.FAILED and record.attempts == 0 and "ASCII" in record.smtp_message
    assert mailer.attempts == 0


@dataclass
class FlakyLedger(MemoryLedger):
    """Its store does not answer the first `outage` result writes (NATS restarting)."""

    outage: int = 2
    refused: int = 0

    async def record(self, mail: MailRequest, claim: Claim, record: DeliveryRecord, changes=()) -> bool:  # type: ignore[no-untyped-def]  # the port's signature, as the fake's
        if self.refused < self.outage:
            self.refused += 1
            raise LedgerUnavailable("nats: timeout")
        return await super().record(mail, claim, record, changes)


async def test_a_result_the_ledger_could_not_take_is_recorded_again_not_sent_again():
    ledger, mailer, clock = FlakyLedger(outage=2), ScriptedMailer(), FakeClock()
    event = sample_event(MailType.FILING_SUBMITTED)
    assert isinstance(await deliverer(ledger, mailer, clock).deliver_event(event), Settled)
    ((record, lease, _),) = ledger.entries.values()
    assert record.status == DeliveryStatus.SENT and lease is None and ledger.refused == 2
    assert len(mailer.sent) == 1


async def test_a_ledger_down_longer_than_the_lease_leaves_the_event_to_be_retried():
    ledger, mailer, clock = FlakyLedger(outage=1000), ScriptedMailer(), FakeClock()
    event = sample_event(MailType.FILING_SUBMITTED)
    with pytest.raises(LedgerUnavailable):
        await deliverer(ledger, mailer, clock, lease=timedelta(seconds=0.3)).deliver_event(event)
    ((record, lease, _),) = ledger.entries.values()
    assert record.status == DeliveryStatus.QUEUED and lease is not None  # the window of docs/DELIVERY.md


def test_an_event_failing_unexpectedly_is_retried_soon_then_every_five_minutes():
    from services.notifier.entrypoints.consumer import unexpected_failure_delay

    assert [unexpected_failure_delay(n) for n in (1, 2, 3, 9, 10, 50)] == [1, 2, 4, 256, 300, 300]


def test_jetstream_never_drops_an_event_on_its_own_by_default():
    from services.notifier.entrypoints.consumer import consumer_config

    config = consumer_config(NotifierSettings())
    assert config.max_deliver == -1 and config.ack_policy.value == "explicit"
    assert config.max_ack_pending >= 10_000


class FlakyMails(MemoryMails):
    """The copies' bucket while NATS restarts: the first `failures` writes do not answer."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def put(self, mail_id: str, data: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise TimeoutError("nats: timeout")
        await super().put(mail_id, data)


def keeping(ledger, mailer, clock, mails, lease=timedelta(seconds=0.9)):
    return Deliverer(
        ledger, mailer, Renderer(NotifierSettings()), clock, POLICY, sender="s@ens.example.jp", lease=lease, mails=mails
    )


async def test_a_copy_that_cannot_be_kept_at_once_is_kept_on_a_later_try_and_the_mail_goes_out():
    ledger, mailer, clock, mails = MemoryLedger(), ScriptedMailer(), FakeClock(), FlakyMails(failures=2)
    event = sample_event(MailType.FILING_SUBMITTED)
    d = keeping(ledger, mailer, clock, mails, lease=timedelta(seconds=3))  # a second of insisting
    assert isinstance(await d.deliver_event(event), Settled)
    [mail] = mails_for(event)
    assert len(mailer.sent) == 1 and await mails.get(mail.mail_id) is not None


async def test_a_copy_that_cannot_be_kept_at_all_does_not_hold_the_mail_back():
    """Failing the attempt would leave its claim leased, and the mail waiting out the lease."""
    ledger, mailer, clock, mails = MemoryLedger(), ScriptedMailer(), FakeClock(), FlakyMails(failures=1000)
    event = sample_event(MailType.FILING_SUBMITTED)
    assert isinstance(await keeping(ledger, mailer, clock, mails).deliver_event(event), Settled)
    [mail] = mails_for(event)
    assert len(mailer.sent) == 1 and await mails.get(mail.mail_id) is None
    [record] = await ledger.query(mail_id=mail.mail_id)
    assert record.status is DeliveryStatus.SENT
