"""What the scheduler needs from the world, as Protocols: a store where runs are claimed and
their results kept, a way to send another service's system command, and (for the runs the
clock starts, which are not commands) an audit sink. `adapters/` implements the store over
NATS KV, `tests/fakes/scheduler.py` in memory. Commands reach the runner through `ctx.deps`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from contracts.common import Command, JobResult
from services.runtime.pipeline import AuditSink, CommandContext, Principal
from services.scheduler.domain.runs import RunDoc

if TYPE_CHECKING:
    from services.scheduler.runs import JobRunner

__all__ = ["AlreadyClaimed", "AuditSink", "Ctx", "RunStore", "SchedulerDeps", "Send"]


class AlreadyClaimed(Exception):
    """The entry exists already (create) or changed since it was read (update)."""


class RunStore(Protocol):
    """Where runs are claimed and their results kept (a KV bucket in production)."""

    async def get(self, key: str) -> tuple[RunDoc, int] | None: ...

    async def create(self, key: str, doc: RunDoc) -> int:
        """Raises AlreadyClaimed when the key exists."""
        ...

    async def update(self, key: str, doc: RunDoc, revision: int) -> int:
        """Raises AlreadyClaimed when the entry is no longer at `revision`."""
        ...


Send = Callable[[Command[JobResult]], Awaitable[JobResult]]
"""Send a system command to the service that does the job's work and wait for its result;
raises CommandRefused when it refuses or does not answer."""


@dataclass(frozen=True)
class SchedulerDeps:
    runner: JobRunner


Ctx = CommandContext[SchedulerDeps, Principal]
"""What a scheduler use case gets besides its command; its commands take no session."""
