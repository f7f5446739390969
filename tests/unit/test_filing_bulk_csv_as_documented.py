"""The bulk CSV behaves as docs/BULK-TEMPLATE.md says (issue 16): a NUL byte is `malformed` in
CP932 as in UTF-8; a UTF-16 file is an encoding problem; 備考 is stored as written (checked
NFKC-normalised only) and refuses control characters; five bad cells and one unreadable date
are reported together."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.filing import FilingKind
from services.filing.domain.bulk_csv import HEADER, parse
from services.runtime.errors import InvalidInput

TODAY = date(2026, 11, 26)
KIND = FilingKind.EMPLOYMENT_CONTRACT_CHANGE
LIMIT = 2 * 1024 * 1024
HEAD = ",".join(HEADER) + "\r\n"
GOOD = "VNM,NGUYEN VAN AN,男,1998-04-01,AB12345678CD,2026-10-01,"


def refusal(data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        parse(data, KIND, TODAY, LIMIT)
    return err.value


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_a_nul_byte_is_malformed_in_every_encoding(encoding):
    data = (HEAD + "ベトナム,NGUYEN\x00 VAN AN,男,1998-04-01,AB12345678CD,2026-10-01,\r\n").encode(encoding)
    (f,) = refusal(data).fields
    assert (f.field, f.code) == ("csv_base64", "malformed")


def test_a_utf16_file_is_an_encoding_problem_not_malformed():
    (f,) = refusal((HEAD + GOOD + "\r\n").encode("utf-16")).fields
    assert (f.field, f.code) == ("csv_base64", "encoding")


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_remarks_are_stored_as_written_not_nfkc_normalised(encoding):
    remark = "①番 ㈱みなと ｺﾝﾋﾞﾆ　勤務"
    (p,) = parse((HEAD + GOOD + remark + "\r\n").encode(encoding), KIND, TODAY, LIMIT).persons
    assert p.remarks == remark


def test_remarks_with_a_control_character_are_refused_but_line_breaks_are_content():
    err = refusal((HEAD + GOOD + "ベル\x07\r\n").encode("utf-8"))
    assert [(f.field, f.code) for f in err.fields] == [("persons.0.remarks", "control_character")]
    (p,) = parse((HEAD + GOOD + '"一行目\r\n二行目"\r\n').encode("utf-8"), KIND, TODAY, LIMIT).persons
    assert p.remarks == "一行目\r\n二行目"


def test_a_remark_over_1000_characters_is_counted_as_written():
    (f,) = refusal((HEAD + GOOD + "㈱" * 1001 + "\r\n").encode("utf-8")).fields
    assert (f.field, f.code) == ("persons.0.remarks", "too_long")
    (p,) = parse((HEAD + GOOD + "㈱" * 1000 + "\r\n").encode("utf-8"), KIND, TODAY, LIMIT).persons
    assert p.remarks == "㈱" * 1000  # NFKC would have made it 3,000 characters


def test_five_rule_errors_and_one_unreadable_value_in_four_rows_are_reported_together():
    rows = [
        "ZZZ,NGUYEN VAN AN,男,1998-04-01,AB12345678CD,2026-10-01,",  # unknown nationality
        "VNM,グエン,男,1998-04-01,AB12345678CE,2026-10-01,",  # not Latin
        "VNM,SANTOS MARIA,女,2099-04-01,AB1234567CD,2026-10-01,",  # birth in the future, bad card
        "VNM,PUTRA BUDI,男,1998-04-01,AB12345678CF,2099-10-01," + "x" * 1001,  # event in the future, remark too long
        "VNM,PUTRA BUDI,男,1998/13/45,AB12345678CG,2026-10-01,",  # a date that is no date
    ]
    err = refusal((HEAD + "".join(r + "\r\n" for r in rows)).encode("cp932"))
    got = [(f.row, f.field, f.code) for f in err.fields]
    assert got == [
        (1, "persons.0.nationality", "unknown_code"),
        (2, "persons.1.name_latin", "not_latin"),
        (3, "persons.2.date_of_birth", "in_future"),
        (3, "persons.2.residence_card_number", "pattern"),
        (4, "persons.3.event_date", "in_future"),
        (4, "persons.3.remarks", "too_long"),
        (5, "persons.4.date_of_birth", "date"),
    ]
