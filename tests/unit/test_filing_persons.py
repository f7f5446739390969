"""The persons of a filing: every offending field at once, with its path and a Japanese reason."""

from __future__ import annotations

from datetime import date

from contracts.filing import FilingKind, Person, Sex
from services.filing.domain.persons import persons_errors

TODAY = date(2026, 11, 26)


def person(**over) -> Person:
    fields = {
        "nationality": "VNM",
        "name_latin": "NGUYEN VAN AN",
        "sex": Sex.MALE,
        "date_of_birth": date(1998, 4, 1),
        "residence_card_number": "AB12345678CD",
        "event_date": date(2026, 10, 1),
    }
    return Person(**{**fields, **over})


def test_valid_persons_have_no_errors():
    assert persons_errors(FilingKind.MISCONDUCT, [person(), person(residence_card_number="AB12345679CD")], TODAY) == []


def test_every_offending_field_of_every_person_is_named_at_once():
    persons = [
        person(),
        person(nationality="XYZ", name_latin="グエン", residence_card_number="A123456789CD", event_date=None),
        person(date_of_birth=date(2027, 1, 1)),
    ]
    got = {(e.field, e.code) for e in persons_errors(FilingKind.MISCONDUCT, persons, TODAY)}
    assert got == {
        ("persons.1.nationality", "unknown_code"),
        ("persons.1.name_latin", "not_latin"),
        ("persons.1.residence_card_number", "pattern"),
        ("persons.1.event_date", "required"),
        ("persons.2.date_of_birth", "in_future"),
        ("persons.2.residence_card_number", "duplicate"),
    }


def test_residence_card_number_is_two_letters_eight_digits_two_letters():
    for bad in ("AB1234567CD", "AB123456789C", "1B12345678CD", "AB12345678C1", "ab12345678cd"):
        (err,) = persons_errors(FilingKind.SCHOOL_PERIODIC_REPORT, [person(residence_card_number=bad)], TODAY)
        assert err.field == "persons.0.residence_card_number" and err.label == "在留カード番号"


def test_zero_persons_or_more_than_300_are_refused_and_over_300_says_to_split():
    (none,) = persons_errors(FilingKind.SCHOOL_PERIODIC_REPORT, [], TODAY)
    assert none.code == "required"
    many = [person(residence_card_number=f"AB{i:08d}CD") for i in range(301)]
    (err,) = persons_errors(FilingKind.SCHOOL_PERIODIC_REPORT, many, TODAY)
    assert err.code == "too_many" and "分けて" in err.message
    assert persons_errors(FilingKind.SCHOOL_PERIODIC_REPORT, many[:300], TODAY) == []


def test_event_date_is_required_only_by_kinds_that_need_it():
    assert persons_errors(FilingKind.SCHOOL_PERIODIC_REPORT, [person(event_date=None)], TODAY) == []
    (err,) = persons_errors(FilingKind.SCHOOL_ADHOC_REPORT, [person(event_date=None)], TODAY)
    assert err.field == "persons.0.event_date"
