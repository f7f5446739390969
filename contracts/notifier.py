"""The nine mail types (SPEC §3, Q41) and the delivery log the helpdesk queries."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from contracts import auth, filing
from contracts import subjects as s
from contracts.common import Command, Event, Idempotent, Message, Reply, SessionCommand

SERVICE = "notifier"


class MailType(StrEnum):
    REGISTRATION_COMPLETE = "registration_complete"  # 1 利用者情報登録
    AUTH_ID_REISSUE = "auth_id_reissue"  # 2 認証ID再通知
    EMAIL_CHANGED = "email_changed"  # 3 メールアドレス変更 (to the new address)
    EMAIL_CHANGED_NOTICE = "email_changed_notice"  # 3' the notice to the old address
    PASSWORD_CHANGED = "password_changed"  # 4 パスワード変更
    PASSWORD_EXPIRY_SOON = "password_expiry_soon"  # 5 パスワード有効期限切れ間近
    FILING_SUBMITTED = "filing_submitted"  # 6 届出・報告の申込
    FILING_CHANGED = "filing_changed"  # 7 届出・報告の変更
    FILING_WITHDRAWN = "filing_withdrawn"  # 8 届出・報告の取下げ
    FIX_REQUESTED = "fix_requested"  # 9 報告の修正依頼

    @property
    def number(self) -> int:
        """The type's number in SPEC §3 (the notice to the old address counts as 3)."""
        return MAIL_NUMBERS[self]

    @property
    def label(self) -> str:
        return MAIL_LABELS[self]


MAIL_NUMBERS: dict[MailType, int] = {
    MailType.REGISTRATION_COMPLETE: 1,
    MailType.AUTH_ID_REISSUE: 2,
    MailType.EMAIL_CHANGED: 3,
    MailType.EMAIL_CHANGED_NOTICE: 3,
    MailType.PASSWORD_CHANGED: 4,
    MailType.PASSWORD_EXPIRY_SOON: 5,
    MailType.FILING_SUBMITTED: 6,
    MailType.FILING_CHANGED: 7,
    MailType.FILING_WITHDRAWN: 8,
    MailType.FIX_REQUESTED: 9,
}

MAIL_LABELS: dict[MailType, str] = {
    MailType.REGISTRATION_COMPLETE: "利用者情報登録",
    MailType.AUTH_ID_REISSUE: "認証ID再通知",
    MailType.EMAIL_CHANGED: "メールアドレス変更",
    MailType.EMAIL_CHANGED_NOTICE: "メールアドレス変更のお知らせ",
    MailType.PASSWORD_CHANGED: "パスワード変更",
    MailType.PASSWORD_EXPIRY_SOON: "パスワード有効期限切れ間近",
    MailType.FILING_SUBMITTED: "届出・報告の申込",
    MailType.FILING_CHANGED: "届出・報告の変更",
    MailType.FILING_WITHDRAWN: "届出・報告の取下げ",
    MailType.FIX_REQUESTED: "報告の修正依頼",
}

# Which event causes which mail(s). The notifier's routing table implements exactly this.
MAIL_CAUSES: dict[MailType, type[Event]] = {
    MailType.REGISTRATION_COMPLETE: auth.AccountActivated,
    MailType.AUTH_ID_REISSUE: auth.AuthIdReissued,
    MailType.EMAIL_CHANGED: auth.EmailChanged,
    MailType.EMAIL_CHANGED_NOTICE: auth.EmailChanged,
    MailType.PASSWORD_CHANGED: auth.PasswordChanged,
    MailType.PASSWORD_EXPIRY_SOON: auth.PasswordExpiryWarned,
    MailType.FILING_SUBMITTED: filing.FilingSubmitted,
    MailType.FILING_CHANGED: filing.FilingChanged,
    MailType.FILING_WITHDRAWN: filing.FilingWithdrawn,
    MailType.FIX_REQUESTED: filing.FilingReturned,
}


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    BOUNCED = "bounced"  # accepted by the first server, then returned as undeliverable (a 5.x.x report)


