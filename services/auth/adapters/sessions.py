"""`auth_sessions` (a TTL bucket): an opaque random token for the client, only its SHA-256 as
the key, so a leaked bucket holds no usable token."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from contracts.organisations import Role
from services.auth.adapters.store import Records
from services.auth.domain.periods import Periods
from services.auth.domain.session import Session, opened, touched
from services.auth.ports import Opened
from services.runtime.outbox import EventDraft, KvStore


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KvSessions:
    def __init__(self, store: KvStore, periods: Periods) -> None:
        self._records = Records(store, Session)
        self._periods = periods

    async def open(self, auth_id: str, role: Role, now: datetime) -> Opened:
        token = secrets.token_urlsafe(32)
        await self._records.write(token_key(token), opened(auth_id, role, now), None)
        return Opened(token, now + self._periods.session_idle, now + self._periods.session_absolute)

    async def touch(self, token: str, now: datetime) -> Session | None:
        def use(session: Session) -> tuple[Session, list[EventDraft]] | None:
            after = touched(session, now, self._periods)
            return None if after is None else (after, [])

        updated = await self._records.update(token_key(token), use)
        return updated.after if updated is not None and updated.changed else None

    async def end(self, token: str) -> None:
        await self._records.update(token_key(token), lambda s: None if s.ended else (s.model_copy(update={"ended": True}), []))
