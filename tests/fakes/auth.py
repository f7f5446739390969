"""In-memory stand-ins for auth's ports (services/auth/ports.py), for unit tests of the use
cases, and `FakeAuth`, which runs them through the real runtime pipeline (audit, principal)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar, cast

from contracts.auth import Notice
from contracts.common import Command, EventMeta, Reply
from contracts.organisations import Role
from services.auth.adapters.passwords import Argon2Passwords, HashParameters
from services.auth.domain import policy
from services.auth.domain.account import Account, DueKind, due_markers
from services.auth.domain.errors import AuthIdTaken
from services.auth.domain.lockout import UnknownLogin
from services.auth.domain.organisation import Claim
from services.auth.domain.periods import Periods
from services.auth.domain.session import Caller, Session, opened, touched
from services.auth.domain.transitions import Decision
from services.auth.handlers import HANDLERS
from services.auth.login import resolve
from services.auth.ports import (
    AccountRepository,
    AuthDeps,
    DueIndex,
    NoticeBoard,
    Opened,
    OrganisationClaims,
    Sessions,
    Stored,
    Swept,
    UnknownLogins,
    Updated,
)
from services.runtime.clock import Clock
from services.runtime.outbox import Entry, EventDraft, StaleRevision, event_id
from services.runtime.pipeline import Pipeline

R = TypeVar("R", bound=Reply)

# Cheap parameters: unit tests are about the rules, not the hash's cost.
CHEAP_HASHES = HashParameters(memory_kib=64, time_cost=1, parallelism=1)


class FakeIndex(DueIndex):
    def __init__(self) -> None:
        self.markers: set[tuple[DueKind, date, str]] = set()
        self.sweeps: dict[str, Swept] = {}

    async def swept(self, job: str) -> Swept | None:
        return self.sweeps.get(job)

    async def set_swept(self, job: str, swept: Swept) -> None:
        current = self.sweeps.get(job)
        if current is None or current.days_before != swept.days_before or current.day < swept.day:
            self.sweeps[job] = swept

    async def mark(self, kind: DueKind, day: date, auth_id: str) -> None:
        self.markers.add((kind, day, auth_id))

    async def unmark(self, kind: DueKind, day: date, auth_id: str) -> None:
        self.markers.discard((kind, day, auth_id))

    async def scan(self, kind: DueKind, day: date | None = None) -> list[tuple[date, str]]:
        return sorted((d, a) for k, d, a in self.markers if k == kind and (day is None or d == day))


class _Table:
    """Entries with revisions, compare-and-set like a KV bucket."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self._revision = 0

    def put(self, key: str, state: dict[str, Any], expected: Entry | None, events: tuple[dict[str, Any], ...] = ()) -> Entry:
        current = self.entries.get(key)
        if (expected is None) != (current is None) or (
            expected is not None and current is not None and current.revision != expected.revision
        ):
            raise StaleRevision(key)
        self._revision += 1
        entry = Entry(key, state, self._revision, expected.version + 1 if expected else 1, events)
        self.entries[key] = entry
        return entry


class FakeAccounts(AccountRepository):
    """Accounts in memory; `events` collects every recorded event as the relay would publish it."""

    def __init__(self, clock: Clock, index: FakeIndex) -> None:
        self._clock = clock
        self._index = index
        self._table = _Table()
        self.values: dict[str, Account] = {}
        self.events: list[dict[str, Any]] = []

    def revision(self, auth_id: str) -> int:
        return self._table.entries[auth_id].revision

    async def read(self, auth_id: str) -> Stored[Account] | None:
        if policy.auth_id_errors(auth_id) or auth_id not in self.values:
            return None
        return Stored(self.values[auth_id], self._table.entries[auth_id])

    async def get(self, auth_id: str) -> Account | None:
        stored = await self.read(auth_id)
        return None if stored is None else stored.value

    def _write(self, account: Account, expected: Entry | None, events: Sequence[EventDraft]) -> None:
        version = expected.version + 1 if expected else 1
        recorded = []
        for i, d in enumerate(events):
            eid = event_id("auth", "auth_accounts", account.auth_id, version, i)
            event = d.event.model_copy(update={"meta": EventMeta(event_id=eid, occurred_at=self._clock.now(), source="auth")})
            recorded.append({"id": eid, "subject": d.kind.SUBJECT, "data": event.model_dump(mode="json")})
        self._table.put(account.auth_id, {}, expected, tuple(recorded))
        self.values[account.auth_id] = account
        self.events.extend(recorded)

    async def create(self, account: Account, events: Sequence[EventDraft] = ()) -> None:
        for kind, day in due_markers(account):
            await self._index.mark(kind, day, account.auth_id)
        try:
            self._write(account, None, events)
        except StaleRevision:
            raise AuthIdTaken() from None

    async def update(
        self, auth_id: str, change: Callable[[Account], Decision | None], *, first: Stored[Account] | None = None
    ) -> Updated[Account] | None:
        stored = first or await self.read(auth_id)
        while stored is not None:
            decision = change(stored.value)
            if decision is None:
                return Updated(stored.value, stored.value, changed=False)
            after, events = decision
            for kind, day in due_markers(after) - due_markers(stored.value):
                await self._index.mark(kind, day, auth_id)
            try:
                self._write(after, stored.entry, events)
            except StaleRevision:
                stored = await self.read(auth_id)
                continue
            for kind, day in due_markers(stored.value) - due_markers(after):
                await self._index.unmark(kind, day, auth_id)
            return Updated(stored.value, after, changed=True)
        return None


