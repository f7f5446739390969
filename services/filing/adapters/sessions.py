"""Who is calling: auth's IntrospectSession, asked for every command by default, so a session
that auth has ended (logout, deregistration, expiry, an officer's password reset) is refused here
at once (SPEC §1: "end it for every service at once").

An optional cache (ENS_FILING_SESSION_CACHE_S > 0) trusts a live session for that many seconds;
it runs on the monotonic clock on purpose: a load shield, not a business period. With it, an
ended session is still accepted here for up to `ttl` seconds.
"""

from __future__ import annotations

import time

from contracts.auth import IntrospectSession
from contracts.client import CommandRefused, EnsClient
from services.filing.domain.lifecycle import Caller
from services.runtime.errors import Unauthenticated, Unavailable


class SessionGate:
    """The `Sessions` port over auth's IntrospectSession."""

    def __init__(self, client: EnsClient, ttl: float, max_entries: int = 10_000) -> None:
        self._client = client
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[str, tuple[float, Caller]] = {}

    async def caller(self, token: str) -> Caller:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            info = await self._client.call(IntrospectSession(session_token=token))
        except CommandRefused as exc:
            raise Unavailable("認証サービスが応答しません。しばらくしてから再度お試しください。") from exc
        if not info.active or info.role is None or info.auth_id is None:
            self._cache.pop(token, None)
            raise Unauthenticated()
        caller = Caller(role=info.role, auth_id=info.auth_id, email=info.email or "", organisation=info.organisation)
        if self._ttl > 0:
            if len(self._cache) >= self._max:
                self._cache = {t: v for t, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= self._max:  # all live: drop the lot rather than grow without bound
                    self._cache.clear()
            self._cache[token] = (now + self._ttl, caller)
        return caller
