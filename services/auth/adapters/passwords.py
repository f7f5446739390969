"""Password hashing: argon2id with OWASP's parameters, stored as a PHC string that keeps them.

Verification runs in a worker thread (argon2 releases the GIL), so one slow hash never stalls
the other commands on the event loop. Unknown auth IDs are verified against a dummy hash made
with the same parameters, so the reply takes as long as for a wrong password.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.auth.ports import Verified
from services.runtime import metrics


@dataclass(frozen=True)
class HashParameters:
    # OWASP Password Storage Cheat Sheet, argon2id minimum: 19 MiB memory, 2 iterations, 1 lane.
    memory_kib: int = 19_456
    time_cost: int = 2
    parallelism: int = 1


class Argon2Passwords:
    def __init__(self, params: HashParameters = HashParameters(), threads: int = 1) -> None:
        self.params = params
        # Hashes run on a pool of their own, `threads` at a time (ENS_AUTH_HASH_THREADS). argon2 is
        # memory-bound (19 MiB a hash), and every other piece of a login (NATS, the event loop)
        # needs the same cores: measured on 2 cores with one `ens run auth` per core, one hash
        # thread per process gave 0.75 of the bare verify rate, four (asyncio's default) 0.68.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        metrics.password_hashed("hash")  # ens_auth_password_hashes_total (issue 18)
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> Verified:
        """`stored=None` (unknown ID) burns the same time against the dummy hash and fails."""
        target = stored or self._dummy
        metrics.password_hashed("verify")  # ens_auth_password_hashes_total (issue 18)
        ok = await asyncio.get_running_loop().run_in_executor(self._pool, self._check, target, password)
        if stored is None:
            return Verified(ok=False)
        return Verified(ok=ok, needs_rehash=ok and self._hasher.check_needs_rehash(stored))

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
