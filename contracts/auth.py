"""Accounts, sessions, officers and notices: the auth bounded context (SPEC §1).

Inputs are validated by the auth service, not here, so that every refusal is one
ErrorReply with Japanese reasons; the models only fix shapes and lengths.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from contracts import subjects as s
from contracts.common import Ack, Command, Event, JobResult, Message, Reply, SessionCommand
from contracts.organisations import OrganisationKind, Role

SERVICE = "auth"

AUTH_ID = Field(title="認証ID", description="Auth ID (認証ID): 6-20 half-width letters, digits or symbols; case-sensitive.")
EMAIL = Field(title="メールアドレス", description="E-mail address, stored as given.")


# ---- shared shapes ------------------------------------------------------------------


class Organisation(Message):
    organisation_id: str = Field(
        title="法人番号等",
        description="13-digit corporate number (法人番号) or, where none exists, an officer-assigned code.",
    )
    kind: OrganisationKind = Field(title="機関種別", description="Kind of organisation.")
    name: str = Field(title="機関名", description="Organisation name.")


class RequestChannel(StrEnum):
    """How an organisation's request reached the agency (Q20, Q23, Q29, Q31)."""

    COUNTER = "counter"  # 窓口
    POST = "post"  # 郵送

    @property
    def label(self) -> str:
        return "窓口" if self is RequestChannel.COUNTER else "郵送"


class RequestProvenance(Message):
    """Where an officer's action on an account came from, kept in the audit trail as evidence (Q17 証跡管理)."""

    channel: RequestChannel = Field(title="受付方法", description="How the request came: at a counter (窓口) or by post (郵送).")
    bureau: str = Field(
        max_length=40,
        title="受付官署",
        description="The regional immigration bureau (地方出入国在留管理局) that received the request, e.g. 東京出入国在留管理局.",
    )
    form_reference: str = Field(
        max_length=40,
        title="届出書等の受付番号",
        description="Reference number of the form the request came on (利用者情報登録届出書, 抹消届出書, 認証ID・パスワード確認等申出書 ...).",
    )


REQUEST = Field(
    default=None,
    title="申出の受付情報",
    description="Where the request came from (窓口 or 郵送, bureau, form reference); recorded in the audit trail.",
)


class Notice(Message):
    notice_id: str = Field(description="Id of the notice.")
    title: str = Field(title="件名", description="Notice title (お知らせ).")
    body: str = Field(title="本文", description="Notice text.")
    starts_at: AwareDatetime = Field(description="Shown from (UTC).")
    ends_at: AwareDatetime | None = Field(default=None, description="Shown until (UTC); open-ended if absent.")


class SessionInfo(Reply):
    """What other services learn about a session token (IntrospectSession)."""

    active: bool = Field(description="False for unknown, ended or timed-out sessions; the rest is then empty.")
    role: Role | None = None
    auth_id: str | None = None
    organisation: Organisation | None = None
    email: str | None = Field(default=None, description="Current e-mail address of the account.")
    expires_at: AwareDatetime | None = Field(default=None, description="Idle or absolute expiry, whichever is first.")


class AccountState(Message):
    auth_id: str
    role: Role
    organisation: Organisation | None = None
    email: str
    status: str = Field(description="pending, active, locked, deregistered, expired or password_expired.")
    registered_at: AwareDatetime
    effective_on: date | None = Field(default=None, description="Business day (JST) the registration takes effect.")
    activated_at: AwareDatetime | None = None
    last_used_at: AwareDatetime | None = None
    password_set_at: AwareDatetime | None = None
    password_expires_at: AwareDatetime | None = None
    account_expires_at: AwareDatetime | None = None
    failed_logins: int = 0
    locked_until: AwareDatetime | None = None


# ---- commands -------------------------------------------------------------------------


class LoginResult(Reply):
    session_token: str = Field(description="Opaque session token; send it with every command.")
    role: Role
    auth_id: str
    organisation: Organisation | None = None
    idle_expires_at: AwareDatetime
    absolute_expires_at: AwareDatetime
    password_expires_at: AwareDatetime | None = None
    notices: list[Notice] = Field(default_factory=list, description="Current notices (お知らせ).")


class Login(Command[LoginResult]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "login")
    auth_id: str = AUTH_ID
    password: str = Field(title="パスワード", description="Password; never logged.", repr=False)


class Logout(SessionCommand[Ack]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "logout")


