"""The rules a filing's persons must meet (SPEC §2 Persons, Q8/Q9/Q14/Q18).

Every offending field is reported at once, with a Japanese reason and its path
(`persons.3.residence_card_number`), so a form or a CSV report can show each next to its cell.
"""

from __future__ import annotations

import re
from datetime import date

from contracts.common import FieldError
from contracts.filing import MAX_PERSONS, FilingKind, Person
from services.filing.domain import nationalities
from services.runtime.errors import field_error

RESIDENCE_CARD = re.compile(r"[A-Z]{2}[0-9]{8}[A-Z]{2}")
# As printed on the residence card: Latin capitals and the separators cards use.
NAME_LATIN = re.compile(r"[A-Za-z][A-Za-z ,.'\-]*")
NAME_MAX = 100
EARLIEST_BIRTH = date(1900, 1, 1)

LABELS = {name: (info.title or name) for name, info in Person.model_fields.items()}


def _err(index: int, field: str, code: str, message: str) -> FieldError:
    return field_error(f"persons.{index}.{field}", code, message, label=LABELS[field])


def count_errors(count: int) -> list[FieldError]:
    if count < 1:
        return [field_error("persons", "required", "対象者を1人以上指定してください。", label="対象者")]
    if count > MAX_PERSONS:
        return [
            field_error(
                "persons",
                "too_many",
                f"対象者は1回の届出につき{MAX_PERSONS}人までです（{count}人指定されています）。"
                f"{MAX_PERSONS}人以下に分けて届け出てください。",
                label="対象者",
            )
        ]
    return []


Reason = tuple[str, str]  # (stable code, Japanese message)


def check_nationality(code: str) -> Reason | None:
    if nationalities.by_code().get(code) is None:
        return ("unknown_code", "国籍・地域コード表にない値です。")
    return None


def check_name(name: str) -> Reason | None:
    if not name.strip():
        return ("required", "氏名（英字）を入力してください。")
    if len(name) > NAME_MAX:
        return ("too_long", f"{NAME_MAX}文字以内で入力してください。")
    if not NAME_LATIN.fullmatch(name):
        return ("not_latin", "在留カードに記載のとおり、英字（ローマ字）で入力してください。")
    return None


def check_card(number: str) -> Reason | None:
    if not RESIDENCE_CARD.fullmatch(number):
        return ("pattern", "英字2桁・数字8桁・英字2桁の12桁で入力してください（例: AB12345678CD）。")
    return None


def check_birth(born: date, today: date) -> Reason | None:
    if born > today:
        return ("in_future", "未来の日付は入力できません。")
    if born < EARLIEST_BIRTH:
        return ("too_early", "1900年1月1日以降の日付を入力してください。")
    return None


def check_event_date(kind: FilingKind, event: date | None, born: date | None, today: date) -> Reason | None:
    if not kind.spec.needs_event_date:
        return None
    if event is None:
        return ("required", "この届出では事由発生日を入力してください。")
    if event > today:
        return ("in_future", "未来の日付は入力できません。")
    if born is not None and event < born:
        return ("before_birth", "生年月日より前の日付は入力できません。")
    return None


def person_errors(kind: FilingKind, index: int, person: Person, today: date) -> list[FieldError]:
    birth = check_birth(person.date_of_birth, today)
    checks = {
        "nationality": check_nationality(person.nationality),
        "name_latin": check_name(person.name_latin),
        "date_of_birth": birth,
        "residence_card_number": check_card(person.residence_card_number),
        # An event date is only compared with a birth date that is itself valid.
        "event_date": check_event_date(kind, person.event_date, None if birth else person.date_of_birth, today),
    }
    return [_err(index, field, *reason) for field, reason in checks.items() if reason is not None]


def persons_errors(kind: FilingKind, persons: list[Person], today: date) -> list[FieldError]:
    """Every reason the persons cannot be filed; empty means they can."""
    errors = count_errors(len(persons))
    if errors:
        return errors
    seen: dict[str, int] = {}
    for i, person in enumerate(persons):
        errors.extend(person_errors(kind, i, person, today))
        first = seen.setdefault(person.residence_card_number, i)
        if first != i:
            errors.append(_err(i, "residence_card_number", "duplicate", f"同じ在留カード番号が{first + 1}人目にもあります。"))
    return errors
