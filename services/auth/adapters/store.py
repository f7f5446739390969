"""Typed records over a KV bucket, and the one compare-and-set retry loop of auth.

Documents keep the format auth has always written (`{"v", "state", "events"}`, times as
`datetime.isoformat()` strings), so entries written before the typed records still read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from services.auth.ports import Stored, Updated
from services.runtime.outbox import Entry, EventDraft, KvStore, OutboxStore, StaleRevision

M = TypeVar("M", bound=BaseModel)
Change = Callable[[M], tuple[M, Sequence[EventDraft]] | None]


def plain(value: Any) -> Any:
    """A model's fields as JSON values, times as `isoformat()` (as stored since the start)."""
    if isinstance(value, BaseModel):
        return {k: plain(v) for k, v in value.__dict__.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class Records(Generic[M]):
    """Records of one model in one bucket. Events can only be written to a bucket that has a
    relay (an `OutboxStore` made by `Outbox`); anywhere else they would never be published."""

    def __init__(self, store: KvStore, model: type[M]) -> None:
        self._store = store
        self._model = model

    def decode(self, entry: Entry) -> Stored[M]:
        return Stored(self._model.model_validate(entry.state), entry)

    async def read(self, key: str) -> Stored[M] | None:
        entry = await self._store.get(key)
        return None if entry is None else self.decode(entry)

    async def write(self, key: str, value: M, expected: Entry | None, events: Sequence[EventDraft] = ()) -> Stored[M]:
        """One compare-and-set (`expected=None`: create); raises StaleRevision."""
        if isinstance(self._store, OutboxStore):
            entry = await self._store.put(key, plain(value), expected=expected, events=events)
        elif events:
            raise RuntimeError("events written to a bucket without an outbox relay would never be published")
        else:
            entry = await self._store.put(key, plain(value), expected=expected)
        return Stored(value, entry)

    async def delete(self, key: str, expected: Entry) -> None:
        await self._store.delete(key, expected)

    async def update(
        self,
        key: str,
        change: Change[M],
        *,
        first: Stored[M] | None = None,
        missing: Callable[[], M] | None = None,
    ) -> Updated[M] | None:
        """Read, apply `change` (None: nothing to record), compare-and-set the result with its
        events; on a lost race read again and decide again, so concurrent replicas never lose an
        update. A missing record starts as `missing()`, or the answer is None."""
        stored = first
        while True:
            if stored is None:
                stored = await self.read(key)
            before = stored.value if stored is not None else missing() if missing is not None else None
            if before is None:
                return None
            decision = change(before)
            if decision is None:
                return Updated(before, before, changed=False)
            after, events = decision
            await self.before_write(key, before, after)
            try:
                await self.write(key, after, stored.entry if stored is not None else None, events)
            except StaleRevision:
                stored = None
                continue
            await self.after_write(key, before, after)
            return Updated(before, after, changed=True)

    async def before_write(self, key: str, before: M, after: M) -> None:
        """What must be in place before the change is (e.g. due markers)."""

    async def after_write(self, key: str, before: M, after: M) -> None:
        """What may be cleaned up once the change is stored."""
