"""The routing table covers exactly the nine types of SPEC §3 and sends each to the right address."""

from __future__ import annotations

from contracts.notifier import MAIL_CAUSES, MailType
from services.notifier.domain.routing import ROUTES, mail_id, mails_for, mask_address
from services.notifier.samples import sample_event


def test_every_mail_type_has_exactly_the_cause_the_contract_names():
    routed = {route.mail_type: event for event, routes in ROUTES.items() for route in routes}
    assert routed == MAIL_CAUSES


def test_an_email_change_mails_the_new_address_and_notices_the_old_one():
    event = sample_event(MailType.EMAIL_CHANGED)
    mails = {m.mail_type: m for m in mails_for(event)}
    assert mails[MailType.EMAIL_CHANGED].recipient == event.new_email
    assert mails[MailType.EMAIL_CHANGED_NOTICE].recipient == event.old_email
    assert event.new_email not in str(mails[MailType.EMAIL_CHANGED_NOTICE].context)


def test_filing_mails_go_to_the_filer_and_carry_the_reception_number():
    for t in (MailType.FILING_SUBMITTED, MailType.FILING_CHANGED, MailType.FILING_WITHDRAWN, MailType.FIX_REQUESTED):
        event = sample_event(t)
        (mail,) = mails_for(event)
        assert mail.recipient == event.filing.filer_email
        assert mail.reception_number == event.filing.reception_number
        assert mail.auth_id == event.filing.filer_auth_id


def test_mail_ids_are_stable_and_distinct_per_event_type_and_recipient():
    a = mail_id("e.1", MailType.EMAIL_CHANGED, "x@example.jp")
    assert a == mail_id("e.1", MailType.EMAIL_CHANGED, "x@example.jp")
    assert (
        len(
            {
                a,
                mail_id("e.2", MailType.EMAIL_CHANGED, "x@example.jp"),
                mail_id("e.1", MailType.EMAIL_CHANGED_NOTICE, "x@example.jp"),
                mail_id("e.1", MailType.EMAIL_CHANGED, "y@example.jp"),
            }
        )
        == 4
    )
    assert a.isalnum() and len(a) == 32


def test_the_old_address_sees_the_new_one_only_masked():
    assert mask_address("tanto@example.co.jp") == "ta***@example.co.jp"
    assert mask_address("a@example.jp") == "a***@example.jp"
