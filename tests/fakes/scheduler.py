"""In-memory stand-ins for the scheduler's ports (services/scheduler/ports.py): the run store,
the services its jobs send commands to, and the audit sink of the runs the clock starts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from contracts import subjects
from contracts.client import CommandRefused
from contracts.common import Command, JobResult, ServiceStatus, ServiceStatusRequest
from services.scheduler.domain.runs import RunDoc
from services.scheduler.ports import AlreadyClaimed


class MemoryRunStore:
    """The RunStore port: a dict with revisions that behaves like a KV bucket's create/update."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[RunDoc, int]] = {}
        self._rev = 0

    async def get(self, key: str) -> tuple[RunDoc, int] | None:
        await asyncio.sleep(0)  # let concurrent runners interleave as over a network
        return self.entries.get(key)

    async def create(self, key: str, doc: RunDoc) -> int:
        await asyncio.sleep(0)
        if key in self.entries:
            raise AlreadyClaimed(key)
        return self._put(key, doc)

    async def update(self, key: str, doc: RunDoc, revision: int) -> int:
        await asyncio.sleep(0)
        if key not in self.entries or self.entries[key][1] != revision:
            raise AlreadyClaimed(key)
        return self._put(key, doc)

    def _put(self, key: str, doc: RunDoc) -> int:
        self._rev += 1
        self.entries[key] = (dict(doc), self._rev)
        return self._rev


class RecordingServices:
    """The Send port: stands in for auth and filing, records each system command, and can
    refuse or hold one on demand."""

    def __init__(self) -> None:
        self.sent: list[Command[JobResult]] = []
        self.fail_next: CommandRefused | None = None
        self.hold: asyncio.Event | None = None

    async def send(self, command: Command[JobResult]) -> JobResult:
        self.sent.append(command)
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        return JobResult(as_of=command.as_of, processed=10, changed=2, details={"warned_30": 1})

    def of(self, cls: type[Command[JobResult]]) -> list[Command[JobResult]]:
        return [c for c in self.sent if isinstance(c, cls)]


class MemoryAudit:
    """An AuditSink keeping (command, actor, target, result, details) in order."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str | None, str | None, str, dict[str, Any]]] = []

    async def record(
        self, command: str, *, actor: str | None, target: str | None, result: str, details: dict[str, Any] | None = None
    ) -> None:
        self.records.append((command, actor, target, result, dict(details or {})))


def answer_status_for(router: Any, *services: str) -> None:
    """Make a test stand-in answer the status subjects of the services it stands in for: the
    scheduler's start-up catch-up waits until auth and filing answer."""
    for service in services:

        def subscribe(name: str) -> None:
            @router.subscriber(subjects.status(name))
            async def status(_: ServiceStatusRequest) -> ServiceStatus:
                return ServiceStatus(service=name, instance="stand-in", version="0", started_at=datetime.now(UTC), owns=[])

        subscribe(service)
