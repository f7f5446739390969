"""Golden tests of every mail variant (issue 15): the text and HTML parts exactly as they travel,
decoded back from the bytes the renderer produced, compared with the reviewed files under
tests/unit/golden/mails/. After a deliberate wording change, regenerate them with
`ENS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_notifier_golden.py` and review the diff."""

from __future__ import annotations

import email
import os
import re
import ssl
from email import policy
from pathlib import Path

import aiosmtplib
import pytest

from contracts.notifier import MailType
from services.notifier.adapters.smtp import tls_error
from services.notifier.domain.rendering import TEMPLATES, Renderer
from services.notifier.domain.routing import mails_for
from services.notifier.samples import AT, VARIANTS, Variant
from services.notifier.settings import NotifierSettings

GOLDEN = Path(__file__).parent / "golden" / "mails"
SETTINGS = NotifierSettings()
UPDATE = os.environ.get("ENS_UPDATE_GOLDEN") == "1"

# Not the agency's orthography (the seed writes 利用者ID, 手続, お問合せ, 御連絡).
FORBIDDEN = ("ユーザID", "ユーザーID", "手続き", "お問い合わせ", "ご連絡", "ご了承")


def render(variant: Variant, renderer: Renderer | None = None):
    mail = next(m for m in mails_for(variant.event) if m.mail_type == variant.mail_type)
    return (renderer or Renderer(SETTINGS)).render(mail, composed_at=AT)


def parts(data: bytes) -> tuple[email.message.EmailMessage, str, str]:
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and html is not None
    return parsed, plain.get_content(), html.get_content()


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_every_variant_renders_exactly_its_reviewed_text_and_html(variant):
    out = render(variant)
    parsed, text, html = parts(out.data)
    golden = f"Subject: {parsed['Subject']}\r\n\r\n{text}"
    for suffix, actual in ((".txt", golden), (".html", html)):
        path = GOLDEN / f"{variant.name}{suffix}"
        if UPDATE:
            path.write_bytes(actual.encode())
        assert path.read_bytes().decode() == actual, f"{path.name} differs; see the module docstring"


def test_the_golden_files_are_exactly_the_variants():
    names = {p.name for p in GOLDEN.iterdir()}
    assert names == {f"{v.name}{s}" for v in VARIANTS for s in (".txt", ".html")}


def test_every_mail_type_has_a_variant_and_the_issues_variants_exist():
    assert {v.mail_type for v in VARIANTS} == set(MailType)
    names = {v.name for v in VARIANTS}
    assert {"password_changed.by_officer", "filing_changed.fix", "filing_submitted.bulk", "password_expiry_soon.30_days"} <= names


def test_no_template_writes_what_the_agency_does_not():
    for template in TEMPLATES.iterdir():
        text = template.read_text(encoding="utf-8")
        for word in FORBIDDEN:
            assert word not in text, f"{template.name}: {word}"


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_no_mail_writes_what_the_agency_does_not_nor_implies_staff_know_a_password(variant):
    out = render(variant)
    for body in (out.subject, out.text, out.html):
        for word in (*FORBIDDEN, "窓口でお伝え", "窓口で登録した初期パスワード", "第三者が不正に操作", "本日から"):
            assert word not in body, word
    # Wherever a procedure names the counter, it names the post too.
    for body in (out.text, out.html):
        assert body.count("窓口") == body.count("窓口又は郵送")


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_the_text_and_html_parts_show_the_same_labels_and_values(variant):
    out = render(variant)
    text_rows = re.findall(r"^([^：\n]{1,20})：(.+)$", out.text, re.M)
    html_rows = re.findall(r"<th[^>]*>([^<]+)</th><td[^>]*>([^<]+)</td>", out.html)
    assert html_rows and [(label, value.replace("&#39;", "'")) for label, value in html_rows] == text_rows


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_subjects_start_with_the_short_prefix_and_name_the_event(variant):
    out = render(variant)
    assert out.subject.startswith("【電子届出システム】")
    # A phone shows about 30 characters: the prefix and what happened fit in them (the reception
    # number or the days left may follow).
    assert len(out.subject.split("（")[0]) <= 30


