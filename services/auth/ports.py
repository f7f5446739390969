"""What the auth rules need from the outside world; NATS adapters and in-memory fakes both fit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from services.runtime.outbox import Entry, EventDraft


class Records(Protocol):
    async def get(self, key: str) -> Entry | None: ...
    async def put(
        self, key: str, state: dict[str, Any], *, expected: Entry | None, events: Sequence[EventDraft] = ()
    ) -> Entry: ...
    async def delete(self, key: str, expected: Entry) -> None: ...
    async def keys(self) -> list[str]: ...


class Index(Protocol):
    async def mark(self, kind: str, day: date, auth_id: str) -> None: ...
    async def unmark(self, kind: str, day: date, auth_id: str) -> None: ...
    async def scan(self, kind: str, day: date | None = None) -> list[tuple[date, str]]: ...


class Audit(Protocol):
    async def record(
        self, command: str, *, actor: str | None, target: str | None, result: str, details: dict[str, Any] | None = None
    ) -> None: ...
