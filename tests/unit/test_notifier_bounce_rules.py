"""What a bounce report and a resend do to a mail's record (pure rules, no broker)."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy

import pytest

from contracts.notifier import DeliveryStatus, MailStatus, MailType
from services.notifier.bounce import mail_id_of
from services.notifier.domain.ledger import (
    MAX_HISTORY,
    BounceReport,
    bounce,
    first_record,
    resend_id,
    resent_copy,
    resent_original,
)
from services.notifier.domain.rendering import Renderer, readdressed
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from services.notifier.settings import NotifierSettings

NOW = datetime(2027, 4, 1, tzinfo=UTC)
HARD = BounceReport(hard=True, status_code="5.1.1", diagnostic="550 5.1.1 User unknown", reporting_mta="dns; mx.example.jp")
SOFT = BounceReport(hard=False, status_code="4.2.2", diagnostic="mailbox full", reporting_mta=None)


def record(status: DeliveryStatus = DeliveryStatus.SENT):
    base = first_record(mails_for(sample_event(MailType.PASSWORD_CHANGED))[0], NOW)
    return base.model_copy(update={"status": status, "attempts": 1})


@pytest.mark.parametrize("status", [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.RETRYING])
def test_a_hard_bounce_makes_a_sent_failed_or_retrying_mail_bounced_with_both_events(status):
    changed = bounce(record(status), HARD, NOW)
    assert changed is not None
    bounced, events = changed
    assert bounced.status is DeliveryStatus.BOUNCED and bounced.next_attempt_at is None
    assert (bounced.bounce_status_code, bounced.bounce_reporting_mta) == ("5.1.1", "dns; mx.example.jp")
    assert bounced.history[-1].status is MailStatus.BOUNCED and bounced.history[-1].status_code == "5.1.1"
    assert [e.subject.rsplit(".", 1)[1] for e in events] == ["mail_status_changed", "address_bounced"]
    assert events[1].fields["recipient"] == bounced.recipient and events[1].fields["auth_id"] == bounced.auth_id


def test_a_second_hard_bounce_changes_nothing():
    bounced, _ = bounce(record(), HARD, NOW) or (None, None)
    assert bounced is not None and bounce(bounced, HARD, NOW + timedelta(minutes=1)) is None


def test_a_soft_bounce_is_a_note_without_a_status_change_or_event_and_notes_are_bounded():
    noted, events = bounce(record(), SOFT, NOW) or (None, None)
    assert noted is not None and noted.status is DeliveryStatus.SENT and events == []
    assert (noted.history[-1].status, noted.history[-1].note) == (MailStatus.DEFERRED, "soft bounce")
    full = noted.model_copy(update={"history": noted.history * MAX_HISTORY})
    assert bounce(full, SOFT, NOW) is None


def test_the_mail_id_is_read_from_our_message_id_only():
    assert mail_id_of("<0123456789abcdef0123456789abcdef.a1b2c3@ens.example.jp>") == "0123456789abcdef0123456789abcdef"
    assert mail_id_of("<0123456789ABCDEF0123456789abcdef@ens.example.jp>") == "0123456789abcdef0123456789abcdef"
    assert mail_id_of("<random@gmail.com>") is None


def test_a_resend_links_both_mails_and_the_same_request_gives_the_same_new_mail():
    original = record(DeliveryStatus.FAILED)
    new_id = resend_id(original.mail_id, "req-1")
    assert new_id == resend_id(original.mail_id, "req-1") != resend_id(original.mail_id, "req-2")
    copy, events = resent_copy(
        original, new_id=new_id, recipient="now@example.jp", message_id=f"<{new_id}@x>", reason="r", at=NOW, flagged=False
    )
    assert copy.resent_from == original.mail_id and copy.status is DeliveryStatus.QUEUED and copy.subject == original.subject
    assert [e.fields.get("status") for e in events] == ["queued", None]  # MailStatusChanged, MailResendRequested
    updated, (resent,) = resent_original(original, new_id, "r", NOW)
    assert updated.resent_as == new_id and updated.status is DeliveryStatus.FAILED
    assert resent.fields["status"] == "resent" and resent.fields["resent_as"] == new_id
    assert resent.event_id == f"notifier.mail.{original.mail_id}.resent.{new_id}"


def test_a_readdressed_mail_is_the_same_message_with_only_to_message_id_and_date_replaced():
    mail = mails_for(sample_event(MailType.FILING_SUBMITTED))[0]
    data = Renderer(NotifierSettings()).render(mail, composed_at=NOW).data
    again = readdressed(data, recipient="new@example.jp", message_id="<new@ens.example.jp>", date=NOW + timedelta(days=1))
    before, after = (email.message_from_bytes(d, policy=policy.default) for d in (data, again))
    assert after["To"] == "new@example.jp" and after["Message-ID"] == "<new@ens.example.jp>" and after["Date"] != before["Date"]
    assert after["Subject"] == before["Subject"] and data.split(b"\r\n\r\n", 1)[1] == again.split(b"\r\n\r\n", 1)[1]
