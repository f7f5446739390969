"""What auth's use cases need from outside, as Protocols: the NATS adapters (adapters/) and the
in-memory fakes (tests/fakes/auth.py) both fit. `AuthDeps` is what the pipeline hands every use
case as `ctx.deps`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, Protocol, TypeVar

from contracts import auth as c
from contracts.organisations import Role
from services.auth.domain.account import Account, DueKind
from services.auth.domain.lockout import UnknownLogin
from services.auth.domain.organisation import Claim
from services.auth.domain.periods import Periods
from services.auth.domain.session import Session
from services.auth.domain.transitions import Decision
from services.runtime.clock import Clock
from services.runtime.outbox import Entry, EventDraft

T = TypeVar("T")


@dataclass(frozen=True)
class Stored(Generic[T]):
    """A value as read, with the store's entry (its revision) for a compare-and-set write."""

    value: T
    entry: Entry


@dataclass(frozen=True)
class Updated(Generic[T]):
    """The outcome of `update`: the value the change was decided on, and what stands now."""

    before: T
    after: T
    changed: bool


class AccountRepository(Protocol):
    """Accounts by auth ID. An ID no account can have (policy) is answered None without touching
    the store. Entries are never deleted: an auth ID is taken forever."""

    async def read(self, auth_id: str) -> Stored[Account] | None: ...

    async def get(self, auth_id: str) -> Account | None: ...

    async def create(self, account: Account, events: Sequence[EventDraft] = ()) -> None:
        """Raises AuthIdTaken if the ID exists."""
        ...

    async def update(
        self, auth_id: str, change: Callable[[Account], Decision | None], *, first: Stored[Account] | None = None
    ) -> Updated[Account] | None:
        """Read, apply the pure `change` (None: nothing to record), write the new account with its
        events in one compare-and-set, and on a lost race read and decide again. `first` saves
        the read when the caller has just made it. None if there is no such account. Keeps the
        due markers in step: the new ones before the write, the stale ones after."""
        ...


class OrganisationClaims(Protocol):
    async def read(self, organisation_id: str) -> Stored[Claim] | None: ...

    async def put(self, organisation_id: str, claim: Claim, *, expected: Stored[Claim] | None) -> Stored[Claim]:
        """Compare-and-set; raises StaleRevision if the claim changed since `expected` was read."""
        ...

    async def release(self, organisation_id: str, claim: Stored[Claim]) -> None:
        """Drop our own claim unless someone has claimed the organisation meanwhile."""
        ...


class UnknownLogins(Protocol):
    async def read(self, auth_id: str) -> Stored[UnknownLogin] | None: ...

    async def update(
        self, auth_id: str, change: Callable[[UnknownLogin], UnknownLogin], *, first: Stored[UnknownLogin] | None = None
    ) -> UnknownLogin:
        """Like AccountRepository.update; a missing record starts as a fresh count."""
        ...


class DueIndex(Protocol):
    async def mark(self, kind: DueKind, day: date, auth_id: str) -> None: ...

    async def unmark(self, kind: DueKind, day: date, auth_id: str) -> None: ...

    async def scan(self, kind: DueKind, day: date | None = None) -> list[tuple[date, str]]: ...

    async def swept(self, job: str) -> Swept | None:
        """How far a job that works through markers day by day got (its last finished run)."""
        ...

    async def set_swept(self, job: str, swept: Swept) -> None:
        """Record a finished run; never moves an equal job's record back (another replica may
        have finished a later day meanwhile)."""
        ...


@dataclass(frozen=True)
class Swept:
    """A finished run of the warning job: every warning due on `day` or before, for these
    thresholds, was sent then (or had been before)."""

    day: date
    days_before: tuple[int, ...]


@dataclass(frozen=True)
class Opened:
    token: str
    idle_expires_at: datetime
    absolute_expires_at: datetime


class Sessions(Protocol):
    async def open(self, auth_id: str, role: Role, now: datetime) -> Opened: ...

    async def touch(self, token: str, now: datetime) -> Session | None:
        """The live session for the token, its idle timer restarted; None if unknown, ended or timed out."""
        ...

    async def end(self, token: str) -> None: ...


class NoticeBoard(Protocol):
    async def publish(self, notice: c.Notice) -> None: ...

    async def withdraw(self, notice_id: str) -> bool:
        """False if there is no such notice (or it was withdrawn meanwhile)."""
        ...

    async def all(self) -> list[c.Notice]: ...


@dataclass(frozen=True)
class Verified:
    ok: bool
    needs_rehash: bool = False


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, stored: str | None, password: str) -> Verified:
        """`stored=None` (unknown ID) takes the same time as a real verify, and fails."""
        ...


@dataclass(frozen=True)
class AuthDeps:
    accounts: AccountRepository
    claims: OrganisationClaims
    unknown_logins: UnknownLogins
    index: DueIndex
    sessions: Sessions
    notices: NoticeBoard
    passwords: PasswordHasher
    clock: Clock
    periods: Periods
    operator_token: str
