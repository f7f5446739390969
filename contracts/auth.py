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
from contracts.common import Ack, Command, Event, Idempotent, JobResult, Message, Reply, SessionCommand
from contracts.organisations import OrganisationKind, Role

SERVICE = "auth"

# The rules auth enforces with its own Japanese messages (services/auth/domain/policy.py), stated
# for the JSON Schema only (json_schema_extra is never validated by pydantic): a request the
# schema refuses, auth refuses too, with its own reasons (`length`, `charset`, `needs_digit`, ...).
AUTH_ID_PATTERN = "^[A-Za-z0-9$%&=@_#*+?!-]+$"
PASSWORD_PATTERN = "^(?=.*[A-Za-z])(?=.*[0-9])(?=.*[$%&=@_#*+?!-])[A-Za-z0-9$%&=@_#*+?!-]+$"
ORGANISATION_ID_PATTERN = "^([0-9]{13}|[A-Z][A-Z0-9-]{3,19})$"

AUTH_ID = Field(
    title="認証ID",
    description="Auth ID (認証ID): 6-20 half-width letters, digits or symbols ($ % & = @ _ # * + - ? !); case-sensitive.",
    json_schema_extra={"minLength": 6, "maxLength": 20, "pattern": AUTH_ID_PATTERN},
)
EMAIL = Field(
    title="メールアドレス",
    description="E-mail address, stored as given; its syntax is checked (no DNS lookup).",
)


# ---- shared shapes ------------------------------------------------------------------


class Organisation(Message):
    """An organisation as registered: its ID, kind and name."""

    organisation_id: str = Field(
        json_schema_extra={"pattern": ORGANISATION_ID_PATTERN},
        title="法人番号等",
        description=(
            "13-digit corporate number (法人番号), whose first digit is a check digit over the other twelve "
            "(9 - (Σ P_n × Q_n mod 9), P_n the n-th digit from the right, Q_n 1 for odd n and 2 for even), or, where "
            "none exists, an officer-assigned code: an upper-case letter, then 3-19 upper-case letters, digits or hyphens."
        ),
    )
    kind: OrganisationKind = Field(title="機関種別", description="Kind of organisation.")
    name: str = Field(json_schema_extra={"maxLength": 200}, title="機関名", description="Organisation name.")


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
    """A notice shown at login (お知らせ)."""

    notice_id: str = Field(description="Id of the notice.")
    title: str = Field(title="件名", description="Notice title (お知らせ).")
    body: str = Field(title="本文", description="Notice text.")
    starts_at: AwareDatetime = Field(description="Shown from (UTC).")
    ends_at: AwareDatetime | None = Field(default=None, description="Shown until (UTC); open-ended if absent.")


class SessionInfo(Reply):
    """What other services learn about a session token (IntrospectSession)."""

    active: bool = Field(description="False for unknown, ended or timed-out sessions; the rest is then empty.")
    role: Role | None = Field(default=None, description="organisation or officer; absent when not active.")
    auth_id: str | None = Field(default=None, description="Whose session it is; absent when not active.")
    organisation: Organisation | None = Field(
        default=None, description="The holder's organisation; absent for officers and when not active."
    )
    email: str | None = Field(default=None, description="Current e-mail address of the account.")
    expires_at: AwareDatetime | None = Field(default=None, description="Idle or absolute expiry, whichever is first.")


class UndeliverableAddress(Message):
    """The registered address bounced: mail to it came back as undeliverable (a hard bounce).
    Mails are still sent to it (they are the agency's obligation); a new address clears this."""

    email: str = Field(title="メールアドレス", description="The address that bounced (the one registered when it did).")
    since: AwareDatetime = Field(description="When the bounce was recorded (UTC).")
    status_code: str | None = Field(default=None, description="The bounce's enhanced status code, e.g. 5.1.1.")
    reason: str | None = Field(default=None, description="The receiving server's diagnostic, as the bounce reported it.")
    mail_id: str | None = Field(default=None, description="The mail that bounced (the delivery log's mail id).")


ADDRESS_UNDELIVERABLE_NOTICE = (
    "登録メールアドレスにメールが届いていません。メールアドレスに誤りがないか、"
    "受信拒否の設定がされていないかをご確認のうえ、必要に応じてメールアドレスを変更してください。"
)


