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
from contracts.common import Command, Event, Idempotent, JobResult, Message, Reply, SessionCommand
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


KINDS_BY_ORGANISATION = "; ".join(
    f"{org.value}: {', '.join(k.value for k, spec in FILING_KINDS.items() if spec.organisation_kind is org)}"
    for org in OrganisationKind
)
"""Which organisation kind files which filing kinds, for the kind field's description."""

KIND_RULE = (
    "Kind of filing; it must be one the caller's organisation kind files, else `validation` "
    f"({KINDS_BY_ORGANISATION}). `ens filing kinds` lists them with their Japanese names."
)

# The person rules the filing service enforces with its own Japanese messages
# (services/filing/domain/persons.py), stated for the JSON Schema only (json_schema_extra is
# never validated by pydantic), so a refusal still names every offending field at once.
RESIDENCE_CARD_PATTERN = "^[A-Z]{2}[0-9]{8}[A-Z]{2}$"
NAME_LATIN_PATTERN = "^[A-Za-z][A-Za-z ,.'-]*$"


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

    nationality: str = Field(
        title="国籍・地域",
        description=(
            "Code from the nationality/region list (国籍・地域): ISO 3166-1 alpha-3, XKX for Kosovo, XXA for stateless "
            "(services/filing/data/nationalities.csv); the JSON Schema lists every code."
        ),
    )
    name_latin: str = Field(
        json_schema_extra={"maxLength": 100, "pattern": NAME_LATIN_PATTERN},
        title="氏名（英字）",
        description="Name in Latin letters, in the order printed on the residence card: up to 100 characters, a letter first, then letters, spaces and , . ' -.",
    )
    sex: Sex = Field(description="Sex as on the residence card.", title="性別")
    date_of_birth: date = Field(
        description="Date of birth (YYYY-MM-DD): 1900-01-01 or later, not in the future (JST).", title="生年月日"
    )
    residence_card_number: str = Field(
        json_schema_extra={"pattern": RESIDENCE_CARD_PATTERN},
        title="在留カード番号",
        description="Residence card number: 2 upper-case letters, 8 digits, 2 upper-case letters (AB12345678CD); unique within a filing.",
    )
    event_date: date | None = Field(
        default=None,
        title="事由発生日",
        description=(
            "Date of the event (YYYY-MM-DD): required for every kind but the periodic reports, not in the future (JST), "
            "not before the date of birth."
        ),
    )
    remarks: str | None = Field(
        description="Free text, up to 1,000 characters; line breaks allowed.", default=None, title="備考", max_length=1000
    )


class FilingSummary(Message):
    """A filing as its filer and officers see it, without its persons."""

    reception_number: str = Field(
        description="Reception number (受付番号), unique, given when the filing was accepted.", title="受付番号"
    )
    kind: FilingKind = Field(description="Kind of filing.")
    kind_label: str = Field(description="Japanese name of the kind.")
    status: FilingStatus = Field(description="pending (処理待ち), completed (完了), withdrawn (取下げ) or returned (返却中).")
    status_label: str = Field(description="Japanese name of the status.")
    version: int = Field(description="Increases with every change; send it back as based_on_version.")
    person_count: int = Field(description="How many persons the filing names.")
    organisation_id: str = Field(description="The filer's organisation.")
    submitted_at: AwareDatetime = Field(description="When it was first accepted (UTC).")
    updated_at: AwareDatetime = Field(description="When it last changed (UTC).")
    finalised_at: AwareDatetime | None = Field(
        default=None, description="When it was completed or withdrawn (UTC); the retention period counts from then."
    )
    return_reasons: list[str] = Field(description="An officer's reasons, while returned for a fix.", default_factory=list)


class FilingAccepted(Reply):
    """The filing after the command: its reception number, status and new version."""

    filing: FilingSummary = Field(description="The filing as stored now.")


