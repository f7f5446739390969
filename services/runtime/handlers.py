"""Registering a command handler: the subject, queue group and AsyncAPI text come from the contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.nats import NatsRouter

from contracts import subjects
from contracts.common import Command
from services.runtime.settings import RuntimeSettings

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

DEFAULT_CONCURRENCY: int = RuntimeSettings.model_fields["command_concurrency"].default


class CommandRouter(NatsRouter):
    """A service's router: knows how many commands of one kind a replica works on at once
    (ENS_COMMAND_CONCURRENCY). FastStream's default is one at a time per subject, which leaves a
    core idle while a command waits for NATS."""

    def __init__(self, *args: Any, concurrency: int = DEFAULT_CONCURRENCY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.concurrency = concurrency


def handles(router: NatsRouter, command: type[Command], service: str) -> Callable[[F], F]:
    """Subscribe `fn` to the command's subject in the service's queue group, so replicas share load.

    Use it instead of spelling a subject: `@handles(self.router, Login, "auth")`. On a
    CommandRouter, up to its `concurrency` commands of this kind are handled at once; their state
    changes are compare-and-set writes, so concurrent commands are as safe as two replicas.
    """
    concurrency = getattr(router, "concurrency", DEFAULT_CONCURRENCY)

    def register(fn: F) -> F:
        doc = (command.__doc__ or command.__name__).strip().splitlines()[0]
        router.subscriber(
            command.SUBJECT,
            queue=subjects.queue_group(service),
            max_workers=concurrency,
            title=f"{command.SUBJECT}:{command.__name__}",
            description=doc,
        )(fn)
        return fn

    return register
