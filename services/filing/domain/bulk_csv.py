"""Reading a bulk CSV made from the template (一括届出, Q14–15) into persons, or into the list
of every bad cell (row, column, Japanese reason).

Spreadsheet tools on Japanese Windows write CP932 (Shift_JIS); others write UTF-8 with or
without a BOM. A BOM decides; otherwise the bytes that are valid UTF-8 are read as UTF-8 (CP932
text with any Japanese in it practically never is), and the rest as CP932. A UTF-16 file (its
BOM) is an encoding problem; a NUL byte in a file of either encoding makes it unreadable as CSV
(`malformed`), as docs/BULK-TEMPLATE.md says.

Cells are NFKC normalised before they are checked, so full-width digits and letters become
half-width and half-width katakana full-width, as a person typing into a spreadsheet would
expect. 備考 is free text: it is checked (length, no control characters) but stored as written,
so ① stays ① and ㈱ stays ㈱.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from contracts.common import ErrorCode, FieldError
from contracts.filing import MAX_PERSONS, FilingKind, Person
from services.filing.domain import nationalities, persons
from services.runtime.errors import DomainError, InvalidInput, field_error

# The template's columns, in order: (header as printed, Person field).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("国籍・地域", "nationality"),
    ("氏名（英字）", "name_latin"),
    ("性別", "sex"),
    ("生年月日", "date_of_birth"),
    ("在留カード番号", "residence_card_number"),
    ("事由発生日", "event_date"),
    ("備考", "remarks"),
)
HEADER = tuple(h for h, _ in COLUMNS)
REMARKS_AT = [f for _, f in COLUMNS].index("remarks")
FILE_FIELD = "csv_base64"
FILE_LABEL = "CSVファイル"

_SEX = {
    "男": "male",
    "男性": "male",
    "M": "male",
    "MALE": "male",
    "女": "female",
    "女性": "female",
    "F": "female",
    "FEMALE": "female",
}
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{4})(\d{2})(\d{2})")
REMARKS_MAX = 1000
# NUL is left out: it is `malformed` in either encoding (checked in `parse`).
_GARBAGE = re.compile("[\ue000-\uf8ff\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class ParsedCsv:
    persons: list[Person]
    encoding: str  # "utf-8-sig", "utf-8" or "cp932"


class TooLarge(DomainError):
    code = ErrorCode.TOO_LARGE
    default_message = "ファイルが大きすぎます。"


def _file_error(code: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields=[field_error(FILE_FIELD, code, message, label=FILE_LABEL)])


def decode(data: bytes) -> tuple[str, str]:
    message = "文字コードを判別できません。テンプレートのとおり Shift_JIS（CP932）または UTF-8 で保存してください。"
    if data.startswith(_UTF16_BOMS):
        raise _file_error("encoding", message)
    if data.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp932"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise _file_error("encoding", message) from None
    # Python's CP932 maps unused bytes to private-use characters instead of failing: a binary
    # file or another encoding shows up as those.
    if encoding == "cp932" and _GARBAGE.search(text):
        raise _file_error("encoding", message)
    return text, encoding


def _norm(cell: str) -> str:
    return unicodedata.normalize("NFKC", cell).strip()


def _parse_date(text: str) -> date | None:
    m = _DATE.fullmatch(text)
    if not m:
        return None
    y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        return None


def parse(data: bytes, kind: FilingKind, today: date, max_bytes: int) -> ParsedCsv:
    """The persons of an uploaded CSV, or InvalidInput naming every bad cell, or TooLarge."""
    if len(data) > max_bytes:
        raise TooLarge(
            f"ファイルが大きすぎます（{len(data):,}バイト）。{max_bytes:,}バイト以下にするか、"
            f"{MAX_PERSONS}人以下のファイルに分けてください。",
            details={"size": len(data), "max_bytes": max_bytes},
        )
    text, encoding = decode(data)
    if not text.strip():
        raise _file_error("empty", "ファイルが空です。テンプレートに対象者を記入してください。")
    if "\x00" in text:
        raise _file_error("malformed", "CSVファイルとして読み取れません。テンプレートから作成したCSVを指定してください。")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise _file_error(
            "malformed", "CSVファイルとして読み取れません。テンプレートから作成したCSVを指定してください。"
        ) from None
    header = tuple(_norm(c) for c in rows[0])
    while header and header[-1] == "":  # spreadsheets pad rows with empty cells
        header = header[:-1]
    if header != tuple(_norm(h) for h in HEADER):
        raise _file_error(
            "header",
            "1行目（見出し）がテンプレートと異なります。見出しは「" + ",".join(HEADER) + "」としてください。",
        )
    body = [(n, r) for n, r in enumerate(rows[1:], start=1) if any(c.strip() for c in r)]
    if not body:
        raise _file_error("no_persons", "対象者が1人も記入されていません。")
    if len(body) > MAX_PERSONS:
        raise InvalidInput(
            f"1回の届出は{MAX_PERSONS}人までです。",
            fields=[
                field_error(
                    "persons",
                    "too_many",
                    f"対象者は1回の届出につき{MAX_PERSONS}人までです（{len(body)}人記入されています）。"
                    f"{MAX_PERSONS}人以下のファイルに分けて届け出てください。",
                    label="対象者",
                )
            ],
        )
    errors: list[FieldError] = []
    out: list[Person] = []
    cards: dict[str, int] = {}
    for index, (row_no, raw) in enumerate(body):
        row_errors, person = _row(kind, index, row_no, raw, today, cards)
        errors.extend(row_errors)
        if person is not None:
            out.append(person)
    if errors:
        raise InvalidInput(
            f"CSVファイルに誤りが{len(errors)}件あります。各行・各列のメッセージを確認してください。", fields=errors
        )
    return ParsedCsv(persons=out, encoding=encoding)


def _row(
    kind: FilingKind, index: int, row_no: int, raw: list[str], today: date, cards: dict[str, int]
) -> tuple[list[FieldError], Person | None]:
    errors: list[FieldError] = []

    def bad(field: str, column: str, code: str, message: str) -> None:
        errors.append(
            field_error(
                f"persons.{index}.{field}", code, message, label=persons.LABELS.get(field, column), row=row_no, column=column
            )
        )

    cells = [_norm(c) for c in raw]
    remarks_as_written = raw[REMARKS_AT] if len(raw) > REMARKS_AT else ""
    while len(cells) > len(COLUMNS) and cells[-1] == "":
        cells.pop()
    if len(cells) > len(COLUMNS):
        errors.append(
            field_error(
                f"persons.{index}", "too_many_cells", f"列が多すぎます（{len(COLUMNS)}列まで）。", row=row_no, column=None
            )
        )
        return errors, None
    cells += [""] * (len(COLUMNS) - len(cells))
    cell = dict(zip((f for _, f in COLUMNS), cells, strict=True))  # padded to the columns above
    column = {f: h for h, f in COLUMNS}

    values: dict[str, object] = {}
    found = nationalities.resolve(cell["nationality"]) if cell["nationality"] else None
    if not cell["nationality"]:
        bad("nationality", column["nationality"], "required", "国籍・地域を入力してください。")
    elif found is None:
        bad("nationality", column["nationality"], "unknown_code", "国籍・地域コード表にない値です。")
    else:
        values["nationality"] = found.code

    name = re.sub(r"\s+", " ", cell["name_latin"])
    if reason := persons.check_name(name):
        bad("name_latin", column["name_latin"], *reason)
    else:
        values["name_latin"] = name

    sex = _SEX.get(cell["sex"].upper())
    if not cell["sex"]:
        bad("sex", column["sex"], "required", "性別を入力してください。")
    elif sex is None:
        bad("sex", column["sex"], "choice", "「男」または「女」を入力してください。")
    else:
        values["sex"] = sex

    born = _parse_date(cell["date_of_birth"])
    if not cell["date_of_birth"]:
        bad("date_of_birth", column["date_of_birth"], "required", "生年月日を入力してください。")
    elif born is None:
        bad("date_of_birth", column["date_of_birth"], "date", "日付（例: 1998/04/01）として読み取れません。")
    elif reason := persons.check_birth(born, today):
        bad("date_of_birth", column["date_of_birth"], *reason)
    else:
        values["date_of_birth"] = born

    card = re.sub(r"[\s\-]", "", cell["residence_card_number"]).upper()
    if not card:
        bad("residence_card_number", column["residence_card_number"], "required", "在留カード番号を入力してください。")
    elif reason := persons.check_card(card):
        bad("residence_card_number", column["residence_card_number"], *reason)
    elif card in cards:
        bad(
            "residence_card_number",
            column["residence_card_number"],
            "duplicate",
            f"同じ在留カード番号が{cards[card]}行目にもあります。",
        )
    else:
        cards[card] = row_no
        values["residence_card_number"] = card

    event: date | None = None
    if cell["event_date"]:
        event = _parse_date(cell["event_date"])
        if event is None:
            bad("event_date", column["event_date"], "date", "日付（例: 2026/04/01）として読み取れません。")
    if not (cell["event_date"] and event is None):
        valid_birth = values.get("date_of_birth")
        if reason := persons.check_event_date(kind, event, valid_birth if isinstance(valid_birth, date) else None, today):
            bad("event_date", column["event_date"], *reason)
        else:
            values["event_date"] = event

    if len(remarks_as_written) > REMARKS_MAX:
        bad("remarks", column["remarks"], "too_long", f"{REMARKS_MAX}文字以内で入力してください。")
    elif _CONTROL_IN_TEXT.search(remarks_as_written):
        bad("remarks", column["remarks"], "control_character", "制御文字は入力できません。")
    else:
        values["remarks"] = remarks_as_written if cell["remarks"] else None

    if errors:
        return errors, None
    return [], Person.model_validate(values)
