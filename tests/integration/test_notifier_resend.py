"""An officer resends a mail (ResendMail): a new mail with the same content, to the account's
address registered now, sent once through the normal delivery path; a repeat of the request
changes nothing."""

from __future__ import annotations

import uuid

import pytest

from contracts import auth
from contracts.client import CommandRefused
from contracts.common import ErrorCode
from contracts.notifier import DeliveryStatus, MailStatus, MailType, ResendMail
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from tests.integration.test_notifier_delivery import log_for, publish, settled, unique
from tests.integration.test_notifier_delivery import smtp_env as smtp_env  # the fixture, shared
from tests.integration.test_notifier_replicas_and_cli import ens
from tests.integration.test_notifier_status_events import status_events
from tests.support.story import ACCOUNT_EMAIL, ACCOUNT_ID, ORG, officer_and_active_account
from tests.support.suite import running


def for_account(address: str) -> auth.PasswordChanged:
    """A mail of the story's account that went to an old address."""
    event = sample_event(MailType.PASSWORD_CHANGED)
    return unique(event.model_copy(update={"auth_id": ACCOUNT_ID, "organisation": ORG, "email": address}))


async def test_a_failed_mail_resent_reaches_the_current_address_once_and_a_repeat_changes_nothing(
    nats_url, nc, client, smtp_env, clock
):
    event = for_account(f"old-{uuid.uuid4().hex[:6]}@example.jp")
    original = mails_for(event)[0]
    async with running(["auth", "notifier"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        smtp_env.rcpt_script = ["550 5.1.1 no such user"]
        await publish(nc, event)
        failed = await settled(client, original.mail_id, DeliveryStatus.FAILED)
        resend = ResendMail(
            session_token=officer, mail_id=original.mail_id, reason="届いていないとの申出", request_id=uuid.uuid4().hex
        )
        reply = await client.call(resend)
        again = await client.call(resend)
        new = await settled(client, reply.resent_as, DeliveryStatus.SENT)
        (after,) = await log_for(client, mail_id=original.mail_id)
        events = await status_events(nc, at_least=4)
        with pytest.raises(CommandRefused) as queued_one:
            await client.call(ResendMail(session_token=officer, mail_id="a" * 32, reason="x"))
        org_login = (await client.call(auth.Login(auth_id=ACCOUNT_ID, password="Secret#123abc"))).session_token
        with pytest.raises(CommandRefused) as not_officer:
            await client.call(ResendMail(session_token=org_login, mail_id=original.mail_id, reason="x"))
    copies = [m for m in smtp_env.mails if m.parsed()["Message-ID"] == new.message_id]
    assert again == reply and reply.recipient == ACCOUNT_EMAIL == new.recipient
    assert len(copies) == 1 and copies[0].rcpt_tos == [ACCOUNT_EMAIL]
    assert new.resent_from == original.mail_id and after.resent_as == new.mail_id and after.status is DeliveryStatus.FAILED
    assert new.subject == failed.subject and new.attempts == 1
    parsed = copies[0].parsed()
    assert parsed["To"] == ACCOUNT_EMAIL and parsed["Subject"] is not None
    assert [h.status for h in after.history][-1] is MailStatus.RESENT and after.history[-1].note == "届いていないとの申出"
    resent = [e for e in events if e["mail_id"] == original.mail_id and e["status"] == "resent"]
    assert len(resent) == 1 and resent[0]["resent_as"] == new.mail_id
    assert [e["status"] for e in events if e["mail_id"] == new.mail_id] == ["queued", "sent"]
    assert queued_one.value.code == ErrorCode.NOT_FOUND
    assert not_officer.value.code == ErrorCode.FORBIDDEN


async def test_a_mail_still_waiting_to_be_retried_cannot_be_resent(nats_url, nc, client, smtp_env, clock, monkeypatch):
    monkeypatch.setenv("ENS_NOTIFIER_RETRY_DELAYS_S", "60")
    event = for_account(f"slow-{uuid.uuid4().hex[:6]}@example.jp")
    mail = mails_for(event)[0]
    async with running(["auth", "notifier"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        smtp_env.script = ["451 4.3.0 try again later"]
        await publish(nc, event)
        await settled(client, mail.mail_id, DeliveryStatus.RETRYING)
        with pytest.raises(CommandRefused) as refused:
            await client.call(ResendMail(session_token=officer, mail_id=mail.mail_id, reason="再送"))
        with pytest.raises(CommandRefused) as blank:
            # as a client that skips the contract's own check would send it
            await client.call(ResendMail.model_construct(session_token=officer, mail_id=mail.mail_id, reason="", request_id=None))
    assert refused.value.code == ErrorCode.INVALID_STATE and refused.value.error.fields[0].field == "mail_id"
    assert blank.value.code == ErrorCode.VALIDATION and blank.value.error.fields[0].field == "reason"


async def test_ens_mail_resend_asks_for_a_reason_and_prints_the_new_mail(
    nats_url, nc, client, smtp_env, clock, tmp_path, monkeypatch
):
    event = for_account(f"cli-{uuid.uuid4().hex[:6]}@example.jp")
    mail = mails_for(event)[0]
    session_file = tmp_path / "session.json"
    monkeypatch.setenv("ENS_SESSION_FILE", str(session_file))
    async with running(["auth", "notifier"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        session_file.write_text(f'{{"session_token": "{officer}"}}')
        await publish(nc, event)
        await settled(client, mail.mail_id, DeliveryStatus.SENT)
        code, out, err = await ens("mail", "resend", mail.mail_id, "--reason", "迷惑メールに入っていたため", nats_url=nats_url)
        missing_code, _, missing_err = await ens("mail", "resend", mail.mail_id, nats_url=nats_url)
        (record,) = await log_for(client, mail_id=mail.mail_id)
    assert code == 0, err
    assert record.resent_as is not None and record.resent_as in out and ACCOUNT_EMAIL in out
    assert missing_code != 0 and "--reason" in missing_err
