"""A small typed client over nats-py: send a command, get its reply model or a CommandRefused.

Other programs (a web portal, an officer console, the `ens` command) use the suite through this.
"""

from __future__ import annotations

import json
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


class EnsClient:
    def __init__(self, nc: Nats, timeout: float = 10.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def call(self, command: Command[R], timeout: float | None = None) -> R:
        payload = command.model_dump_json().encode()
        try:
            msg = await self._nc.request(command.SUBJECT, payload, timeout=timeout or self._timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            raise ServiceUnavailable(command.SUBJECT) from None
        return decode_reply(msg.data, command.REPLY)  # type: ignore[return-value]  # REPLY is R by construction (Command.__pydantic_init_subclass__)

    async def status(self, service: str, timeout: float = 2.0) -> ServiceStatus:
        subject = subjects.status(service)
        try:
            msg = await self._nc.request(subject, b"{}", timeout=timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            raise ServiceUnavailable(subject) from None
        return decode_reply(msg.data, ServiceStatus)
