"""A small typed client over nats-py: send a command, get its reply model or a CommandRefused.

Other programs (a web portal, an officer console, the `ens` command) use the suite through this.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TypeVar

import nats.errors
from nats.aio.client import Client as Nats

from contracts import subjects
from contracts.common import Command, ErrorBody, ErrorCode, ErrorReply, Reply, ServiceStatus

R = TypeVar("R", bound=Reply)


class CommandRefused(Exception):
    """The service answered with the error envelope."""

    def __init__(self, error: ErrorBody) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error

    @property
    def code(self) -> ErrorCode:
        return self.error.code


class ServiceUnavailable(CommandRefused):
    """Nobody answered in time (service down, or no responders)."""

    def __init__(self, subject: str) -> None:
        super().__init__(
            ErrorBody(
                code=ErrorCode.UNAVAILABLE,
                message="サービスが応答しません。しばらくしてから再度お試しください。",
                details={"subject": subject},
            )
        )


def decode_reply(data: bytes, reply_model: type[R]) -> R:
    """Turn reply bytes into the reply model, or raise CommandRefused for the error envelope."""
    raw = json.loads(data)
    if isinstance(raw, dict) and "error" in raw and set(raw) == {"error"}:
        raise CommandRefused(ErrorReply.model_validate(raw).error)
    return reply_model.model_validate(raw)


def new_request_id() -> str:
    """A fresh idempotency key: 32 hex digits (the contract allows 8-64 of [A-Za-z0-9._:-])."""
    return uuid.uuid4().hex


class EnsClient:
    def __init__(self, nc: Nats, timeout: float = 10.0, *, retries: int = 2, backoff_s: float = 0.5) -> None:
        self._nc = nc
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff_s

    async def call(self, command: Command[R], timeout: float | None = None, *, retries: int | None = None) -> R:
        """Send the command and return its reply model, or raise CommandRefused.

        A command that changes state carries an idempotency key (`request_id`): one is made here
        per call when the caller gave none, and a timed-out or unanswered command is sent again
        with the same key, so the service runs it once and answers every copy with its first
        reply. Commands that only read are retried as they are. Anything else (no key, no
        reading) is sent once: a retry could do it twice. After the retries, ServiceUnavailable."""
        keyed = "request_id" in type(command).model_fields
        if keyed and getattr(command, "request_id", None) is None:
            command = command.model_copy(update={"request_id": new_request_id()})
        attempts = 1 + ((self._retries if retries is None else retries) if keyed or command.RETRY_SAFE else 0)
        payload = command.model_dump_json().encode()
        limit = self._nc.max_payload
        if limit and len(payload) > limit:
            raise CommandRefused(
                ErrorBody(
                    code=ErrorCode.TOO_LARGE,
                    message=f"送信内容が大きすぎます（{len(payload):,}バイト。NATS の上限は{limit:,}バイトです）。",
                    details={"bytes": len(payload), "max_payload": limit},
                )
            )
        for attempt in range(attempts):
            try:
                msg = await self._nc.request(command.SUBJECT, payload, timeout=timeout or self._timeout)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                if attempt + 1 < attempts:
                    await asyncio.sleep(self._backoff * 2**attempt)
                    continue
                raise ServiceUnavailable(command.SUBJECT) from None
            return decode_reply(msg.data, command.REPLY)  # type: ignore[return-value]  # REPLY is R by construction (Command.__pydantic_init_subclass__)
        raise AssertionError("unreachable: the loop returns or raises")

    async def status(self, service: str, timeout: float = 2.0) -> ServiceStatus:
        subject = subjects.status(service)
        try:
            msg = await self._nc.request(subject, b"{}", timeout=timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            raise ServiceUnavailable(subject) from None
        return decode_reply(msg.data, ServiceStatus)
