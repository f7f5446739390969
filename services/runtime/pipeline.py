"""The command pipeline: what happens to every command of every service, in one place.

A service declares a handler table `{CommandClass: use_case}` (its `handlers.py`) and the
runtime mounts it. For each command the pipeline

1. builds a `CommandContext` (the service's started ports, an empty audit `Trail`, a lazy
   principal resolver),
2. runs the use case `async def use_case(cmd, ctx) -> reply`,
3. writes one audit record — actor, target, result (`ok` or the error code), details — on the
   injected clock, for successes and refusals alike,
4. counts it, by outcome and duration, for Prometheus (`ens_commands_total`,
   `ens_command_duration_seconds`) and the NATS service API's STATS,
5. lets the broker's error middleware turn a raised error into the one error envelope.

Each command runs inside a trace (services/runtime/tracing.py: the broker's middleware takes
the caller's `traceparent` or starts one), which the events it causes carry on.

A use case never audits, never resolves a session by hand and never formats an error reply.
Principal resolution is lazy (`await ctx.principal()`, `await ctx.officer()`): the pipeline
gives each service its own resolver (auth reads its sessions bucket, the others ask auth), so
commands that take a session but must not fail on a dead one (IntrospectSession, Logout) can
still run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from faststream.nats import NatsRouter

from contracts import subjects
from contracts.common import Command, ErrorCode, Reply
from contracts.organisations import Role
from services.runtime import metrics
from services.runtime.errors import DomainError, Forbidden, Unauthenticated
from services.runtime.micro import Endpoints

log = logging.getLogger("ens.pipeline")

D = TypeVar("D")
C = TypeVar("C", bound=Command[Any])
R = TypeVar("R", bound=Reply)


class Principal(Protocol):
    """Who a session belongs to, as far as the pipeline needs to know."""

    @property
    def auth_id(self) -> str: ...

    @property
    def role(self) -> Role: ...


P = TypeVar("P", bound=Principal)


@dataclass
class Trail:
    """Filled while a command runs; becomes its audit record. Never holds a password or any
    personal data of foreign nationals."""

    actor: str | None = None
    target: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AuditSink(Protocol):
    async def record(
        self, command: str, *, actor: str | None, target: str | None, result: str, details: dict[str, Any] | None = None
    ) -> None: ...


OFFICER_ONLY = "この操作は職員のみ行えます。"


class CommandContext(Generic[D, P]):
    """What a use case gets besides its command: the service's ports, the audit trail, and the
    caller (resolved from the command's session on first use)."""

    def __init__(self, deps: D, resolve: Callable[[str], Awaitable[P]] | None, token: str | None, command: str) -> None:
        self.deps = deps
        self.trail = Trail()
        self.command = command
        self._resolve = resolve
        self._token = token
        self._principal: P | None = None

    async def principal(self) -> P:
        """The live session's holder, or Unauthenticated. Sets the audit record's actor."""
        if self._principal is None:
            if self._resolve is None or self._token is None:
                raise Unauthenticated()
            self._principal = await self._resolve(self._token)
            self.trail.actor = self._principal.auth_id
        return self._principal

    async def officer(self) -> P:
        who = await self.principal()
        if who.role is not Role.OFFICER:
            raise Forbidden(OFFICER_ONLY)
        return who


UseCase = Callable[[C, CommandContext[D, P]], Awaitable[R]]
HandlerTable = Mapping[type[Command[Any]], Callable[[Any, CommandContext[D, P]], Awaitable[Reply]]]
"""`{CommandClass: use_case}`: the whole routing of a service's commands, on one screen."""


class Pipeline(Generic[D, P]):
    """Runs one service's use cases. Built before start (the router needs its handlers then);
    `bind` hands it the started ports, `unbind` takes them away at stop."""

    def __init__(self, service: str, resolve: Callable[[D, str], Awaitable[P]] | None = None) -> None:
        self.service = service
        self._resolve = resolve
        self._deps: D | None = None
        self._audit: AuditSink | None = None
        self.endpoints = Endpoints(service)  # the commands it serves, for the NATS service API

    def bind(self, deps: D, audit: AuditSink) -> None:
        self._deps = deps
        self._audit = audit

    def unbind(self) -> None:
        self._deps = None
        self._audit = None

    @property
    def deps(self) -> D:
        if self._deps is None:
            raise RuntimeError(f"{self.service} service used before start()")
        return self._deps

    async def run(self, use_case: Callable[[C, CommandContext[D, P]], Awaitable[R]], cmd: C) -> R:
        deps = self.deps
        audit = self._audit
        assert audit is not None  # bound together with deps
        resolve: Callable[[str], Awaitable[P]] | None = None
        if self._resolve is not None:
            resolver = self._resolve

            async def resolve_with_deps(token: str) -> P:
                return await resolver(deps, token)

            resolve = resolve_with_deps
        token = getattr(cmd, "session_token", None)
        name = type(cmd).__name__
        ctx: CommandContext[D, P] = CommandContext(deps, resolve, token if isinstance(token, str) else None, name)
        trail = ctx.trail
        started = time.perf_counter_ns()
        try:
            reply = await use_case(cmd, ctx)
        except DomainError as exc:
            await audit.record(name, actor=trail.actor, target=trail.target, result=exc.code.value, details=trail.details)
            self._count(name, started, exc.code.value)
            raise
        except Exception:
            await audit.record(
                name, actor=trail.actor, target=trail.target, result=ErrorCode.INTERNAL.value, details=trail.details
            )
            self._count(name, started, ErrorCode.INTERNAL.value)
            raise
        await audit.record(name, actor=trail.actor, target=trail.target, result="ok", details=trail.details)
        self._count(name, started, None)
        return reply

    def _count(self, command: str, started_ns: int, error: str | None) -> None:
        elapsed = time.perf_counter_ns() - started_ns
        metrics.command_done(self.service, command, error or "ok", elapsed / 1e9)
        counts = self.endpoints.counts.get(command)
        if counts is not None:
            counts.add(elapsed, error)


def mount(router: NatsRouter, pipeline: Pipeline[D, P], table: HandlerTable[D, P], *, concurrency: int) -> None:
    """Subscribe every command of the table to its subject, in the service's queue group (so
    replicas share the load), up to `concurrency` commands of one kind at once. Subjects and the
    AsyncAPI text come from the contract; no handler spells a subject."""
    for command, use_case in table.items():
        _subscribe(router, pipeline, command, use_case, concurrency)


def _subscribe(
    router: NatsRouter,
    pipeline: Pipeline[D, P],
    command: type[Command[Any]],
    use_case: Callable[[Any, CommandContext[D, P]], Awaitable[Reply]],
    concurrency: int,
) -> None:
    # FastStream reads the parameter's annotation to decode and validate the body: give the
    # handler the command class itself as its annotation.
    async def handler(cmd: Command[Any]) -> Reply:
        return await pipeline.run(use_case, cmd)

    pipeline.endpoints.add(command.__name__, command.SUBJECT)
    handler.__annotations__ = {"cmd": command, "return": command.REPLY}
    handler.__name__ = handler.__qualname__ = f"{pipeline.service}_{command.__name__}"
    doc = (command.__doc__ or command.__name__).strip().splitlines()[0]
    router.subscriber(
        command.SUBJECT,
        queue=subjects.queue_group(pipeline.service),
        max_workers=concurrency,
        title=f"{command.SUBJECT}:{command.__name__}",
        description=doc,
    )(handler)
