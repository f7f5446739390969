"""A filing's life (SPEC §2 Statuses, Q11–12): who may do what, from which status, based on
which version, and which event each step records. Pure: no broker, no store, no keys.

  pending  --change (filer)-------------------> pending
  returned --change (filer, a fix)------------> pending
  pending|returned --withdraw (filer)---------> withdrawn (final)
  pending --complete (officer)----------------> completed (final)
  pending --return (officer, school reports)--> returned
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts.auth import Organisation
from contracts.filing import (
    FilingChanged,
    FilingCompleted,
    FilingFacts,
    FilingKind,
    FilingReturned,
    FilingStatus,
    FilingSubmitted,
    FilingSummary,
    FilingWithdrawn,
)
from contracts.organisations import Role
from services.runtime.errors import DomainError, Forbidden, InvalidInput, NotFound, Stale, field_error
from services.runtime.outbox import EventDraft, draft

REASON_MAX = 500
REASONS_MAX = 20


@dataclass(frozen=True)
class Caller:
    """Who sent a command, as auth's session introspection says."""

    role: Role
    auth_id: str
    email: str
    organisation: Organisation | None

    @property
    def is_officer(self) -> bool:
        return self.role == Role.OFFICER


class FilingRecord(BaseModel):
    """What the filing bucket stores for one filing; `persons` hold ciphertexts only."""

    model_config = ConfigDict(frozen=True)

    reception_number: str
    kind: FilingKind
    status: FilingStatus
    version: int
    organisation: Organisation
    filer_auth_id: str
    filer_email: str
    persons: list[dict[str, str]]
    submitted_at: datetime
    updated_at: datetime
    finalised_at: datetime | None = None
    return_reasons: list[str] = []

    def facts(self) -> FilingFacts:
        return FilingFacts(
            reception_number=self.reception_number,
            kind=self.kind,
            kind_label=self.kind.label,
            person_count=len(self.persons),
            version=self.version,
            organisation=self.organisation,
            filer_auth_id=self.filer_auth_id,
            filer_email=self.filer_email,
            submitted_at=self.submitted_at,
        )

    def summary(self) -> FilingSummary:
        return FilingSummary(
            reception_number=self.reception_number,
            kind=self.kind,
            kind_label=self.kind.label,
            status=self.status,
            status_label=self.status.label,
            version=self.version,
            person_count=len(self.persons),
            organisation_id=self.organisation.organisation_id,
            submitted_at=self.submitted_at,
            updated_at=self.updated_at,
            finalised_at=self.finalised_at,
            return_reasons=self.return_reasons,
        )


Decision = tuple[FilingRecord, list[EventDraft]]
"""A transition's outcome: the new record and the events it causes, checked against their contracts."""


class InvalidState(DomainError):
    """The filing's status does not allow the step (e.g. changing a completed filing)."""


_STATE_MESSAGES = {
    FilingStatus.COMPLETED: "この届出は完了しているため、変更・取下げはできません。訂正する場合は改めて届け出てください。",
    FilingStatus.WITHDRAWN: "この届出は取り下げられているため、操作できません。",
}


def require_filer(caller: Caller) -> Organisation:
    if caller.is_officer or caller.organisation is None:
        raise Forbidden("届出・報告は所属機関・登録支援機関・日本語教育機関の利用者のみが行えます。")
    return caller.organisation


def require_officer(caller: Caller) -> None:
    if not caller.is_officer:
        raise Forbidden("この操作は入管職員のみが行えます。")


def visible_to(record: FilingRecord, caller: Caller) -> bool:
    if caller.is_officer:
        return True
    return caller.organisation is not None and caller.organisation.organisation_id == record.organisation.organisation_id


def ensure_visible(record: FilingRecord | None, caller: Caller, reception_number: str) -> FilingRecord:
    # Another organisation's filing is answered exactly like a missing one: its existence is not theirs to know.
    if record is None or not visible_to(record, caller):
        raise NotFound(f"受付番号 {reception_number} の届出・報告は見つかりません。")
    return record


def ensure_kind_allowed(kind: FilingKind, organisation: Organisation) -> None:
    if kind.spec.organisation_kind != organisation.kind:
        raise InvalidInput(
            fields=[
                field_error(
                    "kind",
                    "kind_not_allowed",
                    f"{organisation.kind.label}は「{kind.label}」を届け出ることはできません。",
                    label="届出・報告の種類",
                )
            ]
        )


def _check_version(record: FilingRecord, based_on_version: int) -> None:
    if based_on_version != record.version:
        raise Stale(details={"current_version": record.version, "based_on_version": based_on_version})


def _check_status(record: FilingRecord, allowed: tuple[FilingStatus, ...], action: str) -> None:
    if record.status not in allowed:
        message = _STATE_MESSAGES.get(record.status) or f"「{record.status.label}」の届出・報告は{action}できません。"
        raise InvalidState(message, details={"status": record.status.value})


