"""The edge's bounds on every command body (issue 16), without a broker: what is refused, with
which code and field, and that a good body passes untouched."""

from __future__ import annotations

import json
from datetime import date

import pytest

from contracts import auth as a
from contracts import filing as f
from contracts.common import ErrorCode
from services.runtime import limits
from services.runtime.audit import MAX_RECORD_BYTES, bounded_record
from services.runtime.errors import ContractRefused, check_command
from services.runtime.limits import BodyRefused

TODAY = date(2027, 4, 2)


def refused(subject: str, body: bytes) -> ContractRefused:
    with pytest.raises(ContractRefused) as err:
        check_command(subject, body, TODAY)
    return err.value


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "too_large"),
        (b'{"a":' + b"[" * 5_000 + b"]" * 5_000 + b"}", "too_deep"),
        (b'{"a":' + b"[" * 13 + b"]" * 13 + b"}", "too_deep"),
        (b'{"a":' + b"9" * 5_000 + b"}", "number_out_of_range"),
        (b'{"a":9007199254740993}', "number_out_of_range"),
        (b'{"a":1e999}', "number_out_of_range"),
        (b'{"a":NaN}', "number_out_of_range"),
        (b'{"a":"\xff"}', "encoding"),
        (b'{"a":', "json_invalid"),
    ],
)
def test_a_body_that_cannot_be_read_within_the_limits_is_refused_as_a_whole(body, code):
    with pytest.raises(BodyRefused) as err:
        limits.parse(body)
    assert [(v.field, v.code) for v in err.value.violations] == [("(body)", code)]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("\\ud800", "invalid_character"),
        ("a\\u0000b", "control_character"),
        ("a\\u001bb", "control_character"),
        ("株式会社\\r\\nBcc: x@evil.example", "line_break"),
        ("a\\u2028b", "line_break"),
        ("x" * 257, "too_long"),
    ],
)
def test_a_single_line_field_refuses_surrogates_controls_line_breaks_and_length(value, code):
    _, violations = limits.parse(('{"organisation":{"name":"' + value + '"}}').encode())
    assert [(v.field, v.code) for v in violations] == [("organisation.name", code)]


def test_free_text_keeps_its_line_breaks_and_its_own_longer_bound():
    _, violations = limits.parse(json.dumps({"persons": [{"remarks": "一行目\r\n二行目\t" + "x" * 3000}]}).encode())
    assert violations == []
    _, violations = limits.parse(json.dumps({"persons": [{"remarks": "x" * 4001}]}).encode())
    assert [(v.field, v.code) for v in violations] == [("persons.0.remarks", "too_long")]


def test_a_number_is_not_taken_for_a_date_time():
    err = refused(f.PurgeExpiredFilings.SUBJECT, b'{"as_of": 1700000000}')
    assert [(fe.field, fe.code) for fe in err.fields] == [("as_of", "datetime_type")]


def test_a_login_body_over_64_kib_is_too_large_before_it_is_read():
    err = refused(a.Login.SUBJECT, b'{"auth_id":"' + b"x" * 70_000 + b'","password":"x"}')
    assert err.code == ErrorCode.TOO_LARGE and err.details == {"max_bytes": limits.DEFAULT_MAX_BODY}


def test_a_lone_surrogate_in_a_login_is_a_field_refusal_not_an_internal_error():
    err = refused(a.Login.SUBJECT, b'{"auth_id":"\\ud800","password":"Secret#123abc"}')
    assert err.code == ErrorCode.VALIDATION
    assert [(fe.field, fe.code, fe.label) for fe in err.fields] == [("auth_id", "invalid_character", "認証ID")]


def test_a_good_body_passes():
    body = a.Login(auth_id="sakura-user", password="Secret#123abc").model_dump_json().encode()
    check_command(a.Login.SUBJECT, body, TODAY)


def test_an_audit_record_is_bounded_and_always_encodes():
    from datetime import UTC, datetime

    from contracts.common import AuditRecord

    record = AuditRecord(
        at=datetime(2027, 4, 1, tzinfo=UTC),
        service="auth",
        command="Login",
        actor="\ud800" + "x" * 1_000_000,
        target="t\r\nBcc: x",
        result="login_failed",
        details={"fields": ["f" * 10_000] * 10_000, "nested": {"a": {"b": {"c": {"d": {"e": 1}}}}}},
    )
    data = bounded_record(record)
    assert len(data) <= MAX_RECORD_BYTES
    decoded = json.loads(data)
    assert len(decoded["actor"]) <= 256 and "\r" not in decoded["target"]