class FakeClaims(OrganisationClaims):
    def __init__(self) -> None:
        self._table = _Table()
        self.values: dict[str, Claim] = {}

    async def read(self, organisation_id: str) -> Stored[Claim] | None:
        if organisation_id not in self.values:
            return None
        return Stored(self.values[organisation_id], self._table.entries[organisation_id])

    async def put(self, organisation_id: str, claim: Claim, *, expected: Stored[Claim] | None) -> Stored[Claim]:
        entry = self._table.put(organisation_id, {}, expected.entry if expected else None)
        self.values[organisation_id] = claim
        return Stored(claim, entry)

    async def release(self, organisation_id: str, claim: Stored[Claim]) -> None:
        current = self._table.entries.get(organisation_id)
        if current is not None and current.revision == claim.entry.revision:
            del self._table.entries[organisation_id]
            del self.values[organisation_id]


class FakeUnknownLogins(UnknownLogins):
    def __init__(self) -> None:
        self._table = _Table()
        self.values: dict[str, UnknownLogin] = {}

    async def read(self, auth_id: str) -> Stored[UnknownLogin] | None:
        if auth_id not in self.values:
            return None
        return Stored(self.values[auth_id], self._table.entries[auth_id])

    async def update(
        self, auth_id: str, change: Callable[[UnknownLogin], UnknownLogin], *, first: Stored[UnknownLogin] | None = None
    ) -> UnknownLogin:
        stored = first or await self.read(auth_id)
        after = change(stored.value if stored else UnknownLogin(auth_id=auth_id))
        self._table.put(auth_id, {}, stored.entry if stored else None)
        self.values[auth_id] = after
        return after


class FakeSessions(Sessions):
    def __init__(self, periods: Periods) -> None:
        self._periods = periods
        self.by_key: dict[str, Session] = {}

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    async def open(self, auth_id: str, role: Role, now: datetime) -> Opened:
        token = secrets.token_urlsafe(32)
        self.by_key[self._key(token)] = opened(auth_id, role, now)
        return Opened(token, now + self._periods.session_idle, now + self._periods.session_absolute)

    async def touch(self, token: str, now: datetime) -> Session | None:
        current = self.by_key.get(self._key(token))
        after = touched(current, now, self._periods) if current is not None else None
        if after is not None:
            self.by_key[self._key(token)] = after
        return after

    async def end(self, token: str) -> None:
        current = self.by_key.get(self._key(token))
        if current is not None:
            self.by_key[self._key(token)] = current.model_copy(update={"ended": True})


class FakeNotices(NoticeBoard):
    def __init__(self) -> None:
        self.notices: dict[str, Notice] = {}

    async def publish(self, notice: Notice) -> None:
        self.notices[notice.notice_id] = notice

    async def withdraw(self, notice_id: str) -> bool:
        return self.notices.pop(notice_id, None) is not None

    async def all(self) -> list[Notice]:
        return list(self.notices.values())


class FakeAudit:
    """The pipeline's AuditSink: keeps each record as a dict."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def record(
        self, command: str, *, actor: str | None, target: str | None, result: str, details: dict[str, Any] | None = None
    ) -> None:
        self.records.append({"command": command, "actor": actor, "target": target, "result": result, **(details or {})})


class FakeAuth:
    """Auth's use cases on fakes, run as the service runs them: through the pipeline, with its
    handler table, principal resolution and audit."""

    def __init__(self, clock: Clock, operator_token: str, periods: Periods | None = None, hashes: HashParameters = CHEAP_HASHES):
        periods = periods or Periods()
        self.clock = clock
        self.index = FakeIndex()
        self.accounts = FakeAccounts(clock, self.index)
        self.claims = FakeClaims()
        self.unknown_logins = FakeUnknownLogins()
        self.sessions = FakeSessions(periods)
        self.audit = FakeAudit()
        self.deps = AuthDeps(
            accounts=self.accounts,
            claims=self.claims,
            unknown_logins=self.unknown_logins,
            index=self.index,
            sessions=self.sessions,
            notices=FakeNotices(),
            passwords=Argon2Passwords(hashes),
            clock=clock,
            periods=periods,
            operator_token=operator_token,
        )
        self.pipeline: Pipeline[AuthDeps, Caller] = Pipeline("auth", resolve)
        self.pipeline.bind(self.deps, self.audit)

    def with_passwords(self, hashes: HashParameters) -> None:
        """As after a restart with other hash parameters."""
        self.deps = replace(self.deps, passwords=Argon2Passwords(hashes))
        self.pipeline.bind(self.deps, self.audit)

    async def call(self, cmd: Command[R]) -> R:
        reply = await self.pipeline.run(HANDLERS[type(cmd)], cmd)
        return cast(R, reply)  # the table maps each command to the use case that answers its reply type
