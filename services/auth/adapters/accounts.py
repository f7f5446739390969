"""Accounts, organisation claims and unknown-ID failure counts in their KV buckets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.auth.adapters.store import Records
from services.auth.domain import policy
from services.auth.domain.account import Account, due_markers
from services.auth.domain.errors import AuthIdTaken
from services.auth.domain.lockout import UnknownLogin
from services.auth.domain.organisation import Claim
from services.auth.domain.transitions import Decision
from services.auth.ports import DueIndex, Stored, Updated
from services.runtime.outbox import EventDraft, KvStore, OutboxStore, StaleRevision


class _MarkedAccounts(Records[Account]):
    """Keeps the due markers in step with each write: a marker without its account is skipped by
    the jobs, an account without its marker would never be found by them, so markers go in
    first and out last."""

    def __init__(self, store: OutboxStore, index: DueIndex) -> None:
        super().__init__(store, Account)
        self.index = index

    async def before_write(self, key: str, before: Account, after: Account) -> None:
        for kind, day in due_markers(after) - due_markers(before):
            await self.index.mark(kind, day, key)

    async def after_write(self, key: str, before: Account, after: Account) -> None:
        for kind, day in due_markers(before) - due_markers(after):
            await self.index.unmark(kind, day, key)


class KvAccounts:
    """`auth_accounts` through the outbox: every change is written with its events."""

    def __init__(self, store: OutboxStore, index: DueIndex) -> None:
        self._records = _MarkedAccounts(store, index)

    async def read(self, auth_id: str) -> Stored[Account] | None:
        # Never a key for input no account can have (it may be too long to be one).
        return None if policy.auth_id_errors(auth_id) else await self._records.read(auth_id)

    async def get(self, auth_id: str) -> Account | None:
        stored = await self.read(auth_id)
        return None if stored is None else stored.value

    async def create(self, account: Account, events: Sequence[EventDraft] = ()) -> None:
        for kind, day in due_markers(account):
            await self._records.index.mark(kind, day, account.auth_id)
        try:
            await self._records.write(account.auth_id, account, None, events)
        except StaleRevision:
            raise AuthIdTaken() from None

    async def update(
        self, auth_id: str, change: Callable[[Account], Decision | None], *, first: Stored[Account] | None = None
    ) -> Updated[Account] | None:
        if first is None and policy.auth_id_errors(auth_id):
            return None
        return await self._records.update(auth_id, change, first=first)


class KvClaims:
    """`auth_orgs`: organisation -> the auth ID that claimed it."""

    def __init__(self, store: KvStore) -> None:
        self._records = Records(store, Claim)

    async def read(self, organisation_id: str) -> Stored[Claim] | None:
        if policy.organisation_id_errors(organisation_id):
            return None
        return await self._records.read(organisation_id)

    async def put(self, organisation_id: str, claim: Claim, *, expected: Stored[Claim] | None) -> Stored[Claim]:
        return await self._records.write(organisation_id, claim, expected.entry if expected else None)

    async def release(self, organisation_id: str, claim: Stored[Claim]) -> None:
        try:
            await self._records.delete(organisation_id, claim.entry)
        except StaleRevision:
            pass  # someone else claimed it meanwhile; their claim stands


class KvUnknownLogins:
    """`auth_unknown_logins` (a TTL bucket): failure counts of IDs without a live account."""

    def __init__(self, store: KvStore) -> None:
        self._records = Records(store, UnknownLogin)

    async def read(self, auth_id: str) -> Stored[UnknownLogin] | None:
        return await self._records.read(auth_id)

    async def update(
        self, auth_id: str, change: Callable[[UnknownLogin], UnknownLogin], *, first: Stored[UnknownLogin] | None = None
    ) -> UnknownLogin:
        updated = await self._records.update(
            auth_id, lambda record: (change(record), []), first=first, missing=lambda: UnknownLogin(auth_id=auth_id)
        )
        assert updated is not None  # a missing record starts fresh
        return updated.after
