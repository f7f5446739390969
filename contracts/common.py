"""The pieces every contract shares: message bases, the error envelope, event metadata.

A command is a frozen model that knows its subject and the model of its reply, so a client
needs nothing but the command class to talk to the suite. Contracts evolve by adding
optional fields only; a consumer ignores fields it does not know.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Message(BaseModel):
    """Base of every message on the bus: frozen, and tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)


class Reply(Message):
    """Base of every successful reply."""


R = TypeVar("R", bound=Reply)


class Command(Message, Generic[R]):
    """Base of every request/reply command: `class Login(Command[LoginResult])`. Subclasses set
    SUBJECT; REPLY, the reply model, is the type argument, so `EnsClient.call(Login(...))` is
    typed as returning a LoginResult."""

    SUBJECT: ClassVar[str]
    REPLY: ClassVar[type[Reply]]
    # True for commands that only read: a client may send them again after a timeout.
    RETRY_SAFE: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for base in cls.__mro__:
            meta = getattr(base, "__pydantic_generic_metadata__", None)
            if meta and meta.get("origin") is not None and meta.get("args"):
                reply = meta["args"][0]
                if isinstance(reply, type) and issubclass(reply, Reply):
                    cls.REPLY = reply
                return


class Idempotent(Message):
    """A command that changes state: it takes an idempotency key, so a client that got no answer
    can send it again without doing it twice."""

    request_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        title="リクエストID",
        description=(
            "Idempotency key the client makes once per user action (8-64 of A-Z a-z 0-9 . _ : -, starting with a "
            "letter or digit; a UUID's 32 hex digits will do) and sends again, unchanged, with every retry of that "
            "action. The service runs the action once and answers every copy with the first reply (or refusal); the "
            "same key with a different payload is refused with `idempotency_key_reused`. Keys are kept per caller "
            "for 24 hours (ENS_IDEMPOTENCY_RETENTION_H), after which the key is new again. Optional: without it, "
            "a retried command may run twice."
        ),
    )


class Ack(Reply):
    """Reply of a command that returns nothing but its success."""

    ok: bool = Field(default=True, description="Always true; failures come as an ErrorReply.")


class SessionCommand(Command[R], Generic[R]):
    """A command made on behalf of a logged-in user (organisation or officer)."""

    session_token: str = Field(
        min_length=16,
        max_length=256,
        title="セッション",
        description="Opaque session token returned by Login.",
    )


class ErrorCode(StrEnum):
    """Stable error codes. Clients branch on these, never on the message text."""

    VALIDATION = "validation"  # one or more fields are invalid; see `fields`
    UNAUTHENTICATED = "unauthenticated"  # no, unknown or ended session
    FORBIDDEN = "forbidden"  # the caller may not do this (role, organisation)
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # e.g. auth ID taken, organisation already has an account
    STALE = "stale"  # the command was based on an older version (不正な画面遷移)
    INVALID_STATE = "invalid_state"  # the target's state does not allow this
    LOGIN_FAILED = "login_failed"  # unknown ID or wrong password: deliberately the same
    ACCOUNT_LOCKED = "account_locked"
    REGISTRATION_PENDING = "registration_pending"
    PASSWORD_EXPIRED = "password_expired"
    ACCOUNT_EXPIRED = "account_expired"
    TOO_LARGE = "too_large"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"  # the same request_id came with another payload
    UNAVAILABLE = "unavailable"  # a dependency (another service, the store) did not answer
    INTERNAL = "internal"  # a bug; details are in the service's log, never in the reply


class FieldError(Message):
    """One offending field, so a form can show the reason next to it."""

    field: str = Field(description="Dotted path of the field, e.g. `persons.3.residence_card_number`.")
    label: str | None = Field(default=None, description="Japanese label of the field, e.g. 在留カード番号.")
    code: str = Field(description="Stable reason code, e.g. `too_short`, `pattern`, `required`.")
    message: str = Field(description="Reason in Japanese, ready to show to a person.")
    row: int | None = Field(default=None, description="CSV row (1 = first data row) for bulk uploads.")
    column: str | None = Field(default=None, description="CSV column header for bulk uploads.")


