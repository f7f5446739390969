"""Golden tests of the produced bytes: every type parses back with the stdlib to what was rendered."""

from __future__ import annotations

import base64
import email
import re
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import UndefinedError

from contracts import auth
from contracts.common import EventMeta
from contracts.notifier import MailType
from services.notifier.domain import rendering
from services.notifier.domain.rendering import Renderer, build_environment
from services.notifier.domain.routing import MailRequest, mails_for
from services.notifier.samples import ORG, sample_event
from services.notifier.settings import NotifierSettings

SETTINGS = NotifierSettings()
COMPOSED = datetime(2027, 4, 1, 0, 30, tzinfo=UTC)
ENCODED_WORD = re.compile(rb"=\?utf-8\?b\?([A-Za-z0-9+/=]+)\?=")


def rendered(mail_type: MailType, renderer: Renderer | None = None):
    mail = next(m for m in mails_for(sample_event(mail_type)) if m.mail_type == mail_type)
    return mail, (renderer or Renderer(SETTINGS)).render(mail, composed_at=COMPOSED)


@pytest.mark.parametrize("mail_type", list(MailType))
def test_every_type_decodes_back_to_its_subject_names_and_bodies(mail_type):
    mail, out = rendered(mail_type)
    parsed = email.message_from_bytes(out.data, policy=policy.default)
    assert parsed.defects == []
    assert parsed["Subject"] == out.subject
    assert out.subject.startswith(SETTINGS.subject_prefix)
    assert parsed["To"] == mail.recipient
    assert parsed["From"].addresses[0].addr_spec == SETTINGS.sender
    assert parsed["From"].addresses[0].display_name == SETTINGS.sender_name
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    # The parts travel in their canonical form, CRLF line breaks (RFC 2046 4.1.1).
    assert plain.get_content() == out.text.replace("\n", "\r\n") and html.get_content() == out.html.replace("\n", "\r\n")
    assert plain["Content-Transfer-Encoding"] == html["Content-Transfer-Encoding"] == "base64"
    helpdesk = SETTINGS.registration_helpdesk if mail_type is MailType.REGISTRATION_COMPLETE else SETTINGS.helpdesk
    assert "送信専用" in out.text and helpdesk in out.text and helpdesk in out.html
    assert SETTINGS.system_name in out.text
    assert mail.context["organisation_name"] in out.text  # the organisation's long Japanese name


@pytest.mark.parametrize("mail_type", list(MailType))
def test_headers_are_never_longer_than_78_and_bodies_never_raw_8bit(mail_type):
    _, out = rendered(mail_type)
    lines = out.data.split(b"\r\n")
    assert all(len(line) <= 78 for line in lines), max(lines, key=len)
    assert out.data.isascii()
    assert b"\n" not in out.data.replace(b"\r\n", b"")  # CRLF only, as SMTP wants


@pytest.mark.parametrize("mail_type", list(MailType))
def test_no_encoded_word_splits_a_multibyte_character(mail_type):
    _, out = rendered(mail_type)
    head = out.data.split(b"\r\n\r\n", 1)[0]
    words = ENCODED_WORD.findall(head)
    assert len(words) >= 2  # the subject is long enough to need folding
    for word in words:
        base64.b64decode(word).decode("utf-8")  # raises if a word ends inside a character


def test_a_folded_japanese_display_name_still_decodes_whole():
    long_name = NotifierSettings(sender_name="出入国在留管理庁電子届出システム（送信専用アドレス）")
    _, out = rendered(MailType.FILING_SUBMITTED, Renderer(long_name))
    head = email.message_from_bytes(out.data, policy=policy.compat32)
    assert str(make_header(decode_header(head["From"]))) == f"{long_name.sender_name} <{long_name.sender}>"
    assert all(len(line) <= 78 for line in out.data.split(b"\r\n"))


def test_date_is_japan_time_and_message_id_derives_from_the_mail():
    mail, out = rendered(MailType.FILING_SUBMITTED)
    parsed = email.message_from_bytes(out.data, policy=policy.default)
    assert parsed["Date"] == "Thu, 01 Apr 2027 09:30:00 +0900"
    assert parsed["Message-ID"] == f"<{mail.mail_id}@ens.example.jp>" == out.message_id
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_the_same_mail_renders_to_the_same_bytes_and_another_recipient_to_another_id():
    _, first = rendered(MailType.EMAIL_CHANGED)
    _, again = rendered(MailType.EMAIL_CHANGED)
    _, notice = rendered(MailType.EMAIL_CHANGED_NOTICE)
    assert first.data == again.data
    assert notice.message_id != first.message_id


@pytest.mark.parametrize("mail_type", [MailType.AUTH_ID_REISSUE, MailType.PASSWORD_CHANGED])
def test_mails_2_and_4_say_what_to_do_if_you_did_not_ask(mail_type):
    _, out = rendered(mail_type)
    assert "お心当たりのない場合" in out.text and "お心当たりのない場合" in out.html


def test_mails_that_answer_a_request_of_the_holder_do_not_carry_the_warning():
    _, out = rendered(MailType.FILING_SUBMITTED)
    assert "お心当たりのない場合" not in out.text


def test_html_escapes_what_came_from_users():
    event = auth.AuthIdReissued(
        meta=EventMeta(event_id="x.1", occurred_at=COMPOSED, source="auth"),
        auth_id="<b>&x",
        organisation=ORG.model_copy(update={"name": '<script>alert("x")</script>'}),
        email="a@example.jp",
    )
    out = Renderer(SETTINGS).render(mails_for(event)[0], composed_at=COMPOSED)
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html and "&lt;b&gt;&amp;x" in out.html
    assert '<script>alert("x")</script>' in out.text  # plain text is not HTML: shown as written


def test_a_template_naming_a_variable_the_context_lacks_fails_loudly():
    mail = MailRequest(event_id="e", mail_type=MailType.FILING_SUBMITTED, recipient="a@example.jp", context={"auth_id": "abcdef"})
    with pytest.raises(UndefinedError):
        Renderer(SETTINGS).render(mail, composed_at=COMPOSED)


def test_html_templates_autoescape_and_text_templates_do_not():
    env = build_environment()
    assert env.get_template("layout.html.j2").environment.autoescape("layout.html.j2") is True
    assert env.autoescape("layout.txt.j2") is False


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1952, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)))
def test_japan_time_in_mails_is_what_asia_tokyo_says(moment):
    # The fixed +09:00 offset the templates use must agree with the zone database.
    tokyo = moment.astimezone(ZoneInfo("Asia/Tokyo"))
    assert rendering._jst(moment) == tokyo.strftime("%Y年%-m月%-d日 %H:%M")
    assert rendering._jst_date(moment) == tokyo.strftime("%Y年%-m月%-d日")
