"""In-memory stand-ins for the KV adapters, for unit tests of the rules (never for integration)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from contracts.common import EventMeta
from services.runtime.clock import Clock
from services.runtime.outbox import Entry, EventDraft, StaleRevision, event_id


class MemoryRecords:
    """Same contract as OutboxStore: compare-and-set on a revision, events recorded with the change."""

    def __init__(self, clock: Clock, bucket: str = "memory") -> None:
        self._clock = clock
        self._bucket = bucket
        self._entries: dict[str, Entry] = {}
        self._revision = 0
        self.events: list[dict[str, Any]] = []

    async def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    async def put(self, key: str, state: dict[str, Any], *, expected: Entry | None, events: Sequence[EventDraft] = ()) -> Entry:
        current = self._entries.get(key)
        if (expected is None and current is not None) or (
            expected is not None and (current is None or current.revision != expected.revision)
        ):
            raise StaleRevision(key)
        version = expected.version + 1 if expected else 1
        recorded = []
        for i, (cls, fields) in enumerate(events):
            eid = event_id("auth", self._bucket, key, version, i)
            event = cls(meta=EventMeta(event_id=eid, occurred_at=self._clock.now(), source="auth"), **fields)
            recorded.append({"id": eid, "subject": cls.SUBJECT, "data": event.model_dump(mode="json")})
        self._revision += 1
        entry = Entry(key=key, state=state, revision=self._revision, version=version, events=tuple(recorded))
        self._entries[key] = entry
        self.events.extend(recorded)
        return entry

    async def delete(self, key: str, expected: Entry) -> None:
        current = self._entries.get(key)
        if current is None or current.revision != expected.revision:
            raise StaleRevision(key)
        del self._entries[key]

    async def keys(self) -> list[str]:
        return list(self._entries)


class MemoryIndex:
    def __init__(self) -> None:
        self.markers: set[tuple[str, date, str]] = set()

    async def mark(self, kind: str, day: date, auth_id: str) -> None:
        self.markers.add((kind, day, auth_id))

    async def unmark(self, kind: str, day: date, auth_id: str) -> None:
        self.markers.discard((kind, day, auth_id))

    async def scan(self, kind: str, day: date | None = None) -> list[tuple[date, str]]:
        return sorted((d, a) for k, d, a in self.markers if k == kind and (day is None or d == day))


class MemoryAudit:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def record(
        self, command: str, *, actor: str | None, target: str | None, result: str, details: dict[str, Any] | None = None
    ) -> None:
        self.records.append({"command": command, "actor": actor, "target": target, "result": result, **(details or {})})