class ErrorBody(Message):
    """What went wrong: a stable code, a Japanese message, the offending fields and machine-readable details."""

    code: ErrorCode = Field(description="Stable error code.")
    message: str = Field(description="What went wrong, in Japanese.")
    fields: list[FieldError] = Field(default_factory=list, description="Per-field reasons.")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="Machine-readable extras, e.g. `locked_until` for ACCOUNT_LOCKED.",
    )


class ErrorReply(Message):
    """The one error envelope. Every refused command is answered with this."""

    error: ErrorBody = Field(description="The refusal.")


class EventMeta(Message):
    """Metadata of a domain event. `event_id` is derived from the change that caused it,
    so the same change always yields the same id (it is also the JetStream Nats-Msg-Id)."""

    event_id: str = Field(description="Deterministic id of the change that caused the event.")
    occurred_at: AwareDatetime = Field(description="When the change happened (UTC).")
    source: str = Field(description="Service that owns the change: auth, filing, ...")


class Event(Message):
    """Base of every domain event. Subclasses set SUBJECT."""

    SUBJECT: ClassVar[str]
    meta: EventMeta = Field(description="Who recorded the event, when, and its deterministic id (also its Nats-Msg-Id).")


class JobResult(Reply):
    """Reply of a time-driven (system) command of any service."""

    as_of: AwareDatetime = Field(description="The time the job ran as of (UTC).")
    processed: int = Field(description="How many targets were examined.")
    changed: int = Field(description="How many were changed or notified.")
    details: dict[str, int] = Field(
        description="Counts by what was done, e.g. `activated`, `warned`, `purged`.", default_factory=dict
    )


class ServiceStatusRequest(Message):
    """Ask a service whether it is up. Empty on purpose."""


class ReadinessCheck(Message):
    """One thing a replica needs to do its work, and whether it has it."""

    name: str = Field(
        description="What was checked, e.g. `nats`, `stream:ENS_EVENTS`, `consumer:notifier`, `fetch:notifier-events`."
    )
    ok: bool = Field(description="Whether the replica has it.")
    detail: str = Field(default="", description="Why not, when not.")


class ServiceStatus(Reply):
    """One replica's answer to a status request: who it is, since when, what it owns and whether it is ready."""

    service: str = Field(description="auth, filing, notifier or scheduler.")
    instance: str = Field(description="Id of the answering replica.")
    version: str = Field(description="Package version of the replica.")
    started_at: datetime = Field(description="When the replica started (UTC).")
    owns: list[str] = Field(description="Streams and buckets this service declares and owns.")
    ready: bool | None = Field(
        default=None,
        description=(
            "Whether the answering replica can do its work: connected on every connection, its streams, buckets and "
            "consumers present, its subscriptions and fetch loops live (the same checks as its /readyz). "
            "Absent from replicas older than this field."
        ),
    )
    checks: list[ReadinessCheck] | None = Field(default=None, description="The readiness checks one by one.")
    metrics_port: int | None = Field(
        default=None, description="Port of the replica's /metrics, /healthz and /readyz endpoint, when it serves one."
    )


class AuditRecord(Message):
    """One line of the append-only audit trail (stream ENS_AUDIT). Never holds a password."""

    at: AwareDatetime = Field(description="When the command was answered (UTC, on the service's clock).")
    service: str = Field(description="The service that answered: auth, filing, notifier or scheduler.")
    command: str = Field(description="Command class name, e.g. SubmitFiling.")
    actor: str | None = Field(default=None, description="Auth ID of the caller, `system` or `operator`.")
    target: str | None = Field(default=None, description="Auth ID, organisation or reception number acted on.")
    result: str = Field(description="`ok` or the error code.")
    details: dict[str, Any] = Field(
        description="What the command did or was refused for, bounded (at most 8 KiB a record): ids and counts, never a password or a foreign national's personal data.",
        default_factory=dict,
    )
