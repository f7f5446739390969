"""The rules a filing's persons must meet (SPEC §2 Persons, Q8/Q9/Q14/Q18).

Every offending field is reported at once, with a Japanese reason and its path
(`persons.3.residence_card_number`), so a form or a CSV report can show each next to its cell.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from pydantic import TypeAdapter, ValidationError

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
    reasons = _reasons(kind, person.model_dump(), today)
    return [_err(index, field, *reason) for field, reason in reasons.items()]


def _reasons(kind: FilingKind | None, values: dict[str, Any], today: date) -> dict[str, Reason]:
    """The rule reasons of the fields present in `values` (typed already); a field missing from
    `values` (it failed its type) is skipped, and so is every rule that needs it."""
    out: dict[str, Reason | None] = {}
    if "nationality" in values:
        out["nationality"] = check_nationality(values["nationality"])
    if "name_latin" in values:
        out["name_latin"] = check_name(values["name_latin"])
    born = values.get("date_of_birth")
    if born is not None:
        out["date_of_birth"] = check_birth(born, today)
        if out["date_of_birth"]:
            born = None  # an event date is only compared with a birth date that is itself valid
    if "residence_card_number" in values:
        out["residence_card_number"] = check_card(values["residence_card_number"])
    if "event_date" in values:
        event = values["event_date"]
        if kind is not None:
            out["event_date"] = check_event_date(kind, event, born, today)
        elif event is not None:  # the kind is unknown (a change names only the filing): dates only
            out["event_date"] = check_event_date(FilingKind.EMPLOYMENT_CONTRACT_CHANGE, event, born, today)
    return {field: reason for field, reason in out.items() if reason is not None}


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


# ---- a refusal that names everything ---------------------------------------------------------

_FIELD_ORDER = {name: i for i, name in enumerate(Person.model_fields)}
_TYPED: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(info.annotation) for name, info in Person.model_fields.items() if info.annotation is not None
}


def complete_refusal(body: Any, type_errors: list[FieldError], today: date) -> list[FieldError]:
    """A submission or change whose body did not fit the contract (a date that is not a date, a
    remark over 1,000 characters): the contract's complaints plus every rule reason of the
    fields that did fit, of every person, so the filer sees all of them in one reply (Q18).
    `body` is the parsed JSON (within the edge's limits)."""
    raw_persons = body.get("persons") if isinstance(body, dict) else None
    if not isinstance(raw_persons, list):
        return type_errors
    raw_kind = body.get("kind")
    kind = FilingKind(raw_kind) if raw_kind in set(FilingKind) else None
    failed = {e.field for e in type_errors}
    rules: list[FieldError] = [] if "persons" in failed else count_errors(len(raw_persons))
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_persons):
        if not isinstance(raw, dict) or f"persons.{i}" in failed:
            continue
        values: dict[str, Any] = {}
        for field, adapter in _TYPED.items():
            if f"persons.{i}.{field}" in failed:
                continue
            if field not in raw:
                if not Person.model_fields[field].is_required():
                    values[field] = Person.model_fields[field].default
                continue
            try:
                values[field] = adapter.validate_json(json.dumps(raw[field]), strict=True)
            except ValidationError:
                continue  # the contract reported it already
        rules.extend(_err(i, field, *reason) for field, reason in _reasons(kind, values, today).items())
        card = values.get("residence_card_number")
        if isinstance(card, str):
            first = seen.setdefault(card, i)
            if first != i:
                rules.append(_err(i, "residence_card_number", "duplicate", f"同じ在留カード番号が{first + 1}人目にもあります。"))
    return sorted(type_errors + rules, key=_position)


def _position(error: FieldError) -> tuple[int, int, int]:
    parts = error.field.split(".")
    if len(parts) >= 2 and parts[0] == "persons" and parts[1].isdigit():
        field = parts[2] if len(parts) > 2 else ""
        return (1, int(parts[1]), _FIELD_ORDER.get(field, -1))
    return (0, 0, 0)