class AccountState(Message):
    """An account as an officer sees it (GetAccount)."""

    auth_id: str = Field(description="The account's auth ID.")
    role: Role = Field(description="organisation or officer.")
    organisation: Organisation | None = Field(default=None, description="The organisation; absent for officers.")
    email: str = Field(description="The registered e-mail address.")
    status: str = Field(description="pending, active, locked, deregistered, expired or password_expired.")
    registered_at: AwareDatetime = Field(description="When the account was registered (UTC).")
    effective_on: date | None = Field(default=None, description="Business day (JST) the registration takes effect.")
    activated_at: AwareDatetime | None = Field(default=None, description="When it became active (UTC); absent while pending.")
    last_used_at: AwareDatetime | None = Field(
        default=None, description="Last successful login (UTC); a year without one expires the account."
    )
    password_set_at: AwareDatetime | None = Field(default=None, description="When the password was last set (UTC).")
    password_expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the password stops working (UTC): 00:00 JST after the last valid day: 1 year counted in days from the day it was set, that day not counted (Q31); show the day before it.",
    )
    account_expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the account expires if unused until then (UTC): 00:00 JST after the last valid day, 1 year counted in days from the day of last use (Q27).",
    )
    failed_logins: int = Field(default=0, description="Failed logins in a row since the last success.")
    locked_until: AwareDatetime | None = Field(default=None, description="Locked until this time (UTC); absent when not locked.")
    undeliverable: UndeliverableAddress | None = Field(
        default=None, description="Set while the registered address is known to bounce; absent otherwise."
    )


# ---- commands -------------------------------------------------------------------------


class LoginResult(Reply):
    """A live session: its token, whose it is, when it ends, and the notices in force."""

    session_token: str = Field(description="Opaque session token; send it with every command.")
    role: Role = Field(description="organisation or officer.")
    auth_id: str = Field(description="The auth ID that logged in.")
    organisation: Organisation | None = Field(
        default=None, description="The organisation the account belongs to; absent for officers."
    )
    idle_expires_at: AwareDatetime = Field(
        description="The session ends at this time (UTC) unless used before; each command moves it (ENS_AUTH_SESSION_IDLE_MINUTES, 30 by default)."
    )
    absolute_expires_at: AwareDatetime = Field(
        description="The session ends at this time (UTC) whatever happens (ENS_AUTH_SESSION_ABSOLUTE_HOURS after login, 8 by default)."
    )
    password_expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the password stops working (UTC): 00:00 JST after the last valid day: 1 year counted in days from the day it was set, that day not counted (Q31); show the day before it.",
    )
    notices: list[Notice] = Field(default_factory=list, description="Current notices (お知らせ).")
    address_warning: str | None = Field(
        default=None,
        description=(
            "Shown to the organisation at login while mail to its registered address bounces: "
            f"「{ADDRESS_UNDELIVERABLE_NOTICE}」; absent otherwise."
        ),
    )


class Login(Command[LoginResult]):
    """Log in with an auth ID and password; the reply's session token goes with every later command. Unknown IDs and wrong passwords get the same refusal; ENS_AUTH_LOCKOUT_THRESHOLD failures in a row (5 by default) lock the account for ENS_AUTH_LOCKOUT_HOURS (24)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "login")
    auth_id: str = AUTH_ID
    password: str = Field(
        title="パスワード",
        description="Password (8-32 half-width characters when it was set; anything else fails as login_failed); never logged.",
        repr=False,
    )


class Logout(SessionCommand[Ack]):
    """End the session at once (a dead or unknown token is no error)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "logout")


class IntrospectSession(Command[SessionInfo]):
    """For other services: is this token a live session, and whose? Also refreshes its idle timer."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "introspect_session")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again
    session_token: str = Field(description="The token to check.")


class ChangePassword(SessionCommand[Ack], Idempotent):
    """Change one's own password (mail 4). An expired password cannot be changed online: an officer sets a new one."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "change_password")
    current_password: str = Field(description="The password in use now; never logged.", title="現在のパスワード", repr=False)
    new_password: str = Field(
        description="The new password: 8-32 half-width characters from the auth ID set, with at least one letter, one digit and one symbol ($ % & = @ _ # * + - ? !), not containing the auth ID (case-insensitive), and for a change not the current one. Never logged.",
        json_schema_extra={"minLength": 8, "maxLength": 32, "pattern": PASSWORD_PATTERN},
        title="新しいパスワード",
        repr=False,
    )


