"""The error family and its translation to the one error envelope at the edge.

Domain code raises DomainError (or a subclass) with a stable code, a Japanese message and the
offending fields. The broker middleware built here turns DomainError, pydantic validation
errors and anything unexpected into an ErrorReply, so no traceback ever reaches a client;
unexpected errors are logged in full on the service side.
"""

from __future__ import annotations

import logging
from typing import Any

from faststream import Context
from faststream.middlewares import ExceptionMiddleware
from pydantic import BaseModel, ValidationError

from contracts.common import AuditRecord, ErrorBody, ErrorCode, ErrorReply, FieldError
from services.runtime.clock import Clock

log = logging.getLogger("ens.errors")


class DomainError(Exception):
    code: ErrorCode = ErrorCode.INVALID_STATE
    default_message: str = "この操作は現在の状態では行えません。"

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: list[FieldError] | None = None,
        code: ErrorCode | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.fields = fields or []
        if code is not None:
            self.code = code
        self.details = details or {}
        super().__init__(f"{self.code}: {self.message}")

    def to_reply(self) -> ErrorReply:
        return ErrorReply(error=ErrorBody(code=self.code, message=self.message, fields=self.fields, details=self.details))


class InvalidInput(DomainError):
    code = ErrorCode.VALIDATION
    default_message = "入力内容に誤りがあります。各項目のメッセージを確認してください。"


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED
    default_message = "ログインしていないか、セッションの有効期限が切れています。再度ログインしてください。"


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN
    default_message = "この操作を行う権限がありません。"


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND
    default_message = "対象が見つかりません。"


class Conflict(DomainError):
    code = ErrorCode.CONFLICT
    default_message = "既に登録されています。"


class Stale(DomainError):
    code = ErrorCode.STALE
    default_message = "他の操作により内容が更新されています（不正な画面遷移）。最新の内容を表示してからやり直してください。"


class Unavailable(DomainError):
    code = ErrorCode.UNAVAILABLE
    default_message = "サービスが一時的に利用できません。しばらくしてから再度お試しください。"


def field_error(field: str, code: str, message: str, label: str | None = None, **extra: Any) -> FieldError:
    return FieldError(field=field, code=code, message=message, label=label, **extra)


# ---- pydantic errors in Japanese -------------------------------------------------------

_PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": "入力してください。",
    "string_type": "文字列で入力してください。",
    "string_too_short": "{min_length}文字以上で入力してください。",
    "string_too_long": "{max_length}文字以内で入力してください。",
    "string_pattern_mismatch": "形式が正しくありません。",
    "int_type": "整数で入力してください。",
    "int_parsing": "整数で入力してください。",
    "greater_than_equal": "{ge}以上の値を入力してください。",
    "less_than_equal": "{le}以下の値を入力してください。",
    "too_short": "{min_length}件以上指定してください。",
    "too_long": "{max_length}件以内で指定してください。",
    "enum": "選択肢の中から選んでください。",
    "literal_error": "選択肢の中から選んでください。",
    "date_type": "日付（YYYY-MM-DD）で入力してください。",
    "date_parsing": "日付（YYYY-MM-DD）で入力してください。",
    "date_from_datetime_parsing": "日付（YYYY-MM-DD）で入力してください。",
    "datetime_type": "日時（ISO 8601）で入力してください。",
    "datetime_parsing": "日時（ISO 8601）で入力してください。",
    "datetime_from_date_parsing": "日時（ISO 8601）で入力してください。",
    "timezone_aware": "タイムゾーン付きの日時で入力してください。",
    "bool_type": "true または false で指定してください。",
    "bool_parsing": "true または false で指定してください。",
    "list_type": "一覧（配列）で指定してください。",
    "model_type": "形式が正しくありません。",
    "model_attributes_type": "形式が正しくありません。",
    "dict_type": "形式が正しくありません。",
    "json_invalid": "JSON として読み取れません。",
    "json_type": "JSON として読み取れません。",
}


