"""The error family and its translation to the one error envelope at the edge.

Domain code raises DomainError (or a subclass) with a stable code, a Japanese message and the
offending fields. The broker middleware built here turns DomainError, pydantic validation
errors and anything unexpected into an ErrorReply, so no traceback ever reaches a client;
unexpected errors are logged in full on the service side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from functools import cache
from typing import Any

from faststream import Context
from faststream.middlewares import ExceptionMiddleware
from faststream.middlewares.exception import _BaseExceptionMiddleware
from pydantic import BaseModel, ValidationError

from contracts.common import AuditRecord, ErrorBody, ErrorCode, ErrorReply, FieldError
from services.runtime import limits
from services.runtime.audit import bounded_record
from services.runtime.clock import Clock, business_day
from services.runtime.limits import MAX_STRING

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


@cache
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


MAX_AUDITED_FIELDS = 50


@cache
def _commands_by_subject() -> dict[str, type[BaseModel]]:
    import contracts

    return {c.SUBJECT: c for c in contracts.ALL_COMMANDS}


def _command_for(subject: str) -> type[BaseModel] | None:
    return _commands_by_subject().get(subject)


async def _audit_refusal(broker: Any, subject: str, envelope: dict[str, Any], clock: Clock) -> None:
    """A command refused before any handler saw it (its body did not fit the contract or the
    limits) is still a command: record it in the audit trail. The body is not trusted, so no
    actor is named, and only the (bounded) paths of the offending fields are kept."""
    from contracts import subjects

    parts = subject.split(".")
    service = parts[2] if len(parts) > 2 else "unknown"
    known = _command_for(subject)
    command = known.__name__ if known is not None else limits.bounded_token(parts[-1])
    fields = [str(f["field"])[:MAX_STRING] for f in envelope["error"]["fields"][:MAX_AUDITED_FIELDS]]
    record = AuditRecord(
        at=clock.now(),
        service=service[:64],
        command=command,
        actor=None,
        target=None,
        result=str(envelope["error"]["code"]),
        details={"fields": fields, "refused_by": "contract"},
    )
    try:
        await broker.publish(bounded_record(record), subjects.audit(service), stream=subjects.AUDIT_STREAM, timeout=5)
    except Exception:
        log.exception("could not audit a refused %s", command)


# ---- the edge: limits and strict contract validation before anything else --------------

RefusalCompleter = Callable[[Any, list[FieldError], date], list[FieldError]]
"""Given a body that did not fit its contract (parsed JSON within the limits) and the contract's
complaints, every further reason the service's own rules give, so one reply names them all."""


def suite_completers() -> dict[str, RefusalCompleter]:
    """The suite's completers by command subject. Filing persons have rules beyond their types
    (Q18: every refusal names each offending field); imported here, on first use, not at import."""
    from contracts import filing
    from services.filing.domain.persons import complete_refusal

    return {filing.SubmitFiling.SUBJECT: complete_refusal, filing.ChangeFiling.SUBJECT: complete_refusal}


class ContractRefused(InvalidInput):
    """A command body refused at the edge: over the limits or not strictly its contract."""

    def __init__(self, fields: list[FieldError], *, too_large: bool = False, limit: int | None = None) -> None:
        if too_large:
            super().__init__(
                fields[0].message if fields else None, fields=fields, code=ErrorCode.TOO_LARGE, details={"max_bytes": limit}
            )
        else:
            super().__init__(fields=fields)


def check_command(subject: str, body: bytes, today: date, completers: Mapping[str, RefusalCompleter] | None = None) -> None:
    """Raises ContractRefused unless the body is within the limits and, for a known command,
    fits its contract strictly (no number taken for a date, no string for a number). Costs one
    JSON parse and one validation; done before the body is audited, logged or used."""
    command = _command_for(subject)
    max_bytes = getattr(command, "MAX_BODY_BYTES", limits.DEFAULT_MAX_BODY)
    try:
        value, violations = limits.parse(body, max_bytes=max_bytes)
    except limits.BodyRefused as exc:
        raise ContractRefused([_violation_field(v) for v in exc.violations], too_large=exc.too_large, limit=exc.limit) from None
    fields = [_violation_field(v) for v in violations]
    if command is not None:
        try:
            command.model_validate_json(body, strict=True)
        except ValidationError as exc:
            over = {f.field for f in fields}
            fields += [
                f for f in validation_to_fields(exc, command) if f.field not in over and not (over and f.code == "json_invalid")
            ]
        completer = (completers or {}).get(subject)
        if fields and completer is not None:
            fields = completer(value, fields, today)
    if fields:
        raise ContractRefused(fields)


def _violation_field(v: limits.Violation) -> FieldError:
    last = next((p for p in reversed(v.field.split(".")) if not p.isdigit()), v.field)
    return FieldError(field=v.field, label=_known_labels().get(last), code=v.code, message=v.message)


class _EdgeScope(_BaseExceptionMiddleware):
    """Checks the body before the handler decodes it; the inherited scope turns what is raised,
    the edge's refusals included, into the error envelope."""

    __slots__ = ("_check",)

    def __init__(self, check: Callable[[str, bytes], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._check = check

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        async def checked(m: Any) -> Any:
            body = m.body if isinstance(m.body, bytes) else b""
            self._check(m.raw_message.subject, body)
            return await call_next(m)

        return await super().consume_scope(checked, msg)


class EdgeMiddleware(ExceptionMiddleware):
    """FastStream's ExceptionMiddleware whose per-message scope runs `check_command` first."""

    __slots__ = ("_check",)

    def __init__(self, check: Callable[[str, bytes], None]) -> None:
        super().__init__()
        self._check = check

    def __call__(self, msg: Any | None, /, *, context: Any) -> _EdgeScope:
        return _EdgeScope(self._check, handlers=self._handlers, publish_handlers=self._publish_handlers, context=context, msg=msg)


def build_error_middleware(
    service: str, clock: Clock, completers: Mapping[str, RefusalCompleter] | None = None
) -> ExceptionMiddleware:
    """The edge every service's broker uses: bodies checked against the limits and their
    contract before anything else; exceptions become ErrorReply payloads."""
    table: Mapping[str, RefusalCompleter] | None = completers

    def check(subject: str, body: bytes) -> None:
        nonlocal table
        if table is None:
            table = suite_completers()
        check_command(subject, body, business_day(clock.now()), table)

    middleware = EdgeMiddleware(check)

    # Handlers are coroutines: FastStream runs a plain function on a worker thread, a thread hop
    # for every refusal (a wrong password, a stale version).
    @middleware.add_handler(ContractRefused, publish=True)
    async def on_refused(
        exc: ContractRefused, message: Any = Context("message"), broker: Any = Context("broker")
    ) -> dict[str, Any]:
        envelope = exc.to_reply().model_dump(mode="json")
        await _audit_refusal(broker, message.raw_message.subject, envelope, clock)
        return envelope

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
                message="システムエラーが発生しました。時間をおいて再度お試しください。解決しない場合はヘルプデスクにお問合せください。",
            )
        ).model_dump(mode="json")

    return middleware
