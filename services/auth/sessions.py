"""Sessions: an opaque random token for the client; only its SHA-256 is stored (a leaked bucket
holds no usable token). Idle timeout refreshed on every use, absolute timeout from login."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from services.auth.periods import Periods
from services.auth.ports import Records
from services.runtime.outbox import StaleRevision


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, records: Records, periods: Periods) -> None:
        self._records = records
        self._periods = periods

    async def open(self, auth_id: str, role: str, now: datetime) -> tuple[str, datetime, datetime]:
        token = secrets.token_urlsafe(32)
        state = {"auth_id": auth_id, "role": role, "created_at": now.isoformat(), "last_seen_at": now.isoformat(), "ended": False}
        await self._records.put(token_key(token), state, expected=None)
        return token, now + self._periods.session_idle, now + self._periods.session_absolute

    def expires_at(self, state: dict[str, Any]) -> datetime:
        idle = datetime.fromisoformat(state["last_seen_at"]) + self._periods.session_idle
        absolute = datetime.fromisoformat(state["created_at"]) + self._periods.session_absolute
        return min(idle, absolute)

    async def touch(self, token: str, now: datetime) -> dict[str, Any] | None:
        """The live session for the token, its idle timer restarted; None if unknown, ended or timed out."""
        key = token_key(token)
        while True:
            entry = await self._records.get(key)
            if entry is None or entry.state["ended"] or now >= self.expires_at(entry.state):
                return None
            state = {**entry.state, "last_seen_at": max(now, datetime.fromisoformat(entry.state["last_seen_at"])).isoformat()}
            try:
                await self._records.put(key, state, expected=entry)
            except StaleRevision:
                continue  # a concurrent use or a logout: decide again on what is there now
            return state

    async def end(self, token: str) -> None:
        key = token_key(token)
        while True:
            entry = await self._records.get(key)
            if entry is None or entry.state["ended"]:
                return
            try:
                await self._records.put(key, {**entry.state, "ended": True}, expected=entry)
            except StaleRevision:
                continue
            return
