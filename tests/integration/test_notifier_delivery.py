"""Events in over a real NATS, mails out of a real SMTP sink over TCP: each type, once."""

from __future__ import annotations

import asyncio
import email
import json
import uuid
from email import policy

import pytest

from contracts import auth
from contracts.client import CommandRefused
from contracts.common import ErrorCode, Event
from contracts.notifier import DeliveryStatus, MailType, QueryDeliveryLog
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from tests.support.suite import running


def unique(event: Event) -> Event:
    """A sample event with an id of its own, so tests never share ledger records."""
    meta = event.meta.model_copy(update={"event_id": f"{event.meta.event_id}.{uuid.uuid4().hex[:8]}"})
    return event.model_copy(update={"meta": meta})


async def publish(nc, event: Event, msg_id: str | None = None) -> None:
    """Into ENS_EVENTS as the owning service's relay does: Nats-Msg-Id = event id, unless told otherwise."""
    headers = {"Nats-Msg-Id": msg_id or event.meta.event_id}
    await nc.jetstream().publish(event.SUBJECT, event.model_dump_json().encode(), headers=headers)


async def audit_records(nc) -> list[dict]:
    js = nc.jetstream()
    sub = await js.subscribe("ens.v1.audit.notifier", ordered_consumer=True)
    info = await js.stream_info("ENS_AUDIT", subjects_filter="ens.v1.audit.notifier")
    total = (info.state.subjects or {}).get("ens.v1.audit.notifier", 0)
    out = [json.loads((await sub.next_msg(timeout=5)).data) for _ in range(total)]
    await sub.unsubscribe()
    return out


async def log_for(client, **filters) -> list:
    return (await client.call(QueryDeliveryLog(**filters))).records


