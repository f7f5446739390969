"""The nine mail types (SPEC §3, Q41) and the delivery log the helpdesk queries."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from contracts import auth, filing
from contracts import subjects as s
from contracts.common import Command, Event, Message, Reply

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


class DeliveryRecord(Message):
    """One mail's line in the delivery log: where it went, when, how often it was tried and the server's answer."""

    mail_id: str = Field(description="Id of the mail: derived from (event id, mail type, recipient).")
    event_id: str = Field(description="Id of the event that caused the mail (its meta.event_id).")
    mail_type: MailType = Field(description="Which of the nine mail types (and the notice to an old address).")
    recipient: str = Field(description="The address the mail went to.")
    subject: str | None = Field(default=None, description="The mail's Subject, once rendered.")
    status: DeliveryStatus = Field(
        description="queued, sent, retrying (a temporary failure; `next_attempt_at` says when) or failed (permanent, or still failing after the give-up time)."
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


COMMANDS: tuple[type[Command[Any]], ...] = (QueryDeliveryLog,)
EVENTS: tuple[type[Event], ...] = ()
