"""The bounce intake reads real bounce formats (tests/fixtures/bounces/README.md says where each
comes from): which mail, hard or soft, the status code, the server's diagnostic and the MTA that
reported it; auto-replies, out-of-office answers and spam are not bounces; nothing crashes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.notifier import BounceKind, RecordBounce
from services.bounces.intake import command_for
from services.bounces.recognition import Bounce, Dropped, accepts_recipient, recognise
from services.runtime import limits

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
DOMAIN = "bounces.ens.example.jp"


def verp(mail_id: str) -> str:
    return f"bounce+{mail_id}@{DOMAIN}"


def read(name: str, rcpt: str) -> Bounce | Dropped:
    return recognise((FIXTURES / f"{name}.eml").read_bytes(), [rcpt], DOMAIN)


# name, mail id (VERP), kind, status, words of the diagnostic, reporting MTA, failed recipient
BOUNCES = [
    (
        "postfix",
        "3f2a9c41d0b7e8a65c14f0e2d9b3a871",
        BounceKind.HARD,
        "5.1.1",
        "Recipient address rejected: User unknown in virtual mailbox table",
        "mx1.example.co.jp",
        "tanaka@example.co.jp",
    ),
    (
        "postfix_delayed",
        "9b81e0f4c2a7d3561e08b4f92c7a5d30",
        BounceKind.SOFT,
        "4.4.1",
        "Connection timed out",
        "mx2.example.ne.jp",
        "suzuki@school.example.ne.jp",
    ),
    (
        "exim",
        "c70d2e5a19f4b8e3a6d1027c5b9e4f18",
        BounceKind.HARD,
        "5.1.1",
        "553 5.1.1 unknown or illegal user",
        "example.org",
        "nguyen@example.org",
    ),
    (
        "outlook",
        "0a4d7c2e9f1b3865d2c0e7a41f9b6c53",
        BounceKind.HARD,
        "5.1.10",
        "RESOLVER.ADR.RecipientNotFound; Recipient yamada@contoso.co.jp not found by SMTP address lookup",
        "OS3PR01MB5766.jpnprd01.prod.outlook.com",
        "yamada@contoso.co.jp",
    ),
    (
        "exchange_legacy",
        "b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2",
        BounceKind.HARD,
        None,  # no status code in its text: Exchange 5.5's own words only
        "The recipient name is not recognized",
        "example-corp.co.jp",
        "kobayashi@example-corp.co.jp",
    ),
    (
        "gmail",
        "e41b7a9d03c25f68b1e9d4a7c0f3b2e6",
        BounceKind.HARD,
        "5.1.1",
        "The email account that you tried to reach does not exist.",
        "googlemail.com",
        "le.van.an.ssw@gmail.com",
    ),
]


@pytest.mark.parametrize(("name", "mail_id", "kind", "status", "diagnostic", "mta", "recipient"), BOUNCES)
def test_a_real_bounce_names_its_mail_kind_status_diagnostic_and_reporting_mta(
    name: str, mail_id: str, kind: BounceKind, status: str | None, diagnostic: str, mta: str, recipient: str
) -> None:
    found = read(name, verp(mail_id))
    assert isinstance(found, Bounce), found
    assert found.mail_id == mail_id
    assert found.kind is kind
    assert found.status_code == status
    assert found.diagnostic is not None and diagnostic in found.diagnostic
    assert found.reporting_mta == mta
    assert found.recipient == recipient
    assert found.original_message_id == f"<{mail_id}.a1b2c3d4@ens.example.jp>"


def test_a_plain_text_qmail_bounce_to_the_bare_address_is_found_by_the_original_message_id() -> None:
    found = read("qmail", f"bounce@{DOMAIN}")
    assert isinstance(found, Bounce), found
    assert found.mail_id is None
    assert found.original_message_id == "<5e6f0a1b2c3d4e5f60718293a4b5c6d7.a1b2c3d4@ens.example.jp>"
    assert found.kind is BounceKind.HARD
    assert found.status_code == "5.1.1"
    assert found.diagnostic == "<sato@example.net>: Sorry, no mailbox here by that name. (#5.1.1)"
    assert found.recipient == "sato@example.net"


def test_a_dsn_sent_to_the_postmaster_finds_the_mail_by_the_envelope_sender_it_reports() -> None:
    found = read("postfix", f"postmaster@{DOMAIN}")
    assert isinstance(found, Bounce)
    assert found.mail_id == "3f2a9c41d0b7e8a65c14f0e2d9b3a871"  # X-Postfix-Sender / the returned Return-Path


@pytest.mark.parametrize(
    ("name", "rcpt", "why"),
    [
        ("autoreply", verp("7d3e1f0a5b9c2846e1d7a0b3c4f5e6a7"), Dropped.AUTO_REPLY),
        ("out_of_office", verp("1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"), Dropped.AUTO_REPLY),
        ("spam", f"postmaster@{DOMAIN}", Dropped.NOT_A_BOUNCE),
    ],
)
def test_auto_replies_out_of_office_and_spam_are_not_bounces(name: str, rcpt: str, why: Dropped) -> None:
    assert read(name, rcpt) is why


def test_a_bounce_that_names_no_mail_of_ours_is_dropped_as_unknown() -> None:
    raw = (FIXTURES / "qmail.eml").read_bytes().replace(b"Message-ID: <5e6f", b"X-Old-Id: <5e6f")
    assert recognise(raw, [f"bounce@{DOMAIN}"], DOMAIN) is Dropped.UNKNOWN_MAIL


def test_the_idempotency_key_is_the_same_for_a_redelivered_report_and_valid_for_the_contract() -> None:
    first = read("postfix", verp("3f2a9c41d0b7e8a65c14f0e2d9b3a871"))
    again = read("postfix", verp("3f2a9c41d0b7e8a65c14f0e2d9b3a871"))
    other = read("gmail", verp("e41b7a9d03c25f68b1e9d4a7c0f3b2e6"))
    assert isinstance(first, Bounce) and isinstance(again, Bounce) and isinstance(other, Bounce)
    assert first.request_id == again.request_id != other.request_id
    command = command_for(first)
    assert RecordBounce.model_validate_json(command.model_dump_json()) == command


def test_a_report_without_a_message_id_is_keyed_by_its_bytes() -> None:
    raw = (FIXTURES / "qmail.eml").read_bytes().replace(b"Message-Id: <2026", b"X-Was: <2026")
    a, b = recognise(raw, [f"bounce@{DOMAIN}"], DOMAIN), recognise(raw, [f"bounce@{DOMAIN}"], DOMAIN)
    assert isinstance(a, Bounce) and isinstance(b, Bounce)
    assert a.report_id.startswith("sha256:") and a.request_id == b.request_id


def test_rcpt_is_taken_only_for_verp_and_the_bare_addresses_of_the_bounce_domain() -> None:
    assert accepts_recipient(verp("3f2a9c41d0b7e8a65c14f0e2d9b3a871"), DOMAIN)
    assert accepts_recipient(f"<BOUNCE+3F2A9C41D0B7E8A65C14F0E2D9B3A871@{DOMAIN.upper()}>", DOMAIN)
    assert accepts_recipient(f"postmaster@{DOMAIN}", DOMAIN)
    assert accepts_recipient(f"bounce@{DOMAIN}", DOMAIN)
    assert not accepts_recipient("bounce+3f2a9c41@example.com", DOMAIN)
    assert not accepts_recipient(f"someone@{DOMAIN}", DOMAIN)
    assert not accepts_recipient(f"bounce+a@b@{DOMAIN}", DOMAIN)
    assert not accepts_recipient("", DOMAIN)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \r\n\r\n\x80\x81",
        b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n",
        b'Content-Type: multipart/report; boundary="\r\n\r\n--\r\n',
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n" * 200,
        b"Content-Type: text/plain; charset=no-such-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@",
    ],
)
def test_broken_mime_is_dropped_never_raised(raw: bytes) -> None:
    assert isinstance(recognise(raw, [f"postmaster@{DOMAIN}"], DOMAIN), Dropped | Bounce)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["postfix", "exim", "qmail", "outlook"]), st.integers(0, 4000))
def test_any_bytes_spliced_into_a_bounce_never_raise(noise: bytes, name: str, at: int) -> None:
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    spliced = raw[:at] + noise + raw[at:]
    assert isinstance(recognise(spliced, [verp("3f2a9c41d0b7e8a65c14f0e2d9b3a871")], DOMAIN), Dropped | Bounce)


def test_every_report_fits_the_bus_bounds_so_the_notifier_never_refuses_a_real_bounce() -> None:
    long_diagnostic = b"550 5.1.1 " + b"mailbox unavailable\x00\x7f\t" * 400
    raw = (
        (FIXTURES / "postfix.eml")
        .read_bytes()
        .replace(b"Diagnostic-Code: smtp; 550 5.1.1", b"Diagnostic-Code: smtp; " + long_diagnostic)
    )
    found = [read(name, verp(mail_id)) for name, mail_id, *_ in BOUNCES]
    found.append(recognise(raw, [verp("3f2a9c41d0b7e8a65c14f0e2d9b3a871")], DOMAIN))
    for bounce in found:
        assert isinstance(bounce, Bounce)
        _, violations = limits.parse(command_for(bounce).model_dump_json().encode())
        assert violations == [], violations
    assert found[-1].diagnostic is not None and found[-1].diagnostic.startswith("550 5.1.1 mailbox unavailable mailbox")


def test_a_report_that_gave_up_after_temporary_failures_is_hard_and_a_delay_warning_soft() -> None:
    delayed = (FIXTURES / "postfix_delayed.eml").read_bytes()
    expired = delayed.replace(b"Action: delayed", b"Action: failed").replace(
        b"Subject: Delayed Mail (still being retried)", b"Subject: Undelivered Mail Returned to Sender"
    )
    rcpt = [verp("9b81e0f4c2a7d3561e08b4f92c7a5d30")]
    gave_up, warning = recognise(expired, rcpt, DOMAIN), recognise(delayed, rcpt, DOMAIN)
    assert isinstance(gave_up, Bounce) and isinstance(warning, Bounce)
    assert (gave_up.kind, gave_up.status_code) == (BounceKind.HARD, "4.4.1")  # the mail was never delivered
    assert (warning.kind, warning.status_code) == (BounceKind.SOFT, "4.4.1")