class ChangeEmail(SessionCommand[Ack], Idempotent):
    """Change one's own e-mail address: mail 3 to the new address, a notice to the old one."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "change_email")
    new_email: str = Field(
        title="新しいメールアドレス", description="The new address; mail 3 goes there, a notice to the old one."
    )


class AccountRegistration(Reply):
    """A registration accepted: the account becomes active on `effective_on` at 09:00 JST."""

    auth_id: str = Field(description="The auth ID registered.")
    effective_on: date = Field(description="Business day (JST) on which the next-day batch activates the account.")


class RegisterAccount(SessionCommand[AccountRegistration], Idempotent):
    """Officer only: register an organisation's account (利用者情報登録). Takes effect the next day."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "register_account")
    organisation: Organisation = Field(
        description="The organisation the account is for; it may have one valid (pending or active) account at a time."
    )
    auth_id: str = AUTH_ID
    initial_password: str = Field(
        description="The first password: 8-32 half-width characters from the auth ID set, with at least one letter, one digit and one symbol ($ % & = @ _ # * + - ? !), not containing the auth ID (case-insensitive), and for a change not the current one. Never logged.",
        json_schema_extra={"minLength": 8, "maxLength": 32, "pattern": PASSWORD_PATTERN},
        title="パスワード",
        repr=False,
    )
    email: str = EMAIL
    request: RequestProvenance | None = REQUEST


class ReissueAuthId(SessionCommand[Ack], Idempotent):
    """Officer only: mail the holder its auth ID (認証ID再通知)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "reissue_auth_id")
    organisation_id: str = Field(title="法人番号等", description="Organisation whose valid account's ID is mailed.")
    request: RequestProvenance | None = REQUEST


class SetPassword(SessionCommand[Ack], Idempotent):
    """Officer only: set a new password (forgotten or expired); clears lockout."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "set_password")
    auth_id: str = AUTH_ID
    new_password: str = Field(
        description="The new password: 8-32 half-width characters from the auth ID set, with at least one letter, one digit and one symbol ($ % & = @ _ # * + - ? !), not containing the auth ID (case-insensitive), and for a change not the current one. Never logged.",
        json_schema_extra={"minLength": 8, "maxLength": 32, "pattern": PASSWORD_PATTERN},
        title="新しいパスワード",
        repr=False,
    )
    request: RequestProvenance | None = REQUEST


class Deregister(SessionCommand[Ack], Idempotent):
    """Officer only: deregister (抹消) an account; it stops working at once, its sessions end."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "deregister")
    auth_id: str = AUTH_ID
    request: RequestProvenance | None = REQUEST


class AccountView(Reply):
    """One account's state."""

    account: AccountState = Field(description="The account's state now.")


class ChangeAccountEmail(SessionCommand[Ack], Idempotent):
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


class ChangeOrganisationDetails(SessionCommand[AccountView], Idempotent):
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

    organisation_id: str | None = Field(
        default=None, title="法人番号等", description="The organisation asked about (absent for an officer's account)."
    )
    auth_id: str | None = Field(default=None, title="認証ID", description="Its latest account; absent if it never had one.")
    email: str | None = Field(default=None, title="メールアドレス", description="That account's registered address now.")
    organisation: Organisation | None = Field(default=None, description="The organisation's registered details now.")
    valid: bool = Field(default=False, description="Whether that account is the organisation's valid (pending or active) one.")
    undeliverable: bool = Field(default=False, description="Whether that address is known to bounce (mails still go to it).")


class GetOrganisationContact(Command[OrganisationContact]):
    """Services only (filing): the organisation's registered address at this moment, for the mail an event causes (Q41)."""

    SUBJECT: ClassVar[str] = s.service_command(SERVICE, "organisation_contact")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again
    organisation_id: str | None = Field(
        default=None, title="法人番号等", description="The organisation whose contact is asked for; give this or auth_id."
    )
    auth_id: str | None = Field(
        default=None, title="認証ID", description="Or: the organisation of this account (a mail's account, for a resend)."
    )


