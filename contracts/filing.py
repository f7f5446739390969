"""Filings (届出・報告), their persons, officer decisions and history (SPEC §2).

Events of this context carry no foreign national's personal data: only reception numbers,
kinds, counts, dates, the filer's organisation and address, and an officer's reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from contracts import subjects as s
from contracts.auth import Organisation
from contracts.common import Command, Event, JobResult, Message, Reply, SessionCommand
from contracts.organisations import OrganisationKind

SERVICE = "filing"

MAX_PERSONS = 300

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
"""Default largest bulk CSV (setting ENS_FILING_MAX_UPLOAD_BYTES); clients refuse bigger files before sending."""

MAX_PERSONS_BODY_BYTES = 3 * 1024 * 1024
"""Largest body of a submission or change naming persons: 300 persons with 1,000-character remarks,
even written with `\\uXXXX` escapes, fit. Bigger bodies are refused `too_large` before they are read."""

MAX_BULK_BODY_BYTES = 9 * 1024 * 1024
"""Largest body of a bulk upload: the base64 of the largest upload limit the setting allows (6 MB)
with room to spare; the filing service refuses anything over its configured limit itself."""


class FilingKind(StrEnum):
    # 特定技能所属機関
    EMPLOYMENT_CONTRACT_CHANGE = "employment_contract_change"
    SUPPORT_PLAN_CHANGE = "support_plan_change"
    SUPPORT_ENTRUSTMENT_CHANGE = "support_entrustment_change"
    ACCEPTANCE_DIFFICULTY = "acceptance_difficulty"
    MISCONDUCT = "misconduct"
    ACCEPTANCE_PERIODIC_REPORT = "acceptance_periodic_report"
    # 登録支援機関
    REGISTERED_MATTERS_CHANGE = "registered_matters_change"
    SUPPORT_SUSPENSION = "support_suspension"
    SUPPORT_PERIODIC_REPORT = "support_periodic_report"
    # 日本語教育機関
    SCHOOL_PERIODIC_REPORT = "school_periodic_report"
    SCHOOL_ADHOC_REPORT = "school_adhoc_report"

    @property
    def spec(self) -> FilingKindSpec:
        return FILING_KINDS[self]

    @property
    def label(self) -> str:
        return FILING_KINDS[self].label


@dataclass(frozen=True)
class FilingKindSpec:
    label: str  # Japanese name shown to users and in mails
    organisation_kind: OrganisationKind
    returnable: bool  # may an officer return it for a fix (返却中)? school reports only
    needs_event_date: bool  # does each person need the date of the event?


_A = OrganisationKind.ACCEPTING_ORGANISATION
_R = OrganisationKind.REGISTERED_SUPPORT_ORGANISATION
_J = OrganisationKind.JAPANESE_LANGUAGE_SCHOOL

FILING_KINDS: dict[FilingKind, FilingKindSpec] = {
    FilingKind.EMPLOYMENT_CONTRACT_CHANGE: FilingKindSpec("特定技能雇用契約に係る届出", _A, False, True),
    FilingKind.SUPPORT_PLAN_CHANGE: FilingKindSpec("支援計画変更に係る届出", _A, False, True),
    FilingKind.SUPPORT_ENTRUSTMENT_CHANGE: FilingKindSpec("支援委託契約に係る届出", _A, False, True),
    FilingKind.ACCEPTANCE_DIFFICULTY: FilingKindSpec("受入れ困難に係る届出", _A, False, True),
    FilingKind.MISCONDUCT: FilingKindSpec("出入国又は労働に関する法令に関し不正又は著しく不当な行為に係る届出", _A, False, True),
    FilingKind.ACCEPTANCE_PERIODIC_REPORT: FilingKindSpec("受入れ・活動・支援実施状況に係る届出（定期届出）", _A, False, False),
    FilingKind.REGISTERED_MATTERS_CHANGE: FilingKindSpec("登録事項変更に係る届出", _R, False, True),
    FilingKind.SUPPORT_SUSPENSION: FilingKindSpec("支援業務の休止・廃止に係る届出", _R, False, True),
    FilingKind.SUPPORT_PERIODIC_REPORT: FilingKindSpec("支援実施状況に係る届出（定期届出）", _R, False, False),
    FilingKind.SCHOOL_PERIODIC_REPORT: FilingKindSpec("告示基準に基づく定期報告", _J, True, False),
    FilingKind.SCHOOL_ADHOC_REPORT: FilingKindSpec("告示基準に基づく随時報告", _J, True, True),
}


class FilingStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    RETURNED = "returned"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def final(self) -> bool:
        return self in (FilingStatus.COMPLETED, FilingStatus.WITHDRAWN)


STATUS_LABELS: dict[FilingStatus, str] = {
    FilingStatus.PENDING: "処理待ち",
    FilingStatus.COMPLETED: "完了",
    FilingStatus.WITHDRAWN: "取下げ",
    FilingStatus.RETURNED: "返却中",
}


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Person(Message):
    """One foreign national named in a filing. Personal data: stored encrypted, never in events."""

    nationality: str = Field(title="国籍・地域", description="Code from the nationality/region list.")
    name_latin: str = Field(
        title="氏名（英字）", description="Name in Latin letters, in the order printed on the residence card."
    )
    sex: Sex = Field(title="性別")
    date_of_birth: date = Field(title="生年月日")
    residence_card_number: str = Field(title="在留カード番号", description="2 letters, 8 digits, 2 letters.")
    event_date: date | None = Field(default=None, title="事由発生日", description="Date of the event, for kinds that need it.")
    remarks: str | None = Field(default=None, title="備考", max_length=1000)


class FilingSummary(Message):
    reception_number: str = Field(title="受付番号")
    kind: FilingKind
    kind_label: str
    status: FilingStatus
    status_label: str
    version: int = Field(description="Increases with every change; send it back as based_on_version.")
    person_count: int
    organisation_id: str
    submitted_at: AwareDatetime
    updated_at: AwareDatetime
    finalised_at: AwareDatetime | None = None
    return_reasons: list[str] = Field(default_factory=list)


class FilingAccepted(Reply):
    filing: FilingSummary


class FilingDetail(Reply):
    filing: FilingSummary
    persons: list[Person]


class FilingPage(Reply):
    items: list[FilingSummary]
    total: int
    page: int
    page_size: int


# ---- commands -------------------------------------------------------------------------


class SubmitFiling(SessionCommand[FilingAccepted]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "submit")
    MAX_BODY_BYTES: ClassVar[int] = MAX_PERSONS_BODY_BYTES
    kind: FilingKind = Field(title="届出・報告の種類")
    persons: list[Person] = Field(title="対象者", description=f"1 to {MAX_PERSONS} persons.")


class SubmitBulkFiling(SessionCommand[FilingAccepted]):
    """A CSV from the bulk template (CP932/Shift_JIS or UTF-8 with or without BOM), base64-encoded."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "submit_bulk")
    MAX_BODY_BYTES: ClassVar[int] = MAX_BULK_BODY_BYTES
    kind: FilingKind = Field(title="届出・報告の種類")
    filename: str = Field(default="upload.csv", title="ファイル名")
    csv_base64: str = Field(title="CSVファイル", description="The file's bytes, base64.")


