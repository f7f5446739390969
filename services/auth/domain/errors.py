"""One error class per refusal of auth, each with its code (contracts.common.ErrorCode), its
Japanese message and the field it concerns. The messages are part of the interface: clients
show them as they are."""

from __future__ import annotations

from datetime import date, datetime

from contracts.common import ErrorCode
from services.runtime.clock import jp_date, jp_datetime, last_day_before
from services.runtime.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, field_error


class LoginFailed(DomainError):
    """An unknown ID and a wrong password: the same code and message, nothing else."""

    code = ErrorCode.LOGIN_FAILED
    default_message = "認証IDまたはパスワードが正しくありません。"


class AccountLocked(DomainError):
    code = ErrorCode.ACCOUNT_LOCKED

    def __init__(self, locked_until: datetime) -> None:
        super().__init__(
            f"ログインに連続して失敗したため、アカウントがロックされています。{jp_datetime(locked_until)}（日本時間）以降に再度お試しください。",
            details={"locked_until": locked_until.isoformat()},
        )
        self.locked_until = locked_until


class RegistrationPending(DomainError):
    code = ErrorCode.REGISTRATION_PENDING

    def __init__(self, effective_on: date) -> None:
        super().__init__(
            f"利用者情報の登録は{jp_date(effective_on)}から有効になります。有効になるまでログインできません。",
            details={"effective_on": effective_on.isoformat()},
        )


class AccountExpired(DomainError):
    code = ErrorCode.ACCOUNT_EXPIRED
    default_message = (
        "認証IDの有効期限（最後にログインした日から1年）が切れています。"
        "最寄りの地方出入国在留管理局の窓口又は郵送で、再度、利用者情報登録の手続を行ってください。"
    )


class PasswordExpired(DomainError):
    """At login, after the right password."""

    code = ErrorCode.PASSWORD_EXPIRED

    def __init__(self, expired_at: datetime) -> None:
        super().__init__(
            f"パスワードの有効期限（{jp_date(last_day_before(expired_at))}）が切れています。"
            "最寄りの地方出入国在留管理局の窓口又は郵送で、新しいパスワードの登録の手続を行ってください。",
            details={"password_expired_at": expired_at.isoformat()},
        )


class ExpiredPasswordUnchangeable(DomainError):
    """An expired password cannot be changed online (SPEC §1): only an officer sets a new one."""

    code = ErrorCode.PASSWORD_EXPIRED
    default_message = (
        "有効期限が切れたパスワードは電子届出システムでは変更できません。"
        "最寄りの地方出入国在留管理局の窓口又は郵送で、新しいパスワードの登録の手続を行ってください。"
    )


class AuthIdTaken(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "この認証IDは使用できません。",
            fields=[
                field_error(
                    "auth_id",
                    "taken",
                    "この認証IDは既に使用されているため登録できません。別の認証IDを指定してください。",
                    "認証ID",
                )
            ],
        )


class OrganisationHasAccount(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "この機関には既に有効なアカウントがあります。",
            fields=[
                field_error(
                    "organisation.organisation_id",
                    "organisation_has_account",
                    "この法人番号等の機関には既に有効なアカウントが登録されています。",
                    "法人番号等",
                )
            ],
        )


class WrongOperatorToken(Forbidden):
    default_message = "運用者トークンが正しくありません。"


class AccountNotFound(NotFound):
    """No account has this auth ID (also for input no account can have)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message, fields=[field_error("auth_id", "not_found", "該当する認証IDのアカウントはありません。", "認証ID")]
        )


class NoValidAccount(NotFound):
    """The organisation has no valid (pending or active) account."""

    def __init__(self) -> None:
        super().__init__(
            "この機関の有効なアカウントはありません。",
            fields=[
                field_error("organisation_id", "not_found", "この法人番号等の機関に有効なアカウントはありません。", "法人番号等")
            ],
        )


class OrganisationAccountNotFound(NotFound):
    """The organisation never had an account (GetAccount by organisation)."""

    def __init__(self) -> None:
        super().__init__(
            fields=[field_error("organisation_id", "not_found", "この法人番号等の機関のアカウントはありません。", "法人番号等")]
        )


class NotYetActive(DomainError):
    default_message = "有効になっていないアカウントの認証IDは再通知できません。"


class PasswordNotSettable(DomainError):
    default_message = "抹消済みまたは有効期限切れのアカウントにはパスワードを設定できません。"


class EmailNotChangeable(DomainError):
    default_message = "抹消済みまたは有効期限切れのアカウントのメールアドレスは変更できません。"


class NotAnOrganisation(DomainError):
    default_message = "職員のアカウントには機関の登録事項がありません。"


class SameOrganisationName(InvalidInput):
    def __init__(self) -> None:
        super().__init__(fields=[field_error("name", "same_as_current", "現在の機関名と同じです。", "機関名")])


class AlreadyDeregistered(DomainError):
    default_message = "このアカウントは既に抹消されています。"


class CannotDeregisterSelf(DomainError):
    default_message = "自分自身のアカウントは抹消できません。"


class CurrentPasswordMismatch(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            fields=[field_error("current_password", "mismatch", "現在のパスワードが正しくありません。", "現在のパスワード")]
        )


class SamePassword(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            fields=[
                field_error(
                    "new_password",
                    "same_as_current",
                    "現在のパスワードと異なるパスワードを入力してください。",
                    "新しいパスワード",
                )
            ]
        )


class SameEmail(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            fields=[field_error("new_email", "same_as_current", "現在のメールアドレスと同じです。", "新しいメールアドレス")]
        )


class NoticeNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__(fields=[field_error("notice_id", "not_found", "該当するお知らせはありません。", "お知らせ")])