class GetAccount(SessionCommand[AccountView]):
    """Officer only: read an account's state by auth ID or organisation."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "get_account")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again
    auth_id: str | None = Field(description="The account to read; give this or organisation_id.", default=None, title="認証ID")
    organisation_id: str | None = Field(
        description="Read the organisation's latest account instead; give this or auth_id.", default=None, title="法人番号等"
    )


class NoticeView(Reply):
    """The notice as stored."""

    notice: Notice = Field(description="The notice as stored, with its id.")


class PublishNotice(SessionCommand[NoticeView], Idempotent):
    """Officer only: publish a notice shown at login (お知らせ)."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "publish_notice")
    title: str = Field(
        description="The notice's title, one line, not blank.", json_schema_extra={"minLength": 1, "maxLength": 200}, title="件名"
    )
    body: str = Field(
        description="The notice's text, not blank; line breaks allowed.",
        json_schema_extra={"minLength": 1, "maxLength": 10000},
        title="本文",
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    ends_at: AwareDatetime | None = Field(default=None, description="Shown until (UTC), after starts_at; open-ended if absent.")


class WithdrawNotice(SessionCommand[Ack], Idempotent):
    """Officer only: withdraw a notice; it is no longer shown."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "withdraw_notice")
    notice_id: str = Field(description="Id of the notice to withdraw (Notice.notice_id).")


class NoticeList(Reply):
    """The notices in force now, newest first."""

    notices: list[Notice] = Field(description="The notices in force, newest first.")


class ListNotices(Command[NoticeList]):
    """Public: the notices in force now."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "list_notices")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again


class CreateOfficer(Command[Ack], Idempotent):
    """Operator only (`ens officer create`): create an officer account. Needs the operator token."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "create_officer")
    operator_token: str = Field(description="Secret ENS_AUTH_OPERATOR_TOKEN.", repr=False)
    auth_id: str = AUTH_ID
    password: str = Field(
        description="The officer's password: 8-32 half-width characters from the auth ID set, with at least one letter, one digit and one symbol ($ % & = @ _ # * + - ? !), not containing the auth ID (case-insensitive), and for a change not the current one. Never logged.",
        json_schema_extra={"minLength": 8, "maxLength": 32, "pattern": PASSWORD_PATTERN},
        title="パスワード",
        repr=False,
    )
    name: str = Field(description="The officer's name, up to 200 characters.", json_schema_extra={"maxLength": 200}, title="氏名")
    email: str = EMAIL


class ActivateDueRegistrations(Command[JobResult]):
    """Scheduler: activate every pending registration whose effective day has come (mail 1)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "activate_due_registrations")
    as_of: AwareDatetime = Field(description="Activate what is due at this time (UTC); not in the future unless `force`.")
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would do tomorrow's work today.",
    )


class SendPasswordExpiryWarnings(Command[JobResult]):
    """Scheduler: emit PasswordExpiryWarned for passwords whose last valid day is N days away or nearer (a missed day is caught up once)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "send_password_expiry_warnings")
    as_of: AwareDatetime = Field(description="Warn as of this time (UTC); not in the future unless `force`.")
    days_before: list[int] = Field(
        description="Warn when the password's last valid day is this many days away or nearer (0 or more each).",
        json_schema_extra={"items": {"type": "integer", "minimum": 0}},
        default_factory=lambda: [30, 7],
    )
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would do tomorrow's work today.",
    )


class ExpireIdleAccounts(Command[JobResult]):
    """Scheduler: expire accounts unused for the expiry period as of the time."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "expire_idle_accounts")
    as_of: AwareDatetime = Field(description="Expire what is due at this time (UTC); not in the future unless `force`.")
    force: bool = Field(
        default=False,
        description="Accept an as_of in the future (operators only): otherwise refused, as it would do tomorrow's work today.",
    )


# ---- events ---------------------------------------------------------------------------


