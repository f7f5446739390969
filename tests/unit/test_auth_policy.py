"""The auth-ID and password rules (SPEC §1, Q24-36) against an independent statement of them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from services.auth.domain import policy

# The rules restated from the SPEC text, deliberately in another form (regular expressions).
PUBLISHED = "$%&=@_#*+-?!"
CHARSET = re.compile(r"[A-Za-z0-9" + re.escape(PUBLISHED) + r"]*")


def spec_auth_id_ok(value: str) -> bool:
    return 6 <= len(value) <= 20 and CHARSET.fullmatch(value) is not None


def spec_password_ok(value: str, auth_id: str) -> bool:
    return (
        8 <= len(value) <= 32
        and CHARSET.fullmatch(value) is not None
        and re.search(r"[A-Za-z]", value) is not None
        and re.search(r"[0-9]", value) is not None
        and re.search("[" + re.escape(PUBLISHED) + "]", value) is not None
        and auth_id.lower() not in value.lower()
    )


# Mostly allowed characters, some near misses (full-width, other ASCII symbols, non-ASCII letters).
near = st.sampled_from(list("AbZz09" + PUBLISHED + " .,/\\~^()[]{}<>:;'\"`|ＡａＺ０１＃é漢ｱ\t"))
candidates = st.text(alphabet=st.one_of(st.sampled_from(list("aZ5" + PUBLISHED)), near), max_size=40)


@settings(max_examples=600)
@given(candidates)
def test_auth_id_policy_matches_the_rules(value):
    assert (policy.auth_id_errors(value) == []) == spec_auth_id_ok(value)


@settings(max_examples=600)
@given(candidates, st.text(alphabet="abcXYZ12$", min_size=6, max_size=8))
def test_password_policy_matches_the_rules(value, auth_id):
    assert (policy.password_errors(value, auth_id) == []) == spec_password_ok(value, auth_id)


@given(st.text(alphabet="abcXYZ123$%", min_size=6, max_size=10), st.text(alphabet="#-9k", min_size=1, max_size=6))
def test_a_password_containing_the_auth_id_in_any_case_is_refused(auth_id, extra):
    password = extra + auth_id.swapcase() + "a1!"
    codes = {e.code for e in policy.password_errors(password, auth_id)}
    assert "contains_auth_id" in codes


def test_every_password_refusal_names_its_field_and_reason_in_japanese():
    errors = policy.password_errors("ab", "someone", field="new_password", label="新しいパスワード")
    assert {e.code for e in errors} == {"length", "needs_digit", "needs_symbol"}
    for e in errors:
        assert e.field == "new_password" and e.label == "新しいパスワード"
        assert any("\u3040" <= ch <= "\u9fff" for ch in e.message)


def test_published_symbols_are_exactly_the_agencys_set():
    assert frozenset("$%&=@_#*+-?!") == policy.SYMBOLS
    assert policy.auth_id_errors("abc.def") and policy.auth_id_errors("abc>def") and not policy.auth_id_errors("a$%&=@_#*+-?!")


def reference_check_digit(base12: str) -> int:
    # National Tax Agency: 9 - (Σ_{n=1..12} P_n × Q_n mod 9), P_n counted from the lowest digit,
    # Q_n = 1 for odd n and 2 for even n.
    total = 0
    for n in range(1, 13):
        p = int(base12[12 - n])
        total += p * (1 if n % 2 else 2)
    return 9 - total % 9


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(0, 9))
def test_corporate_number_check_digit(base, digit):
    number = f"{digit}{base}"
    assert policy.corporate_number_is_valid(number) == (digit == reference_check_digit(base))


def test_known_corporate_numbers():
    assert policy.corporate_number_is_valid("1180301018771")  # Toyota Motor Corporation
    assert not policy.corporate_number_is_valid("2180301018771")
    assert policy.organisation_id_errors("2180301018771")[0].code == "check_digit"
    assert policy.organisation_id_errors("118030101877")[0].code == "length"
    assert policy.organisation_id_errors("TOKYO-0001") == []
    assert policy.organisation_id_errors("tokyo 1")[0].code == "pattern"


def test_email_is_validated_by_a_real_validator():
    assert policy.email_errors("taro@example.co.jp") == []
    for bad in ("taro", "taro@", "@example.jp", "taro@@example.jp", "taro@example..jp", "ta ro@example.jp"):
        (err,) = policy.email_errors(bad)
        assert err.code == "email" and err.field == "email"