class ChangeFiling(SessionCommand[FilingAccepted]):
    """Change a pending filing or fix a returned one (which puts it back to pending)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "change")
    MAX_BODY_BYTES: ClassVar[int] = MAX_PERSONS_BODY_BYTES
    reception_number: str = Field(title="受付番号")
    based_on_version: int = Field(description="Version the change was made from; stale versions are refused.")
    persons: list[Person] = Field(title="対象者")


class WithdrawFiling(SessionCommand[FilingAccepted]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "withdraw")
    reception_number: str = Field(title="受付番号")
    based_on_version: int


class CompleteFiling(SessionCommand[FilingAccepted]):
    """Officer only."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "complete")
    reception_number: str = Field(title="受付番号")
    based_on_version: int


class ReturnFiling(SessionCommand[FilingAccepted]):
    """Officer only; Japanese-language school reports only. Reasons go to the filer (mail 9)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "return_for_fix")
    reception_number: str = Field(title="受付番号")
    based_on_version: int
    reasons: list[str] = Field(title="返却理由", description="At least one reason.")


class ListFilings(SessionCommand[FilingPage]):
    """The caller's organisation's filings, newest first. Officers may name any organisation."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "list")
    status: FilingStatus | None = None
    kind: FilingKind | None = None
    organisation_id: str | None = Field(default=None, description="Officers only.")
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, le=200)


class GetFiling(SessionCommand[FilingDetail]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "get")
    reception_number: str = Field(title="受付番号")


class PurgeExpiredFilings(Command[JobResult]):
    """Scheduler: delete filings final for longer than the retention period as of the time."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "purge_expired")
    as_of: AwareDatetime
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would purge filings before their time.",
    )


class ReencryptFilings(Command[JobResult]):
    """Operator: re-encrypt stored personal data under the current key (key rotation)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "reencrypt")
    as_of: AwareDatetime


# ---- events ---------------------------------------------------------------------------


class FilingFacts(Message):
    """What every filing event says: enough for a mail, no personal data."""

    reception_number: str
    kind: FilingKind
    kind_label: str
    person_count: int
    version: int
    organisation: Organisation
    filer_auth_id: str
    filer_email: str = Field(
        description="The organisation's registered address when the event was recorded (asked of auth then); mails 6-9 go there."
    )
    submitted_at: AwareDatetime


class FilingSubmitted(Event):
    """Mail 6 (届出・報告の申込)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "submitted")
    filing: FilingFacts
    bulk: bool = False


class FilingChanged(Event):
    """Mail 7 (届出・報告の変更): a change, or the fix of a returned report."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "changed")
    filing: FilingFacts
    was_fix: bool = Field(description="True when a returned report was fixed and is pending again.")


class FilingWithdrawn(Event):
    """Mail 8 (届出・報告の取下げ)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "withdrawn")
    filing: FilingFacts


class FilingReturned(Event):
    """Mail 9 (報告の修正依頼)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "returned")
    filing: FilingFacts
    reasons: list[str]


class FilingCompleted(Event):
    SUBJECT: ClassVar[str] = s.event(SERVICE, "completed")
    filing: FilingFacts


COMMANDS: tuple[type[Command[Any]], ...] = (
    SubmitFiling,
    SubmitBulkFiling,
    ChangeFiling,
    WithdrawFiling,
    CompleteFiling,
    ReturnFiling,
    ListFilings,
    GetFiling,
    PurgeExpiredFilings,
    ReencryptFilings,
)
EVENTS: tuple[type[Event], ...] = (
    FilingSubmitted,
    FilingChanged,
    FilingWithdrawn,
    FilingReturned,
    FilingCompleted,
)