class AccountRegistered(Event):
    """An officer registered an organisation's account; it takes effect on `effective_on` (no mail yet: mail 1 follows the activation)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_registered")
    auth_id: str = Field(description="The registered account's auth ID.")
    organisation: Organisation = Field(description="The organisation registered.")
    effective_on: date = Field(description="Business day (JST) on which the account becomes active at 09:00.")


class AccountActivated(Event):
    """The registration took effect and the account is active: mail 1 (利用者情報登録完了) goes to its address."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_activated")
    auth_id: str = Field(description="The activated account's auth ID.")
    organisation: Organisation = Field(description="The account's organisation.")
    email: str = Field(description="The registered address; mail 1 goes there.")
    password_expires_at: AwareDatetime = Field(
        description="When the initial password stops working (UTC): 00:00 JST after the last valid day: 1 year counted in days from the day it was set, that day not counted (Q31); show the day before it."
    )


class AuthIdReissued(Event):
    """An officer had the auth ID mailed to its holder: mail 2 (認証ID再通知)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "auth_id_reissued")
    auth_id: str = Field(description="The auth ID mailed.")
    organisation: Organisation = Field(description="The account's organisation.")
    email: str = Field(description="The registered address; mail 2 goes there.")


class EmailChanged(Event):
    """The account's e-mail address changed: mail 3 to the new address, and a notice to the old one."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "email_changed")
    auth_id: str = Field(description="The account whose address changed.")
    organisation: Organisation | None = Field(default=None, description="The account's organisation; absent for officers.")
    old_email: str = Field(description="The address before; the notice of the change goes there.")
    new_email: str = Field(description="The address from now on; mail 3 goes there.")
    by_officer: bool = Field(default=False, description="True when an officer changed it on the organisation's request.")


class PasswordChanged(Event):
    """The password was changed, by its holder or by an officer: mail 4 (パスワード変更)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "password_changed")
    auth_id: str = Field(description="The account whose password changed.")
    organisation: Organisation | None = Field(default=None, description="The account's organisation; absent for officers.")
    email: str = Field(description="The registered address; mail 4 goes there.")
    by_officer: bool = Field(description="True when an officer set it.")
    password_expires_at: AwareDatetime = Field(
        description="When the new password stops working (UTC): 00:00 JST after the last valid day: 1 year counted in days from the day it was set, that day not counted (Q31); show the day before it."
    )


class PasswordExpiryWarned(Event):
    """The password's last valid day is `days_before` days away or nearer: mail 5 (パスワード有効期限切れ間近)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "password_expiry_warned")
    auth_id: str = Field(description="The account warned.")
    organisation: Organisation | None = Field(default=None, description="The account's organisation; absent for officers.")
    email: str = Field(description="The registered address; mail 5 goes there.")
    password_expires_at: AwareDatetime = Field(
        description="When the password stops working (UTC): 00:00 JST after the last valid day: 1 year counted in days from the day it was set, that day not counted (Q31); show the day before it."
    )
    days_before: int = Field(description="Which warning this is: days before the password's last valid day (30 or 7 by default).")


class OrganisationDetailsChanged(Event):
    """An officer changed the organisation's registered details on its request (no mail)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "organisation_details_changed")
    auth_id: str = Field(description="The organisation's account.")
    organisation: Organisation = Field(description="The registered details from now on.")
    previous_name: str = Field(title="変更前の機関名", description="The name registered before.")


class AccountLocked(Event):
    """Too many failed logins in a row locked the account until `locked_until` (no mail)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_locked")
    auth_id: str = Field(description="The locked account.")
    locked_until: AwareDatetime = Field(description="Logins are refused until this time (UTC).")


class AccountDeregistered(Event):
    """An officer deregistered (抹消) the account; its sessions ended (no mail)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_deregistered")
    auth_id: str = Field(description="The deregistered account.")
    organisation: Organisation | None = Field(default=None, description="The account's organisation; absent for officers.")


class AccountExpired(Event):
    """The account was unused for a year and expired (no mail)."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "account_expired")
    auth_id: str = Field(description="The expired account.")
    organisation: Organisation | None = Field(default=None, description="The account's organisation; absent for officers.")
    last_used_at: datetime = Field(description="The account's last successful login (UTC).")


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