class MailStatus(StrEnum):
    """What a delivery-status event says happened to a mail (MailStatusChanged.status)."""

    QUEUED = "queued"  # the notifier took the mail on (first claim in the ledger)
    SENT = "sent"  # the SMTP server answered 250 to the final "."
    DEFERRED = "deferred"  # a temporary failure (4xx, no connection, timeout); tried again later
    FAILED = "failed"  # refused for good (5xx) or still failing after the give-up time
    BOUNCED = "bounced"  # a delivery status notification came back: hard (5.x.x) undeliverable
    RESENT = "resent"  # an officer had the mail sent again; `resent_as` names the new mail


class BounceKind(StrEnum):
    HARD = "hard"  # 5.x.x: the address does not take mail (no such user, domain, refused)
    SOFT = "soft"  # 4.x.x: a transient note (mailbox full, delayed); the mail may still arrive


class StatusNote(Message):
    """One change (or note) in a mail's delivery history."""

    status: MailStatus = Field(description="What happened: queued, sent, deferred, failed, bounced or resent.")
    at: AwareDatetime = Field(description="When (UTC).")
    attempt: int = Field(ge=0, description="SMTP attempts made so far.")
    smtp_code: int | None = Field(default=None, description="The SMTP server's reply code, when one answered.")
    smtp_message: str | None = Field(default=None, description="The server's reply text, or a bounce's diagnostic.")
    status_code: str | None = Field(default=None, description="A bounce's enhanced status code, e.g. 5.1.1.")
    reporting_mta: str | None = Field(default=None, description="The MTA that reported a bounce.")
    note: str | None = Field(
        default=None,
        description="Why, in words: e.g. `soft bounce` (a 4.x.x report: the mail's status did not change) or a resend's reason.",
    )


class DeliveryRecord(Message):
    """One mail's line in the delivery log: where it went, when, how often it was tried and the server's answer."""

    mail_id: str = Field(description="Id of the mail: derived from (event id, mail type, recipient).")
    event_id: str = Field(description="Id of the event that caused the mail (its meta.event_id).")
    mail_type: MailType = Field(description="Which of the nine mail types (and the notice to an old address).")
    recipient: str = Field(description="The address the mail went to.")
    subject: str | None = Field(default=None, description="The mail's Subject, once rendered.")
    status: DeliveryStatus = Field(
        description="queued, sent, retrying (a temporary failure; `next_attempt_at` says when), failed (permanent, or still failing after the give-up time) or bounced (accepted, then reported undeliverable)."
    )
    attempts: int = Field(description="How many times sending was tried.")
    queued_at: AwareDatetime = Field(description="When the mail was claimed in the ledger (UTC).")
    last_attempt_at: AwareDatetime | None = Field(default=None, description="When it was last tried (UTC).")
    sent_at: AwareDatetime | None = Field(default=None, description="When the SMTP server accepted it (UTC).")
    next_attempt_at: AwareDatetime | None = Field(default=None, description="When it is tried again (UTC), while retrying.")
    smtp_code: int | None = Field(default=None, description="The SMTP server's last reply code.")
    smtp_message: str | None = Field(default=None, description="The SMTP server's last reply text.")
    message_id: str | None = Field(default=None, description="Message-ID header of the mail.")
    auth_id: str | None = Field(default=None, description="The account the mail concerns.")
    reception_number: str | None = Field(default=None, description="The filing the mail concerns (mails 6-9).")
    trace_id: str | None = Field(
        default=None,
        description=(
            "W3C/OpenTelemetry trace id of the command that caused the event this mail answers (32 hex digits), "
            "as in the services' log lines and the messages' `traceparent` header."
        ),
    )
    history: list[StatusNote] = Field(
        default_factory=list, description="Every change of the mail's state (and soft-bounce notes), oldest first."
    )
    template_version: str | None = Field(
        default=None, description="Content hash of the template set the mail was rendered with (12 hex digits)."
    )
    envelope_sender: str | None = Field(
        default=None, description="The SMTP envelope sender (MAIL FROM): a VERP address when bounces are taken."
    )
    resent_from: str | None = Field(default=None, description="For a resent mail: the id of the mail it resends.")
    resent_as: str | None = Field(default=None, description="For a mail an officer had resent: the id of the (latest) new mail.")
    bounce_status_code: str | None = Field(default=None, description="A hard bounce's enhanced status code, e.g. 5.1.1.")
    bounce_diagnostic: str | None = Field(
        default=None, description="A hard bounce's diagnostic, as the receiving server reported it."
    )
    bounce_reporting_mta: str | None = Field(default=None, description="The MTA that reported the hard bounce.")
    bounced_at: AwareDatetime | None = Field(default=None, description="When the hard bounce was recorded (UTC).")
    address_flagged: bool = Field(
        default=False,
        description="The recipient had bounced before (a hard bounce flagged it, and no account has registered it again since) when the mail was queued; it was sent all the same.",
    )


