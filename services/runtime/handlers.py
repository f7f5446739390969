"""Registering a command handler: the subject, queue group and AsyncAPI text come from the contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.nats import NatsRouter

from contracts import subjects
from contracts.common import Command

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def handles(router: NatsRouter, command: type[Command], service: str) -> Callable[[F], F]:
    """Subscribe `fn` to the command's subject in the service's queue group, so replicas share load.

    Use it instead of spelling a subject: `@handles(self.router, Login, "auth")`.
    """

    def register(fn: F) -> F:
        doc = (command.__doc__ or command.__name__).strip().splitlines()[0]
        router.subscriber(
            command.SUBJECT,
            queue=subjects.queue_group(service),
            title=f"{command.SUBJECT}:{command.__name__}",
            description=doc,
        )(fn)
        return fn

    return register
