"""The VERP envelope sender: built from a mail id, read back from what a bounce is addressed to."""

from __future__ import annotations

import pytest

from services.notifier.domain.verp import envelope_sender, mail_id_from

MAIL_ID = "0123456789abcdef0123456789abcdef"


def test_the_envelope_sender_carries_the_mail_id_in_the_bounce_domain() -> None:
    assert envelope_sender(MAIL_ID, "bounce.ens.example.jp") == f"bounce+{MAIL_ID}@bounce.ens.example.jp"


def test_the_mail_id_is_read_back_from_our_own_address() -> None:
    address = envelope_sender(MAIL_ID, "bounce.ens.example.jp")
    assert mail_id_from(address, "bounce.ens.example.jp") == MAIL_ID


@pytest.mark.parametrize(
    "address",
    [
        f"<bounce+{MAIL_ID}@bounce.ens.example.jp>",
        f"  bounce+{MAIL_ID}@BOUNCE.ens.example.jp ",
        f"BOUNCE+{MAIL_ID.upper()}@bounce.ens.example.jp",
        f"bounce+{MAIL_ID}@bounce.ens.example.jp.",
    ],
)
def test_what_servers_do_to_an_address_on_the_way_back_is_tolerated(address: str) -> None:
    assert mail_id_from(address, "bounce.ens.example.jp") == MAIL_ID


@pytest.mark.parametrize(
    "address",
    [
        f"bounce+{MAIL_ID}@other.example.jp",
        f"postmaster+{MAIL_ID}@bounce.ens.example.jp",
        "bounce+@bounce.ens.example.jp",
        "bounce+a.b@bounce.ens.example.jp",
        "bounce+m.*.>@bounce.ens.example.jp",
        "not an address",
        "",
    ],
)
def test_an_address_that_is_not_ours_gives_no_mail_id(address: str) -> None:
    assert mail_id_from(address, "bounce.ens.example.jp") is None


@pytest.mark.parametrize(("mail_id", "domain"), [("a@b", "x.jp"), ("", "x.jp"), (MAIL_ID, ""), (MAIL_ID, "a@b")])
def test_no_envelope_sender_is_built_from_a_malformed_id_or_domain(mail_id: str, domain: str) -> None:
    with pytest.raises(ValueError):
        envelope_sender(mail_id, domain)