class DeliveryLog(Reply):
    """The delivery log lines that match, newest first."""

    records: list[DeliveryRecord] = Field(description="The matching records, newest first, at most `limit`.")


class QueryDeliveryLog(Command[DeliveryLog]):
    """Helpdesk/operator: which mails went where, when, with what answer. Give at least one filter."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "query_delivery_log")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again
    auth_id: str | None = Field(default=None, description="Mails concerning this auth ID.")
    reception_number: str | None = Field(default=None, description="Mails concerning this filing.")
    recipient: str | None = Field(default=None, description="Mails sent to this address.")
    mail_id: str | None = Field(default=None, description="The one mail with this id.")
    limit: int = Field(description="Most records returned, 1-1000.", default=100, ge=1, le=1000)


class MailStatusChanged(Event):
    """A mail's delivery state changed: one event per change, exactly once (deterministic id).

    Carries no body and no personal data of foreign nationals: the mail's id and type, the
    account and filing it concerns, the state, the attempt and the server's answer."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "mail_status_changed")
    mail_id: str = Field(description="Id of the mail (as in the delivery log).")
    mail_type: MailType = Field(description="Which of the nine mail types (and the notice to an old address).")
    auth_id: str | None = Field(default=None, title="認証ID", description="The account the mail concerns.")
    reception_number: str | None = Field(default=None, title="受付番号", description="The filing the mail concerns (mails 6-9).")
    status: MailStatus = Field(description="The mail's new state.")
    attempt: int = Field(ge=0, description="How many SMTP attempts were made so far (0 while queued).")
    smtp_code: int | None = Field(default=None, description="The SMTP server's reply code, when one answered.")
    smtp_message: str | None = Field(default=None, description="The SMTP server's reply text (or the bounce's diagnostic).")
    at: AwareDatetime = Field(description="When the state changed (UTC).")
    resent_from: str | None = Field(default=None, description="For a resent mail: the id of the mail it is a new attempt of.")
    resent_as: str | None = Field(default=None, description="With status `resent`: the id of the new mail.")