class FilingDetail(Reply):
    """A filing with its persons (decrypted for the caller)."""

    filing: FilingSummary = Field(description="The filing, as in a list.")
    persons: list[Person] = Field(description="Its persons, in the order filed.")


class FilingPage(Reply):
    """One page of filings, newest first."""

    items: list[FilingSummary] = Field(description="The filings of this page, newest first.")
    total: int = Field(description="How many filings match, over all pages.")
    page: int = Field(description="This page's number (1 = first).")
    page_size: int = Field(description="Filings per page.")


# ---- commands -------------------------------------------------------------------------


class SubmitFiling(SessionCommand[FilingAccepted], Idempotent):
    """File a notification or report (届出・報告) for 1 to 300 persons (mail 6). The kind must be one the caller's organisation kind files."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "submit")
    MAX_BODY_BYTES: ClassVar[int] = MAX_PERSONS_BODY_BYTES
    kind: FilingKind = Field(title="届出・報告の種類", description=KIND_RULE)
    persons: list[Person] = Field(
        json_schema_extra={"minItems": 1, "maxItems": MAX_PERSONS},
        title="対象者",
        description=f"1 to {MAX_PERSONS} persons; no residence card number twice.",
    )


class SubmitBulkFiling(SessionCommand[FilingAccepted], Idempotent):
    """A CSV from the bulk template (CP932/Shift_JIS or UTF-8 with or without BOM), base64-encoded."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "submit_bulk")
    MAX_BODY_BYTES: ClassVar[int] = MAX_BULK_BODY_BYTES
    kind: FilingKind = Field(
        title="届出・報告の種類", description=KIND_RULE + " Every row of the CSV is checked as a person of SubmitFiling."
    )
    filename: str = Field(
        description="The uploaded file's name, for the audit trail and messages.", default="upload.csv", title="ファイル名"
    )
    csv_base64: str = Field(
        title="CSVファイル",
        description=(
            "The file's bytes, base64: the bulk template's header row, then one row per person "
            "(1 to 300); at most ENS_FILING_MAX_UPLOAD_BYTES (2 MiB by default) before encoding, else `too_large`. "
            "docs/BULK-TEMPLATE.md."
        ),
    )


class ChangeFiling(SessionCommand[FilingAccepted], Idempotent):
    """Change a pending filing or fix a returned one (which puts it back to pending)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "change")
    MAX_BODY_BYTES: ClassVar[int] = MAX_PERSONS_BODY_BYTES
    reception_number: str = Field(description="Reception number (受付番号) of the filing.", title="受付番号")
    based_on_version: int = Field(description="Version the change was made from; stale versions are refused.")
    persons: list[Person] = Field(
        description="The persons from now on, all of them: 1 to 300, no residence card number twice; the same rules as SubmitFiling.",
        json_schema_extra={"minItems": 1, "maxItems": MAX_PERSONS},
        title="対象者",
    )


class WithdrawFiling(SessionCommand[FilingAccepted], Idempotent):
    """Withdraw (取下げ) a pending or returned filing of one's own organisation (mail 8)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "withdraw")
    reception_number: str = Field(description="Reception number (受付番号) of the filing.", title="受付番号")
    based_on_version: int = Field(
        description="Version the command was made from (FilingSummary.version); a filing changed since is refused `stale`."
    )


class CompleteFiling(SessionCommand[FilingAccepted], Idempotent):
    """Officer only: complete (完了) a pending filing; it becomes final and its retention period starts (no mail)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "complete")
    reception_number: str = Field(description="Reception number (受付番号) of the filing.", title="受付番号")
    based_on_version: int = Field(
        description="Version the command was made from (FilingSummary.version); a filing changed since is refused `stale`."
    )


class ReturnFiling(SessionCommand[FilingAccepted], Idempotent):
    """Officer only; Japanese-language school reports only. Reasons go to the filer (mail 9)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "return_for_fix")
    reception_number: str = Field(description="Reception number (受付番号) of the filing.", title="受付番号")
    based_on_version: int = Field(
        description="Version the command was made from (FilingSummary.version); a filing changed since is refused `stale`."
    )
    reasons: list[str] = Field(
        json_schema_extra={"minItems": 1},
        title="返却理由",
        description=(
            "At least one reason that is not blank (blank ones are ignored); at most 20 reasons of at most 500 characters "
            "each; each shown to the filer in mail 9."
        ),
    )