class IntrospectSession(Command[SessionInfo]):
    """For other services: is this token a live session, and whose? Also refreshes its idle timer."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "introspect_session")
    session_token: str = Field(description="The token to check.")


class ChangePassword(SessionCommand[Ack]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "change_password")
    current_password: str = Field(title="現在のパスワード", repr=False)
    new_password: str = Field(title="新しいパスワード", repr=False)


class ChangeEmail(SessionCommand[Ack]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "change_email")
    new_email: str = Field(
        title="新しいメールアドレス", description="The new address; mail 3 goes there, a notice to the old one."
    )


class AccountRegistration(Reply):
    auth_id: str
    effective_on: date = Field(description="Business day (JST) on which the next-day batch activates the account.")


class RegisterAccount(SessionCommand[AccountRegistration]):
    """Officer only: register an organisation's account (利用者情報登録). Takes effect the next day."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "register_account")
    organisation: Organisation
    auth_id: str = AUTH_ID
    initial_password: str = Field(title="パスワード", repr=False)
    email: str = EMAIL
    request: RequestProvenance | None = REQUEST


class ReissueAuthId(SessionCommand[Ack]):
    """Officer only: mail the holder its auth ID (認証ID再通知)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "reissue_auth_id")
    organisation_id: str = Field(title="法人番号等", description="Organisation whose valid account's ID is mailed.")
    request: RequestProvenance | None = REQUEST


class SetPassword(SessionCommand[Ack]):
    """Officer only: set a new password (forgotten or expired); clears lockout."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "set_password")
    auth_id: str = AUTH_ID
    new_password: str = Field(title="新しいパスワード", repr=False)
    request: RequestProvenance | None = REQUEST


class Deregister(SessionCommand[Ack]):
    """Officer only: deregister (抹消) an account; it stops working at once, its sessions end."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "deregister")
    auth_id: str = AUTH_ID
    request: RequestProvenance | None = REQUEST


class AccountView(Reply):
    account: AccountState


class ChangeAccountEmail(SessionCommand[Ack]):
    """Officer only: change an account's e-mail address on the organisation's request (Q22, Q43); mail 3 to the new address, a notice to the old."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "change_account_email")
    auth_id: str = AUTH_ID
    new_email: str = Field(
        title="新しいメールアドレス", description="The new address; mail 3 goes there, a notice to the old one."
    )
    request: RequestProvenance = Field(
        title="申出の受付情報",
        description="Where the request came from (窓口 or 郵送, bureau, form reference); recorded in the audit trail.",
    )


class ChangeOrganisationDetails(SessionCommand[AccountView]):
    """Officer only: change an organisation's registered details (機関名) on its request (Q22)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "change_organisation_details")
    organisation_id: str = Field(
        title="法人番号等", description="The organisation whose registered details change; its ID never changes."
    )
    name: str = Field(title="機関名", description="The organisation's registered name from now on.")
    request: RequestProvenance = Field(
        title="申出の受付情報",
        description="Where the request came from (窓口 or 郵送, bureau, form reference); recorded in the audit trail.",
    )


class OrganisationContact(Reply):
    """The organisation's registered details and address now (GetOrganisationContact)."""

    organisation_id: str = Field(title="法人番号等", description="The organisation asked about.")
    auth_id: str | None = Field(default=None, title="認証ID", description="Its latest account; absent if it never had one.")
    email: str | None = Field(default=None, title="メールアドレス", description="That account's registered address now.")
    organisation: Organisation | None = Field(default=None, description="The organisation's registered details now.")
    valid: bool = Field(default=False, description="Whether that account is the organisation's valid (pending or active) one.")


class GetOrganisationContact(Command[OrganisationContact]):
    """Services only (filing): the organisation's registered address at this moment, for the mail an event causes (Q41)."""

    SUBJECT: ClassVar[str] = s.service_command(SERVICE, "organisation_contact")
    organisation_id: str = Field(title="法人番号等", description="The organisation whose contact is asked for.")


class GetAccount(SessionCommand[AccountView]):
    """Officer only: read an account's state by auth ID or organisation."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "get_account")
    auth_id: str | None = Field(default=None, title="認証ID")
    organisation_id: str | None = Field(default=None, title="法人番号等")


class NoticeView(Reply):
    notice: Notice


class PublishNotice(SessionCommand[NoticeView]):
    """Officer only: publish a notice shown at login (お知らせ)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "publish_notice")
    title: str = Field(title="件名")
    body: str = Field(title="本文")
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    ends_at: AwareDatetime | None = None