async def settled(client, mail_id: str, status: DeliveryStatus, within: float = 10.0):
    """The ledger's record once it reaches `status` (a bounded wait for asynchronous delivery)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        records = await log_for(client, mail_id=mail_id)
        if records and records[0].status == status:
            return records[0]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"mail {mail_id} is {records[0].status if records else 'unknown'}, not {status}")
        await asyncio.sleep(0.05)


@pytest.fixture
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    monkeypatch.setenv("ENS_SMTP_TIMEOUT_S", "2")
    monkeypatch.setenv("ENS_NOTIFIER_RETRY_DELAYS_S", "0.2,0.2,0.2")
    monkeypatch.setenv("ENS_NOTIFIER_RETRY_EVERY_S", "0.2")
    monkeypatch.setenv("ENS_NOTIFIER_ACK_WAIT_S", "3")
    return mail_sink


EXPECTED = {
    MailType.REGISTRATION_COMPLETE: ("利用者情報登録完了", "sample_Org-01"),
    MailType.AUTH_ID_REISSUE: ("認証ID再通知のお知らせ", "お心当たりのない場合"),
    MailType.EMAIL_CHANGED: ("メールアドレス変更完了", "tanto@example.co.jp"),
    MailType.EMAIL_CHANGED_NOTICE: ("登録メールアドレス変更のお知らせ", "ta***@example.co.jp"),
    MailType.PASSWORD_CHANGED: ("パスワード変更", "お心当たりのない場合"),
    MailType.PASSWORD_EXPIRY_SOON: ("パスワード有効期限切れ間近のお知らせ（あと7日）", "パスワードの有効期限：2028年4月1日"),
    MailType.FILING_SUBMITTED: ("届出・報告を受け付けました", "20270401-000001"),
    MailType.FILING_CHANGED: ("届出・報告の変更を受け付けました", "20270401-000001"),
    MailType.FILING_WITHDRAWN: ("届出・報告の取下げを受け付けました", "20270401-000001"),
    MailType.FIX_REQUESTED: ("報告の修正依頼", "出席率の算定期間を記入してください。"),
}


@pytest.mark.parametrize("mail_type", list(MailType))
async def test_each_mail_type_goes_from_its_event_to_the_smtp_server(mail_type, nats_url, nc, client, smtp_env, clock):
    event = unique(sample_event(mail_type))
    mail = next(m for m in mails_for(event) if m.mail_type == mail_type)
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        expected_count = len(mails_for(event))
        received = await smtp_env.wait_for(expected_count)
        record = await settled(client, mail.mail_id, DeliveryStatus.SENT)
    ours = [m for m in received if m.rcpt_tos == [mail.recipient]]
    assert len(ours) == 1
    parsed = email.message_from_bytes(ours[0].data, policy=policy.default)
    subject_part, body_part = EXPECTED[mail_type]
    assert parsed["To"] == mail.recipient
    assert parsed["Subject"].startswith("【電子届出システム】")
    assert subject_part in parsed["Subject"]
    text = parsed.get_body(("plain",)).get_content()
    assert body_part in text and "送信専用" in text
    assert parsed["Message-ID"] == record.message_id
    assert record.attempts == 1 and record.smtp_code == 250 and record.recipient == mail.recipient


async def test_the_same_event_twice_and_a_copy_beyond_the_duplicate_window_make_one_mail(nats_url, nc, client, smtp_env, clock):
    event = unique(sample_event(MailType.FILING_SUBMITTED))
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        await publish(nc, event)  # same Nats-Msg-Id: the stream drops it
        await publish(nc, event, msg_id=f"{event.meta.event_id}-replayed")  # a copy the stream keeps
        await smtp_env.wait_for(1)
        mail = mails_for(event)[0]
        await settled(client, mail.mail_id, DeliveryStatus.SENT)
        another = unique(sample_event(MailType.FILING_WITHDRAWN))
        await publish(nc, another)  # a later event arrives: the copy was handled before it
        await smtp_env.wait_for(2)
        await settled(client, mails_for(another)[0].mail_id, DeliveryStatus.SENT)
        info = await nc.jetstream().consumer_info("ENS_EVENTS", "notifier")
    assert info.num_pending == 0
    assert [m.rcpt_tos for m in smtp_env.mails].count([mail.recipient]) == 2
    assert sum(1 for m in smtp_env.mails if m.parsed()["Message-ID"].startswith(f"<{mail.mail_id}.")) == 1


async def test_a_sink_answering_421_then_451_then_250_delivers_once_after_retries(nats_url, nc, client, smtp_env, clock):
    smtp_env.script = ["421 4.3.2 service not available", "451 4.3.0 try again later"]
    event = unique(sample_event(MailType.PASSWORD_CHANGED))
    mail = mails_for(event)[0]
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        record = await settled(client, mail.mail_id, DeliveryStatus.SENT)
    assert len(smtp_env.mails) == 1 and smtp_env.refused == smtp_env.refused[:2]
    assert len(smtp_env.refused) == 2
    assert record.attempts == 3 and record.smtp_code == 250


async def test_a_retrying_mail_is_recorded_retrying_with_the_servers_answer(nats_url, nc, client, smtp_env, clock, monkeypatch):
    monkeypatch.setenv("ENS_NOTIFIER_RETRY_DELAYS_S", "30")
    smtp_env.script = ["451 4.3.0 try again later"]
    event = unique(sample_event(MailType.AUTH_ID_REISSUE))
    mail = mails_for(event)[0]
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        record = await settled(client, mail.mail_id, DeliveryStatus.RETRYING)
    assert record.attempts == 1 and record.smtp_code == 451 and "try again" in record.smtp_message
    assert record.next_attempt_at is not None and (record.next_attempt_at - clock.now()).total_seconds() == 30
    assert smtp_env.mails == []


async def test_a_550_is_recorded_failed_after_one_attempt(nats_url, nc, client, smtp_env, clock):
    smtp_env.script = ["550 5.1.1 no such user"]
    event = unique(sample_event(MailType.FILING_WITHDRAWN))
    mail = mails_for(event)[0]
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        record = await settled(client, mail.mail_id, DeliveryStatus.FAILED)
        follow = unique(sample_event(MailType.FILING_SUBMITTED))
        await publish(nc, follow)
        await smtp_env.wait_for(1)
        info = await nc.jetstream().consumer_info("ENS_EVENTS", "notifier")
    assert record.attempts == 1 and record.smtp_code == 550 and "no such user" in record.smtp_message
    assert smtp_env.refused == ["550 5.1.1 no such user"]
    assert [m.parsed()["X-ENS-Mail-Type"] for m in smtp_env.mails] == ["filing_submitted"]
    assert info.num_redelivered == 0


async def test_a_recipient_refused_at_rcpt_is_failed_once_and_a_rcpt_4xx_is_retried(nats_url, nc, client, smtp_env, clock):
    # With PIPELINING, MAIL, RCPT and DATA go out in one write: a refused RCPT must still stop
    # the body from being sent, and the connection must not carry the broken transaction on.
    smtp_env.rcpt_script = ["550 5.1.1 no such user", "450 4.2.1 mailbox busy"]
    refused, busy = unique(sample_event(MailType.FILING_WITHDRAWN)), unique(sample_event(MailType.PASSWORD_CHANGED))
    refused_mail, busy_mail = mails_for(refused)[0], mails_for(busy)[0]
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, refused)
        failed = await settled(client, refused_mail.mail_id, DeliveryStatus.FAILED)
        await publish(nc, busy)
        sent = await settled(client, busy_mail.mail_id, DeliveryStatus.SENT)
    assert failed.attempts == 1 and failed.smtp_code == 550 and "no such user" in failed.smtp_message
    assert sent.attempts == 2
    assert smtp_env.refused == ["550 5.1.1 no such user", "450 4.2.1 mailbox busy"]
    assert [m.rcpt_tos for m in smtp_env.mails] == [[busy_mail.recipient]]


async def test_a_mail_still_failing_three_days_after_it_was_queued_is_recorded_failed(nats_url, nc, client, smtp_env, clock):
    smtp_env.script = ["451 4.3.0 try again later"] * 2
    event = unique(sample_event(MailType.PASSWORD_EXPIRY_SOON))
    mail = mails_for(event)[0]
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        first = await settled(client, mail.mail_id, DeliveryStatus.RETRYING)
        clock.advance(days=3)
        record = await settled(client, mail.mail_id, DeliveryStatus.FAILED)
    assert first.attempts == 1 and record.attempts == 2 and record.smtp_code == 451
    assert smtp_env.mails == []


async def test_while_the_smtp_server_is_down_nothing_is_lost(nats_url, nc, client, smtp_env, clock):
    await smtp_env.stop()
    events = [unique(sample_event(t)) for t in (MailType.FILING_SUBMITTED, MailType.FILING_CHANGED, MailType.AUTH_ID_REISSUE)]
    mails = [m for e in events for m in mails_for(e)]
    async with running(["notifier"], nats_url, clock=clock):
        for e in events:
            await publish(nc, e)
        for m in mails:
            down = await settled(client, m.mail_id, DeliveryStatus.RETRYING)
            assert down.smtp_code is None and down.smtp_message
        await smtp_env.start()
        await smtp_env.wait_for(len(mails))
        for m in mails:
            await settled(client, m.mail_id, DeliveryStatus.SENT)
    # Message-ID: <mail id.installation id@domain> (docs/DELIVERY.md)
    assert sorted(m.parsed()["Message-ID"].split(".")[0] for m in smtp_env.mails) == sorted(f"<{m.mail_id}" for m in mails)


async def test_the_delivery_log_answers_by_auth_id_reception_number_and_recipient(nats_url, nc, client, smtp_env, clock):
    submitted = unique(sample_event(MailType.FILING_SUBMITTED))
    changed = unique(sample_event(MailType.EMAIL_CHANGED))
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, submitted)
        await publish(nc, changed)
        await smtp_env.wait_for(3)
        for m in mails_for(submitted) + mails_for(changed):
            await settled(client, m.mail_id, DeliveryStatus.SENT)
        by_auth = await log_for(client, auth_id="sample_Org-01")
        by_reception = await log_for(client, reception_number="20270401-000001")
        by_old_address = await log_for(client, recipient="old-tanto@example.co.jp")
        by_both = await log_for(client, auth_id="sample_Org-01", recipient="tanto@example.co.jp")
        nobody = await log_for(client, auth_id="nobody.*>")
        with pytest.raises(CommandRefused) as refused:
            await client.call(QueryDeliveryLog())
        audit = await audit_records(nc)
    assert [(a["command"], a["result"]) for a in audit][-2:] == [("QueryDeliveryLog", "ok"), ("QueryDeliveryLog", "validation")]
    (by_auth_audit,) = [a for a in audit if a["details"].get("filters") == {"auth_id": "sample_Org-01"}]
    assert by_auth_audit["target"] == "sample_Org-01" and by_auth_audit["details"]["records"] == 3
    assert {r.mail_type for r in by_auth} == {MailType.FILING_SUBMITTED, MailType.EMAIL_CHANGED, MailType.EMAIL_CHANGED_NOTICE}
    assert [r.mail_type for r in by_reception] == [MailType.FILING_SUBMITTED]
    assert [r.mail_type for r in by_old_address] == [MailType.EMAIL_CHANGED_NOTICE]
    assert {r.mail_type for r in by_both} == {MailType.FILING_SUBMITTED, MailType.EMAIL_CHANGED}
    assert nobody == []
    assert refused.value.code == ErrorCode.VALIDATION
    assert {f.field for f in refused.value.error.fields} == {"auth_id", "reception_number", "recipient", "mail_id"}
    assert all(r.status == DeliveryStatus.SENT and r.sent_at and r.smtp_code == 250 for r in by_auth)


async def test_an_event_nobody_is_mailed_about_and_a_malformed_one_send_nothing(nats_url, nc, client, smtp_env, clock):
    locked = auth.AccountLocked(
        meta=unique(sample_event(MailType.AUTH_ID_REISSUE)).meta, auth_id="x" * 8, locked_until=clock.now()
    )
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, locked)
        await nc.jetstream().publish(auth.AuthIdReissued.SUBJECT, json.dumps({"auth_id": 1}).encode())
        good = unique(sample_event(MailType.AUTH_ID_REISSUE))
        await publish(nc, good)
        await smtp_env.wait_for(1)
        await settled(client, mails_for(good)[0].mail_id, DeliveryStatus.SENT)
    assert len(smtp_env.mails) == 1