class ListFilings(SessionCommand[FilingPage]):
    """The caller's organisation's filings, newest first. Officers may name any organisation."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "list")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again
    status: FilingStatus | None = Field(default=None, description="Only filings in this status.")
    kind: FilingKind | None = Field(default=None, description="Only filings of this kind.")
    organisation_id: str | None = Field(default=None, description="Officers only.")
    page: int = Field(description="Page number, 1 = newest.", default=1, ge=1)
    page_size: int = Field(description="Filings per page, 1-200.", default=50, ge=1, le=200)


class GetFiling(SessionCommand[FilingDetail]):
    """One filing with its persons: the filer's organisation's own, or any for an officer."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "get")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again
    reception_number: str = Field(description="Reception number (受付番号) of the filing.", title="受付番号")


class PurgeExpiredFilings(Command[JobResult]):
    """Scheduler: delete filings final for longer than the retention period as of the time."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "purge_expired")
    as_of: AwareDatetime = Field(description="Purge as of this time (UTC); not in the future unless `force`.")
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would purge filings before their time.",
    )


class ReencryptFilings(Command[JobResult]):
    """Operator: re-encrypt stored personal data under the current key (key rotation)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "reencrypt")
    as_of: AwareDatetime = Field(description="When the run counts as made (UTC), for the audit trail.")


# ---- events ---------------------------------------------------------------------------


class FilingFacts(Message):
    """What every filing event says: enough for a mail, no personal data."""

    reception_number: str = Field(description="Reception number (受付番号) of the filing.")
    kind: FilingKind = Field(description="Kind of filing.")
    kind_label: str = Field(description="Japanese name of the kind, as the mail prints it.")
    person_count: int = Field(description="How many persons the filing names (never who).")
    version: int = Field(description="The filing's version after the change.")
    organisation: Organisation = Field(description="The filer's organisation as registered when the event was recorded.")
    filer_auth_id: str = Field(description="Auth ID of the organisation's account that filed.")
    filer_email: str = Field(
        description="The organisation's registered address when the event was recorded (asked of auth then); mails 6-9 go there."
    )
    submitted_at: AwareDatetime = Field(description="When the filing was first accepted (UTC).")


class FilingSubmitted(Event):
    """A filing was accepted with its reception number: mail 6 (届出・報告の申込) to the filer's address."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "submitted")
    filing: FilingFacts = Field(description="The filing's facts.")
    bulk: bool = Field(default=False, description="True when it came as a bulk CSV upload.")


class FilingChanged(Event):
    """A pending filing was changed, or a returned report fixed: mail 7 (届出・報告の変更)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "changed")
    filing: FilingFacts = Field(description="The filing's facts after the change.")
    was_fix: bool = Field(description="True when a returned report was fixed and is pending again.")


class FilingWithdrawn(Event):
    """The filer withdrew a filing: mail 8 (届出・報告の取下げ)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "withdrawn")
    filing: FilingFacts = Field(description="The filing's facts.")


class FilingReturned(Event):
    """An officer returned a school report for a fix: mail 9 (報告の修正依頼), with the reasons."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "returned")
    filing: FilingFacts = Field(description="The filing's facts.")
    reasons: list[str] = Field(description="The officer's reasons for the return, shown to the filer in mail 9.")


class FilingCompleted(Event):
    """An officer completed (完了) the filing (no mail)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "completed")
    filing: FilingFacts = Field(description="The filing's facts.")


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
