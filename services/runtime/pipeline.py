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

A command that changes state (`contracts.common.Idempotent`) and carries a `request_id` is run
at most once per (caller, command, key): the service's request ledger (runtime/idempotency.py)
answers a repeat with the first reply or refusal, refuses the key with another payload, and
makes a copy in flight wait for the first.

A change that happened is never answered with an error: the audit record of a success is
written after the change, so when it cannot be written (the audit stream unreachable), the
reply is still the success and the record is retried in the background until it is written.

Each command runs inside a trace (services/runtime/tracing.py: the broker's middleware takes
the caller's `traceparent` or starts one), which the events it causes carry on.

A use case never audits, never resolves a session by hand and never formats an error reply.
Principal resolution is lazy (`await ctx.principal()`, `await ctx.officer()`): the pipeline
gives each service its own resolver (auth reads its sessions bucket, the others ask auth), so
commands that take a session but must not fail on a dead one (IntrospectSession, Logout) can
still run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from faststream.nats import NatsRouter

from contracts import subjects
from contracts.common import Ack, Command, ErrorCode, Idempotent, Reply
from contracts.organisations import Role
from services.runtime import metrics
from services.runtime.errors import DomainError, Forbidden, Unauthenticated
from services.runtime.idempotency import (
    IN_FLIGHT,
    TRANSIENT,
    AlreadyApplied,
    Claim,
    InFlight,
    Replay,
    RequestLedger,
    fingerprint,
    request_key,
)
from services.runtime.micro import Endpoints

log = logging.getLogger("ens.pipeline")

D = TypeVar("D")
C = TypeVar("C", bound=Command[Any])
R = TypeVar("R", bound=Reply)
T = TypeVar("T")


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
        self._claim: Claim | None = None
        self._requests: RequestLedger | None = None
        self._resolve = resolve
        self._token = token
        self._principal: P | None = None

    @property
    def has_session(self) -> bool:
        return self._token is not None

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

    async def reserve(self, name: str, draw: Callable[[], Awaitable[T]]) -> T:
        """A value the change must not draw twice (a reception number, a new id): drawn once per
        keyed request and kept in its claim before the change uses it, so a copy of the request
        that runs after a crash reuses it (and finds the change it made). Unkeyed: just drawn."""
        if self._claim is None or self._requests is None:
            return await draw()
        if name in self._claim.reserved:
            return cast(T, self._claim.reserved[name])
        value = await draw()
        return cast(T, await self._requests.reserve(self._claim, name, value))


UseCase = Callable[[C, CommandContext[D, P]], Awaitable[R]]
ReplayTable = Mapping[type[Command[Any]], Callable[[Any, AlreadyApplied, CommandContext[D, P]], Awaitable[Reply]]]
"""`{CommandClass: replay}`: how a keyed command whose change a dead copy made is answered, from
the entity as stored (`AlreadyApplied.state`). Commands answered `Ack` need none."""
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
        self.commands: list[type[Command[Any]]] = []  # mounted, in table order
        # The request ledger of idempotency keys, opened by the host when a command takes one.
        self.requests: RequestLedger | None = None
        self.replays: dict[type[Command[Any]], Callable[[Any, AlreadyApplied, CommandContext[D, P]], Awaitable[Reply]]] = {}
        self._late_audits: set[asyncio.Task[None]] = set()

    @property
    def takes_idempotency_keys(self) -> bool:
        return any(issubclass(c, Idempotent) for c in self.commands)

    def bind(self, deps: D, audit: AuditSink) -> None:
        self._deps = deps
        self._audit = audit

    def unbind(self) -> None:
        self._deps = None
        self._audit = None

    async def drain(self, within: float = 10.0) -> None:
        """Give audit records still being retried a last chance before the service stops."""
        if self._late_audits:
            await asyncio.wait(self._late_audits, timeout=within)

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
        claim: Claim | None = None
        reply: R
        try:
            keyed = self._keyed(cmd)
            if keyed is not None:
                begun = await self._begin(keyed, cmd, ctx)
                if isinstance(begun, Replay):
                    trail.details["replayed_request"] = True
                    reply = cast(R, self._replay(begun, cmd))
                else:
                    claim = begun
                    reply = await self._run_keyed(use_case, cmd, ctx, claim)
            else:
                reply = await use_case(cmd, ctx)
        except DomainError as exc:
            if claim is not None and self.requests is not None:
                await self._settle(claim, error=exc)
            await audit.record(name, actor=trail.actor, target=trail.target, result=exc.code.value, details=trail.details)
            self._count(name, started, exc.code.value)
            raise
        except Exception:
            if claim is not None and self.requests is not None:
                await self._settle(claim, error=None)
            await audit.record(
                name, actor=trail.actor, target=trail.target, result=ErrorCode.INTERNAL.value, details=trail.details
            )
            self._count(name, started, ErrorCode.INTERNAL.value)
            raise
        if claim is not None and self.requests is not None:
            await self._settle(claim, reply=reply)
        await self._audit_success(audit, name, trail)
        self._count(name, started, None)
        return reply

    async def _run_keyed(
        self, use_case: Callable[[C, CommandContext[D, P]], Awaitable[R]], cmd: C, ctx: CommandContext[D, P], claim: Claim
    ) -> R:
        """Run a claimed keyed command with its key in flight (the committing write marks the
        entity with it); a copy that finds the mark answers from the entity instead of changing it."""
        assert self.requests is not None
        ctx._claim, ctx._requests = claim, self.requests
        token = IN_FLIGHT.set(InFlight(claim.key, self.requests.retention))
        try:
            return await use_case(cmd, ctx)
        except AlreadyApplied as applied:
            log.warning(
                "%s: %s %s was applied by an earlier copy; answering from the stored entity",
                self.service,
                type(cmd).__name__,
                claim.key,
            )
            ctx.trail.details["recovered_request"] = True
            replay = self.replays.get(type(cmd))
            if replay is not None:
                return cast(R, await replay(cmd, applied, ctx))
            if issubclass(cmd.REPLY, Ack):
                return cast(R, Ack())
            raise RuntimeError(f"{type(cmd).__name__} has no replay for a change made by an earlier copy") from applied
        finally:
            IN_FLIGHT.reset(token)
            ctx._claim = ctx._requests = None

    def _keyed(self, cmd: Command[Any]) -> str | None:
        if self.requests is None or not isinstance(cmd, Idempotent):
            return None
        return cmd.request_id

    async def _begin(self, request_id: str, cmd: Command[Any], ctx: CommandContext[D, P]) -> Claim | Replay:
        """Whose key it is: the session's holder (resolved first), else the operator."""
        assert self.requests is not None
        caller = (await ctx.principal()).auth_id if ctx.has_session else "operator"
        key = request_key(self.service, caller, type(cmd).__name__, request_id)
        return await self.requests.begin(key, fingerprint(cmd))

    @staticmethod
    def _replay(replay: Replay, cmd: Command[R]) -> R:
        if replay.error is not None:
            raise replay.refusal()
        return cast(R, cmd.REPLY.model_validate(replay.reply))  # REPLY is R by construction

    async def _settle(self, claim: Claim, reply: Reply | None = None, error: DomainError | None = None) -> None:
        """The command's answer into the ledger; a transient failure releases the key for a retry.
        A ledger that cannot be written leaves the claim to its lease: the reply still goes out."""
        assert self.requests is not None
        try:
            if reply is not None:
                await self.requests.finish(claim, reply=reply.model_dump(mode="json"))
            elif error is not None and error.code not in TRANSIENT:
                await self.requests.finish(claim, error=error.to_reply().error.model_dump(mode="json"))
            else:
                await self.requests.release(claim)
        except Exception as exc:  # noqa: BLE001 - the change is done or refused either way; the answer must go out
            log.warning("%s: could not record the answer of request %s: %s", self.service, claim.key, exc)

    async def _audit_success(self, audit: AuditSink, name: str, trail: Trail) -> None:
        try:
            await audit.record(name, actor=trail.actor, target=trail.target, result="ok", details=trail.details)
        except Exception as exc:  # noqa: BLE001 - a done change is never answered with an error
            log.warning("%s: audit of a done %s failed (%s); retrying it in the background", self.service, name, exc)
            task = asyncio.create_task(self._retry_audit(audit, name, trail), name=f"late-audit-{name}")
            self._late_audits.add(task)
            task.add_done_callback(self._late_audits.discard)

    async def _retry_audit(self, audit: AuditSink, name: str, trail: Trail, attempts: int = 30) -> None:
        delay = 0.5
        for attempt in range(attempts):
            await asyncio.sleep(delay)
            try:
                await audit.record(name, actor=trail.actor, target=trail.target, result="ok", details=trail.details)
                return
            except Exception as exc:  # noqa: BLE001 - keep trying; the last failure is logged loudly
                if attempt == attempts - 1:
                    log.error("%s: audit record of a done %s lost after %d tries: %s", self.service, name, attempts, exc)
            delay = min(delay * 2, 30.0)

    def _count(self, command: str, started_ns: int, error: str | None) -> None:
        elapsed = time.perf_counter_ns() - started_ns
        metrics.command_done(self.service, command, error or "ok", elapsed / 1e9)
        counts = self.endpoints.counts.get(command)
        if counts is not None:
            counts.add(elapsed, error)


def mount(
    router: NatsRouter,
    pipeline: Pipeline[D, P],
    table: HandlerTable[D, P],
    *,
    concurrency: int,
    replays: ReplayTable[D, P] | None = None,
) -> None:
    """Subscribe every command of the table to its subject, in the service's queue group (so
    replicas share the load), up to `concurrency` commands of one kind at once. Subjects and the
    AsyncAPI text come from the contract; no handler spells a subject."""
    pipeline.replays.update(replays or {})
    for command, use_case in table.items():
        pipeline.commands.append(command)
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