class AddressBounced(Event):
    """A mail to an account's registered address came back as undeliverable (hard bounce).

    Auth listens to it and marks the address undeliverable until a new address is registered."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "address_bounced")
    mail_id: str = Field(description="The mail that bounced.")
    mail_type: MailType = Field(description="Its type.")
    auth_id: str | None = Field(default=None, title="認証ID", description="The account whose address bounced.")
    recipient: str = Field(description="The address that does not take mail.")
    status_code: str | None = Field(default=None, description="The enhanced status code of the report, e.g. 5.1.1.")
    diagnostic: str | None = Field(default=None, description="The receiving server's diagnostic, as reported.")
    reporting_mta: str | None = Field(default=None, description="The MTA that reported the bounce.")
    bounced_at: AwareDatetime = Field(description="When the bounce was recorded (UTC).")


class BounceRecorded(Reply):
    """What the notifier made of a bounce the intake received."""

    mail_id: str | None = Field(default=None, description="The mail the bounce concerns; absent when no mail of ours matched.")
    recorded: bool = Field(description="True when the delivery log now holds the bounce (also on a repeat of the same report).")


class RecordBounce(Command[BounceRecorded], Idempotent):
    """The bounce intake only: a delivery status notification (or a server's own bounce) came
    back for one of our mails. Found by the VERP envelope address (`mail_id`), else by the
    original Message-ID in the report. Hard (5.x.x) marks the mail `bounced` and publishes
    AddressBounced; soft (4.x.x) adds a note to the delivery log."""

    SUBJECT: ClassVar[str] = s.service_command(SERVICE, "record_bounce")
    mail_id: str | None = Field(default=None, max_length=128, description="The mail id from the VERP envelope address.")
    original_message_id: str | None = Field(
        default=None,
        max_length=998,
        description="Message-ID of the bounced mail, from the report, when the envelope did not say.",
    )
    kind: BounceKind = Field(description="hard (5.x.x) or soft (4.x.x).")
    status_code: str | None = Field(default=None, max_length=16, description="Enhanced status code, e.g. 5.1.1.")
    diagnostic: str | None = Field(default=None, max_length=2000, description="Diagnostic-Code or the bounce's explanation.")
    reporting_mta: str | None = Field(default=None, max_length=255, description="Reporting-MTA of the report.")
    recipient: str | None = Field(default=None, max_length=320, description="Final-Recipient of the report.")


class SentMail(Reply):
    """The exact message handed to the SMTP server (the bytes after DATA, before dot-stuffing)."""

    mail_id: str = Field(description="Id of the mail.")
    data_base64: str = Field(description="The message's bytes, base64.")
    template_version: str | None = Field(default=None, description="Content hash of the template set it was rendered with.")
    message_id: str | None = Field(default=None, description="Its Message-ID header.")


class GetSentMail(Command[SentMail]):
    """Helpdesk/operator: the exact mail sent (kept as long as its delivery-log record)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "get_sent_mail")
    RETRY_SAFE: ClassVar[bool] = True  # only reads
    mail_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Id of the mail.")


class MailResent(Reply):
    """The resend an officer asked for: the new mail, queued for the account's current address."""

    mail_id: str = Field(description="The original mail.")
    resent_as: str = Field(description="Id of the new mail.")
    recipient: str = Field(description="Where the new mail goes: the address registered now.")


class ResendMail(SessionCommand[MailResent], Idempotent):
    """An officer (helpdesk) has a mail sent again, e.g. after "my mail did not arrive": the same
    content as a new mail, to the account's address registered now. Allowed for mails that failed,
    bounced, or were sent and are reported missing."""

    SUBJECT: ClassVar[str] = s.command(SERVICE, "resend_mail")
    mail_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", title="メールID", description="The mail to send again."
    )
    reason: str = Field(
        min_length=1,
        max_length=200,
        title="理由",
        description="Why it is sent again (kept in the delivery log and the audit trail).",
    )


class MailResendRequested(Event):
    """The notifier's own: a resent mail is queued; its event consumer sends it. Portals may ignore it."""

    SUBJECT: ClassVar[str] = s.event(SERVICE, "mail_resend_requested")
    mail_id: str = Field(description="Id of the new mail.")
    resent_from: str = Field(description="The mail it resends.")
    mail_type: MailType = Field(description="Its type.")
    auth_id: str | None = Field(default=None, title="認証ID", description="The account the mail concerns.")
    reception_number: str | None = Field(default=None, title="受付番号", description="The filing the mail concerns.")
    recipient: str = Field(description="The address the new mail goes to.")


COMMANDS: tuple[type[Command[Any]], ...] = (QueryDeliveryLog, RecordBounce, GetSentMail, ResendMail)
EVENTS: tuple[type[Event], ...] = (MailStatusChanged, AddressBounced, MailResendRequested)
