"""Bulk CSV: both encodings, BOM, full-width and half-width input, every bad cell at once, limits."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest

from contracts.common import ErrorCode
from contracts.filing import FilingKind
from services.filing.domain.bulk_csv import HEADER, TooLarge, parse
from services.runtime.errors import InvalidInput

TODAY = date(2026, 11, 26)
KIND = FilingKind.EMPLOYMENT_CONTRACT_CHANGE
LIMIT = 2 * 1024 * 1024
HEAD = ",".join(HEADER) + "\r\n"


def csv_bytes(rows: list[str], encoding: str = "utf-8") -> bytes:
    return (HEAD + "".join(r + "\r\n" for r in rows)).encode(encoding)


def refusal(data: bytes, kind: FilingKind = KIND) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        parse(data, kind, TODAY, LIMIT)
    return err.value


@pytest.mark.parametrize("name", ["bulk_example_cp932.csv", "bulk_example_utf8.csv"])
def test_the_shipped_examples_are_accepted_in_both_encodings(name):
    data = resources.files("services.filing").joinpath(f"data/{name}").read_bytes()
    parsed = parse(data, KIND, TODAY, LIMIT)
    assert [p.name_latin for p in parsed.persons] == ["NGUYEN VAN AN", "SANTOS MARIA CLARA", "PUTRA BUDI"]
    assert parsed.encoding == ("cp932" if "cp932" in name else "utf-8-sig")


def test_the_shipped_template_is_the_header_the_parser_expects():
    data = resources.files("services.filing").joinpath("data/bulk_template.csv").read_bytes()
    assert data.decode("cp932").strip() == ",".join(HEADER)


@pytest.mark.parametrize("encoding", ["cp932", "shift_jis", "utf-8", "utf-8-sig"])
def test_full_width_digits_letters_and_half_width_katakana_are_normalised_in_every_encoding(encoding):
    row = "ﾍﾞﾄﾅﾑ,ＮＧＵＹＥＮ　ＶＡＮ　ＡＮ,男,１９９８/０４/０１,ａｂ１２３４５６７８ｃｄ,２０２６年１０月１日,ｺﾝﾋﾞﾆ"
    if encoding == "shift_jis":  # plain Shift_JIS has no full-width lowercase issue but keep it encodable
        row = row.replace("ａｂ", "ＡＢ").replace("ｃｄ", "ＣＤ")
    parsed = parse(csv_bytes([row], encoding), KIND, TODAY, LIMIT)
    (p,) = parsed.persons
    assert p.nationality == "VNM"
    assert p.name_latin == "NGUYEN VAN AN"
    assert p.date_of_birth == date(1998, 4, 1)
    assert p.residence_card_number == "AB12345678CD"
    assert p.event_date == date(2026, 10, 1)
    assert p.remarks == "ｺﾝﾋﾞﾆ"  # 備考 is stored as written (checked normalised only)


def test_a_bom_is_detected_and_not_part_of_the_first_header():
    data = b"\xef\xbb\xbf" + csv_bytes(["VNM,NGUYEN VAN AN,男,1998-04-01,AB12345678CD,2026-10-01,"])
    assert parse(data, KIND, TODAY, LIMIT).encoding == "utf-8-sig"


def test_every_bad_cell_is_reported_at_once_with_row_column_and_japanese_reason():
    rows = [
        "VNM,NGUYEN VAN AN,男,1998-04-01,AB12345678CD,2026-10-01,",  # row 1 fine
        "ZZZ,グエン,X,1998-13-01,AB1234567CD,,",  # row 2: five bad cells
        "VNM,TRAN THI B,女,2030-01-01,AB12345678CD,2026-10-01,",  # row 3: future birth, duplicate card
    ]
    err = refusal(csv_bytes(rows, "cp932"))
    got = {(f.row, f.column, f.code) for f in err.fields}
    assert got == {
        (2, "国籍・地域", "unknown_code"),
        (2, "氏名（英字）", "not_latin"),
        (2, "性別", "choice"),
        (2, "生年月日", "date"),
        (2, "在留カード番号", "pattern"),
        (2, "事由発生日", "required"),
        (3, "生年月日", "in_future"),
        (3, "在留カード番号", "duplicate"),
    }
    paths = {f.field for f in err.fields}
    assert "persons.1.residence_card_number" in paths and "persons.2.date_of_birth" in paths
    assert all(any("\u3040" <= ch <= "\u9fff" for ch in f.message) for f in err.fields)


def test_300_persons_are_accepted_and_301_are_refused_with_a_message_to_split():
    rows = [f"VNM,PERSON {chr(65 + i % 26)},男,1990-01-01,AB{i:08d}CD,2026-10-01," for i in range(301)]
    assert len(parse(csv_bytes(rows[:300]), KIND, TODAY, LIMIT).persons) == 300
    err = refusal(csv_bytes(rows))
    (f,) = err.fields
    assert f.field == "persons" and f.code == "too_many"
    assert "分けて" in f.message and "301" in f.message


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (HEAD.encode(), "no_persons"),
        ("名前,カード\r\nA,B\r\n".encode("cp932"), "header"),
        (b"\xff\xfe\xfd binary \xfd\xff", "encoding"),
        ('国籍・地域,"氏名\x00'.encode(), "malformed"),
    ],
)
def test_empty_malformed_or_wrong_header_files_get_a_clear_refusal(data, code):
    err = refusal(data)
    (f,) = err.fields
    assert f.field == "csv_base64" and f.code == code and f.message


def test_a_file_over_the_limit_is_refused_as_too_large_before_it_is_read():
    with pytest.raises(TooLarge) as err:
        parse(b"x" * (LIMIT + 1), KIND, TODAY, LIMIT)
    assert err.value.code == ErrorCode.TOO_LARGE and "分けて" in err.value.message


def test_a_row_with_more_cells_than_the_template_is_reported():
    err = refusal(csv_bytes(["VNM,A,男,1990-01-01,AB12345678CD,2026-10-01,,extra"]))
    (f,) = err.fields
    assert f.row == 1 and f.code == "too_many_cells"


def test_kinds_without_an_event_date_do_not_require_it():
    parsed = parse(
        csv_bytes(["VNM,NGUYEN VAN AN,男,1998-04-01,AB12345678CD,,"]), FilingKind.ACCEPTANCE_PERIODIC_REPORT, TODAY, LIMIT
    )
    assert parsed.persons[0].event_date is None