def _label_for(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str | None:
    """Japanese title of the field at loc, walking nested models where it can."""
    current: Any = model
    label = None
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return label
        info = fields[part]
        label = info.title or label
        annotation = info.annotation
        inner = getattr(annotation, "__args__", None)
        if inner:
            annotation = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return label


def validation_to_fields(exc: ValidationError, model: type[BaseModel] | None = None) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        ctx = err.get("ctx") or {}
        template = _PYDANTIC_MESSAGES.get(err["type"], "入力内容が正しくありません。")
        try:
            message = template.format(**ctx)
        except (KeyError, IndexError):
            message = template
        out.append(
            FieldError(
                field=".".join(str(p) for p in loc) or "(body)",
                label=_label_for(model, loc),
                code=err["type"],
                message=message,
            )
        )
    return out


def _known_labels() -> dict[str, str]:
    """Field name -> Japanese title over every contract model, for errors raised before a
    handler knows which model it was validating."""
    import contracts
    from contracts.filing import Person

    labels: dict[str, str] = {}
    models: list[type[BaseModel]] = [*contracts.ALL_COMMANDS, Person]
    for model in models:
        for name, info in model.model_fields.items():
            if info.title:
                labels.setdefault(name, info.title)
    return labels


def envelope_for_validation(exc: ValidationError, model: type[BaseModel] | None = None) -> dict[str, Any]:
    fields = validation_to_fields(exc, model)
    # FastStream reports locs as (parameter_name, field, ...): drop the parameter name.
    labels = _known_labels()
    cleaned = []
    for f in fields:
        _, _, rest = f.field.partition(".")
        name = rest or "(body)"
        last = next((p for p in reversed(name.split(".")) if not p.isdigit()), name)
        cleaned.append(f.model_copy(update={"field": name, "label": f.label or labels.get(last)}))
    return InvalidInput(fields=cleaned).to_reply().model_dump(mode="json")


async def _audit_refusal(broker: Any, subject: str, envelope: dict[str, Any], clock: Clock) -> None:
    """A command refused before any handler saw it (its body did not fit the contract) is still
    a command: record it in the audit trail. The body is not trusted, so no actor is named."""
    import contracts
    from contracts import subjects

    parts = subject.split(".")
    service = parts[2] if len(parts) > 2 else "unknown"
    command = next((c.__name__ for c in contracts.ALL_COMMANDS if subject == c.SUBJECT), parts[-1])
    record = AuditRecord(
        at=clock.now(),
        service=service,
        command=command,
        actor=None,
        target=None,
        result=str(ErrorCode.VALIDATION),
        details={"fields": [f["field"] for f in envelope["error"]["fields"]], "refused_by": "contract"},
    )
    try:
        await broker.publish(record.model_dump(mode="json"), subjects.audit(service), stream=subjects.AUDIT_STREAM, timeout=5)
    except Exception:
        log.exception("could not audit a refused %s", command)


def build_error_middleware(service: str, clock: Clock) -> ExceptionMiddleware:
    """The edge translator every service's broker uses: exceptions become ErrorReply payloads."""
    middleware = ExceptionMiddleware()

    # Handlers are coroutines: FastStream runs a plain function on a worker thread, a thread hop
    # for every refusal (a wrong password, a stale version).
    @middleware.add_handler(DomainError, publish=True)
    async def on_domain(exc: DomainError) -> dict[str, Any]:
        return exc.to_reply().model_dump(mode="json")

    @middleware.add_handler(ValidationError, publish=True)
    async def on_validation(
        exc: ValidationError, message: Any = Context("message"), broker: Any = Context("broker")
    ) -> dict[str, Any]:
        envelope = envelope_for_validation(exc)
        await _audit_refusal(broker, message.raw_message.subject, envelope, clock)
        return envelope

    @middleware.add_handler(Exception, publish=True)
    async def on_unexpected(exc: Exception) -> dict[str, Any]:
        log.exception("unexpected error in %s handler", service, exc_info=exc)
        return ErrorReply(
            error=ErrorBody(
                code=ErrorCode.INTERNAL,
                message="システムエラーが発生しました。時間をおいて再度お試しください。解決しない場合はヘルプデスクにお問い合わせください。",
            )
        ).model_dump(mode="json")

    return middleware