def test_the_registration_mail_names_the_registration_helpdesk_and_every_other_the_systems():
    for variant in VARIANTS:
        out = render(variant)
        registration = variant.mail_type is MailType.REGISTRATION_COMPLETE
        expected, other = (
            (SETTINGS.registration_helpdesk, SETTINGS.helpdesk)
            if registration
            else (SETTINGS.helpdesk, SETTINGS.registration_helpdesk)
        )
        assert expected in out.text and expected in out.html and other not in out.text
        assert "御返信いただいても内容を確認することはできません" in out.text
        assert "御返信いただいても内容を確認することはできません" in out.html


def test_one_date_format_everywhere_and_the_last_valid_day_not_the_next_midnight():
    by_name = {v.name: render(v) for v in VARIANTS}
    # The password stops working at 2028-04-02 00:00 JST: its last valid day is 1 April.
    for name in ("registration_complete", "password_changed", "password_expiry_soon", "password_expiry_soon.30_days"):
        assert "パスワードの有効期限：2028年4月1日" in by_name[name].text
    for out in by_name.values():
        assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{4}年0\d月|月0\d日", out.text + out.html)


def test_a_warning_says_how_many_days_are_really_left():
    by_name = {v.name: render(v) for v in VARIANTS}
    assert "（あと7日）" in by_name["password_expiry_soon"].subject
    assert "（あと30日）" in by_name["password_expiry_soon.30_days"].subject


def test_blank_lines_before_the_not_you_block_and_the_footer_rule():
    for variant in VARIANTS:
        text = render(variant).text
        assert "\n\n━━━━━━━━━━━━━━━━━━━━\n※" in text
        if "【お心当たりのない場合】" in text:
            assert "\n\n【お心当たりのない場合】\n" in text


# ---- the mail bytes ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS[:3], ids=[v.name for v in VARIANTS[:3]])
def test_text_parts_travel_with_crlf_line_breaks_never_bare_lf(variant):
    out = render(variant)
    parsed, _, _ = parts(out.data)
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            raw = part.get_payload(decode=True)
            assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_message_ids_differ_between_installations_and_stay_for_the_same_mail():
    variant = VARIANTS[0]
    test_install, production = (
        Renderer(SETTINGS, installation="1f2e3d4c5b6a7988"),
        Renderer(SETTINGS, installation="a1b2c3d4e5f60718"),
    )
    first, again, other = render(variant, test_install), render(variant, test_install), render(variant, production)
    assert first.message_id == again.message_id and first.data == again.data
    assert first.message_id != other.message_id
    mail_id = first.mail_id
    assert first.message_id == f"<{mail_id}.1f2e3d4c5b6a7988@ens.example.jp>"


def test_a_sender_display_name_with_quotes_is_escaped_and_parses_back_whole():
    quoting = NotifierSettings(sender_name='ENS "Notice" Desk \\ Tokyo')
    out = render(VARIANTS[0], Renderer(quoting))
    assert b'From: "ENS \\"Notice\\" Desk \\\\ Tokyo" <no-reply@ens.example.jp>' in out.data
    parsed, _, _ = parts(out.data)
    assert parsed["From"].addresses[0].display_name == 'ENS "Notice" Desk \\ Tokyo'
    assert parsed.defects == []


def test_a_certificate_failure_is_told_as_tls_not_as_an_unreachable_server():
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise aiosmtplib.SMTPConnectError("Error connecting to mail.example.jp on port 587") from exc
    except aiosmtplib.SMTPConnectError as wrapped:
        assert tls_error(wrapped) is cause
    assert tls_error(ConnectionRefusedError(111, "Connection refused")) is None
