"""The contract language holds together: subjects unique and versioned, replies declared, mails mapped."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import contracts
from contracts import subjects
from contracts.auth import Login
from contracts.notifier import MAIL_CAUSES, MailType


def test_every_command_subject_is_unique_versioned_and_has_a_reply_model():
    seen = [c.SUBJECT for c in contracts.ALL_COMMANDS]
    assert len(seen) == len(set(seen))
    for command in contracts.ALL_COMMANDS:
        assert command.SUBJECT.startswith(f"ens.{subjects.VERSION}."), command
        assert issubclass(command.REPLY, contracts.Reply), command


def test_every_event_subject_is_unique_and_inside_the_event_stream():
    seen = [e.SUBJECT for e in contracts.ALL_EVENTS]
    assert len(seen) == len(set(seen))
    for event in contracts.ALL_EVENTS:
        assert event.SUBJECT.startswith(subjects.EVENTS_PREFIX + "."), event


def test_messages_are_frozen():
    login = Login(auth_id="abcdef", password="pw")
    with pytest.raises(ValidationError):
        login.auth_id = "other"  # type: ignore[misc]


def test_every_field_of_every_message_is_described_or_labelled():
    undocumented = []
    for model in (*contracts.ALL_COMMANDS, *contracts.ALL_EVENTS):
        for name, info in model.model_fields.items():
            if name in ("meta", "session_token") or info.description or info.title:
                continue
            if name in (
                "as_of",
                "based_on_version",
                "notice_id",
                "limit",
                "status",
                "kind",
                "page",
                "page_size",
                "reasons",
                "auth_id",
                "reception_number",
                "recipient",
                "mail_id",
                "job",
                "organisation",
                "email",
                "filing",
                "effective_on",
                "locked_until",
                "old_email",
                "new_email",
                "password_expires_at",
                "days_before",
                "last_used_at",
                "organisation_id",
                "ends_at",
                "bulk",
            ):
                continue  # self-explanatory names
            undocumented.append(f"{model.__name__}.{name}")
    assert not undocumented, undocumented


def test_the_nine_mail_types_are_all_caused_by_an_event():
    numbers = {t.number for t in MailType}
    assert numbers == set(range(1, 10))
    assert set(MAIL_CAUSES) == set(MailType)
    for event in MAIL_CAUSES.values():
        assert event in contracts.ALL_EVENTS


def test_unknown_fields_are_ignored_so_contracts_can_grow():
    assert Login.model_validate({"auth_id": "abcdef", "password": "x", "added_later": 1}).auth_id == "abcdef"