def submit(
    reception_number: str, kind: FilingKind, caller: Caller, sealed_persons: list[dict[str, str]], now: datetime, bulk: bool
) -> Decision:
    organisation = require_filer(caller)
    ensure_kind_allowed(kind, organisation)
    record = FilingRecord(
        reception_number=reception_number,
        kind=kind,
        status=FilingStatus.PENDING,
        version=1,
        organisation=organisation,
        filer_auth_id=caller.auth_id,
        filer_email=caller.email,
        persons=sealed_persons,
        submitted_at=now,
        updated_at=now,
    )
    return record, [draft(FilingSubmitted, filing=record.facts(), bulk=bulk)]


def _as_filer(record: FilingRecord, caller: Caller, reception_number: str) -> None:
    require_filer(caller)
    ensure_visible(record, caller, reception_number)


def change(
    record: FilingRecord, caller: Caller, based_on_version: int, sealed_persons: list[dict[str, str]], now: datetime
) -> Decision:
    _as_filer(record, caller, record.reception_number)
    _check_version(record, based_on_version)
    _check_status(record, (FilingStatus.PENDING, FilingStatus.RETURNED), "変更")
    was_fix = record.status == FilingStatus.RETURNED
    new = record.model_copy(
        update={
            "status": FilingStatus.PENDING,
            "version": record.version + 1,
            "persons": sealed_persons,
            "return_reasons": [],  # the fix answers them; the FilingReturned event keeps them
            "filer_auth_id": caller.auth_id,
            "filer_email": caller.email,
            "updated_at": now,
        }
    )
    return new, [draft(FilingChanged, filing=new.facts(), was_fix=was_fix)]


def withdraw(record: FilingRecord, caller: Caller, based_on_version: int, now: datetime) -> Decision:
    _as_filer(record, caller, record.reception_number)
    _check_version(record, based_on_version)
    _check_status(record, (FilingStatus.PENDING, FilingStatus.RETURNED), "取り下げ")
    new = record.model_copy(
        update={
            "status": FilingStatus.WITHDRAWN,
            "version": record.version + 1,
            "filer_auth_id": caller.auth_id,
            "filer_email": caller.email,
            "updated_at": now,
            "finalised_at": now,
        }
    )
    return new, [draft(FilingWithdrawn, filing=new.facts())]


def complete(record: FilingRecord, caller: Caller, based_on_version: int, now: datetime) -> Decision:
    require_officer(caller)
    _check_version(record, based_on_version)
    _check_status(record, (FilingStatus.PENDING,), "完了に")
    new = record.model_copy(
        update={"status": FilingStatus.COMPLETED, "version": record.version + 1, "updated_at": now, "finalised_at": now}
    )
    return new, [draft(FilingCompleted, filing=new.facts())]


def return_for_fix(record: FilingRecord, caller: Caller, based_on_version: int, reasons: list[str], now: datetime) -> Decision:
    require_officer(caller)
    cleaned = [r.strip() for r in reasons if r.strip()]
    errors = []
    if not cleaned:
        errors.append(field_error("reasons", "required", "返却理由を1つ以上入力してください。", label="返却理由"))
    elif len(cleaned) > REASONS_MAX:
        errors.append(field_error("reasons", "too_many", f"返却理由は{REASONS_MAX}件以内にしてください。", label="返却理由"))
    for i, reason in enumerate(cleaned):
        if len(reason) > REASON_MAX:
            errors.append(field_error(f"reasons.{i}", "too_long", f"{REASON_MAX}文字以内で入力してください。", label="返却理由"))
    if errors:
        raise InvalidInput(fields=errors)
    _check_version(record, based_on_version)
    if not record.kind.spec.returnable:
        raise InvalidState(
            f"「{record.kind.label}」は返却（修正依頼）の対象ではありません。返却できるのは日本語教育機関の報告のみです。",
            details={"kind": record.kind.value},
        )
    _check_status(record, (FilingStatus.PENDING,), "返却")
    new = record.model_copy(
        update={
            "status": FilingStatus.RETURNED,
            "version": record.version + 1,
            "updated_at": now,
            "return_reasons": cleaned,
        }
    )
    return new, [draft(FilingReturned, filing=new.facts(), reasons=cleaned)]


def addressed(decision: Decision, email: str | None, organisation: Organisation | None = None) -> Decision:
    """Every filing mail goes to the organisation's registered address at the time the event is
    recorded (Q41 登録されたメールアドレス), not the one its filer had at submission: the events'
    facts are addressed with what auth says now (and name the organisation as registered now).
    Without an answer (`email` None: the organisation has no account at all) they keep the record's."""
    record, drafts = decision
    out = []
    for item in drafts:
        facts = getattr(item.event, "filing", None)
        if isinstance(facts, FilingFacts) and email is not None:
            update: dict[str, Any] = {"filer_email": email}
            if organisation is not None and organisation.organisation_id == facts.organisation.organisation_id:
                update["organisation"] = organisation
            item = EventDraft(item.event.model_copy(update={"filing": facts.model_copy(update=update)}))
        out.append(item)
    return record, out


def reception_number(day: str, n: int) -> str:
    """`YYYYMMDD-NNNNNN`: the JST day of submission and the day's running number."""
    return f"{day}-{n:06d}"


def expired(record: FilingRecord, as_of: datetime, retention_days: int) -> bool:
    return (
        record.status.final and record.finalised_at is not None and as_of - record.finalised_at > timedelta(days=retention_days)
    )


def state_of(record: FilingRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")