class WithdrawNotice(SessionCommand[Ack]):
    SUBJECT: ClassVar[str] = s.command(SERVICE, "withdraw_notice")
    notice_id: str


class NoticeList(Reply):
    notices: list[Notice]


class ListNotices(Command[NoticeList]):
    """Public: the notices in force now."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "list_notices")


class CreateOfficer(Command[Ack]):
    """Operator only (`ens officer create`): create an officer account. Needs the operator token."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "create_officer")
    operator_token: str = Field(description="Secret ENS_AUTH_OPERATOR_TOKEN.", repr=False)
    auth_id: str = AUTH_ID
    password: str = Field(title="パスワード", repr=False)
    name: str = Field(title="氏名")
    email: str = EMAIL


class ActivateDueRegistrations(Command[JobResult]):
    """Scheduler: activate every pending registration whose effective day has come (mail 1)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "activate_due_registrations")
    as_of: AwareDatetime
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would do tomorrow's work today.",
    )


class SendPasswordExpiryWarnings(Command[JobResult]):
    """Scheduler: emit PasswordExpiryWarned for passwords whose last valid day is N days away or nearer (a missed day is caught up once)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "send_password_expiry_warnings")
    as_of: AwareDatetime
    days_before: list[int] = Field(default_factory=lambda: [30, 7])
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would do tomorrow's work today.",
    )


class ExpireIdleAccounts(Command[JobResult]):
    """Scheduler: expire accounts unused for the expiry period as of the time."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "expire_idle_accounts")
    as_of: AwareDatetime
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would do tomorrow's work today.",
    )


# ---- events ---------------------------------------------------------------------------


class AccountRegistered(Event):
    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_registered")
    auth_id: str
    organisation: Organisation
    effective_on: date


class AccountActivated(Event):
    """Mail 1 (利用者情報登録完了)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_activated")
    auth_id: str
    organisation: Organisation
    email: str
    password_expires_at: AwareDatetime


class AuthIdReissued(Event):
    """Mail 2 (認証ID再通知)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "auth_id_reissued")
    auth_id: str
    organisation: Organisation
    email: str


class EmailChanged(Event):
    """Mail 3 to the new address, and a notice to the old one."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "email_changed")
    auth_id: str
    organisation: Organisation | None = None
    old_email: str
    new_email: str
    by_officer: bool = Field(default=False, description="True when an officer changed it on the organisation's request.")


class PasswordChanged(Event):
    """Mail 4 (パスワード変更)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "password_changed")
    auth_id: str
    organisation: Organisation | None = None
    email: str
    by_officer: bool = Field(description="True when an officer set it.")
    password_expires_at: AwareDatetime


class PasswordExpiryWarned(Event):
    """Mail 5 (パスワード有効期限切れ間近)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "password_expiry_warned")
    auth_id: str
    organisation: Organisation | None = None
    email: str
    password_expires_at: AwareDatetime
    days_before: int


class OrganisationDetailsChanged(Event):
    """An officer changed the organisation's registered details on its request (no mail)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "organisation_details_changed")
    auth_id: str
    organisation: Organisation = Field(description="The registered details from now on.")
    previous_name: str = Field(title="変更前の機関名", description="The name registered before.")


class AccountLocked(Event):
    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_locked")
    auth_id: str
    locked_until: AwareDatetime


class AccountDeregistered(Event):
    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_deregistered")
    auth_id: str
    organisation: Organisation | None = None


class AccountExpired(Event):
    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_expired")
    auth_id: str
    organisation: Organisation | None = None
    last_used_at: datetime


COMMANDS: tuple[type[Command[Any]], ...] = (
    Login,
    Logout,
    IntrospectSession,
    ChangePassword,
    ChangeEmail,
    RegisterAccount,
    ReissueAuthId,
    SetPassword,
    Deregister,
    GetAccount,
    ChangeAccountEmail,
    ChangeOrganisationDetails,
    GetOrganisationContact,
    PublishNotice,
    WithdrawNotice,
    ListNotices,
    CreateOfficer,
    ActivateDueRegistrations,
    SendPasswordExpiryWarnings,
    ExpireIdleAccounts,
)
EVENTS: tuple[type[Event], ...] = (
    AccountRegistered,
    AccountActivated,
    AuthIdReissued,
    EmailChanged,
    PasswordChanged,
    PasswordExpiryWarned,
    OrganisationDetailsChanged,
    AccountLocked,
    AccountDeregistered,
    AccountExpired,
)
