"""The scheduler-driven commands: next-day activation (mail 1), password expiry warnings
(mail 5), idle expiry (Q27). Each reads only the accounts its due markers name and re-checks
each account itself; each step is a transition that a second run finds done, so a job that
runs twice changes and emits nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar

from contracts import auth as c
from contracts.common import JobResult
from services.auth.domain import transitions
from services.auth.domain.account import AccountStatus, DueKind
from services.auth.domain.periods import activation_due
from services.auth.domain.session import Caller
from services.auth.ports import AuthDeps, Swept
from services.runtime.clock import business_day
from services.runtime.errors import InvalidInput, field_error
from services.runtime.pipeline import CommandContext

Ctx = CommandContext[AuthDeps, Caller]
T = TypeVar("T")
JOB_CONCURRENCY = 128


async def each(items: Sequence[T], step: Callable[[T], Awaitable[bool]]) -> list[bool]:
    """Run a job's per-account step on a fixed pool of workers: bounded in-flight requests (not
    100k tasks at once) and no batch barrier waiting for the slowest of a batch."""
    results: list[bool] = [False] * len(items)
    positions = iter(range(len(items)))

    async def worker() -> None:
        for i in positions:
            results[i] = await step(items[i])

    await asyncio.gather(*(worker() for _ in range(min(JOB_CONCURRENCY, len(items)))))
    return results


async def activate_due_registrations(cmd: c.ActivateDueRegistrations, ctx: Ctx) -> JobResult:
    ctx.trail.actor = "system"
    deps = ctx.deps
    today = business_day(cmd.as_of)
    markers = await deps.index.scan(DueKind.PENDING)
    due = [(d, a) for d, a in markers if d <= today and activation_due(d, cmd.as_of, deps.periods)]

    async def activate(marker: tuple[date, str]) -> bool:
        day, auth_id = marker
        stored = await deps.accounts.read(auth_id)
        changed = False
        if stored is not None and stored.value.status is AccountStatus.PENDING:
            # Its idle year counts from activation: the marker before the write, as the store's own.
            await deps.index.mark(DueKind.LAST_USE, business_day(deps.clock.now()), auth_id)
            updated = await deps.accounts.update(auth_id, lambda a: transitions.activate(a, deps.clock.now()), first=stored)
            changed = updated is not None and updated.changed
        await deps.index.unmark(DueKind.PENDING, day, auth_id)
        return changed

    changed = sum(await each(due, activate))
    ctx.trail.details.update(processed=len(due), changed=changed)
    return JobResult(as_of=cmd.as_of, processed=len(due), changed=changed)


# How far the warning job got, kept with the due markers (auth_index, `sweep.<job>`): a replica
# that restarts, or another replica, starts from the last finished run of any of them.
WARNINGS_JOB = "password_expiry_warnings"


def warning_marker_days(today: date, days_before: Sequence[int], since: date | None) -> list[date]:
    """The marker days (a password's first invalid day, the day after its last valid day) whose
    warnings can be owed today and were not yet due at the last finished run (`since`, a day
    before today; None: no such run, so every password ending within the farthest threshold).

    Threshold n's warning day is (last valid day - n), so a warning day in (since, today] is a
    marker day in [since + n + 2, today + n + 1]; a marker day at or before today is a password
    that has stopped working, which is warned no more. A day missed while the scheduler was down
    lies in (since, today], so it is read once by the next run; an ordinary day reads one marker
    day per threshold."""
    wanted: set[date] = set()
    for n in days_before:
        first = today + timedelta(days=1) if since is None else max(since + timedelta(days=n + 2), today + timedelta(days=1))
        last = today + timedelta(days=n + 1)
        wanted.update(first + timedelta(days=k) for k in range((last - first).days + 1))
    return sorted(wanted)


async def send_password_expiry_warnings(cmd: c.SendPasswordExpiryWarnings, ctx: Ctx) -> JobResult:
    """Warn once per (password, threshold); see transitions.warning_due. Reads the markers of the
    passwords whose warning day has come since the last finished run (of any replica, kept with the markers), so a day the
    scheduler missed is caught up at the next run and an ordinary day reads only its own days
    (see warning_marker_days); without such a run, every password within the farthest threshold.
    A run that fails does not move that starting point: the next one reads its days again."""
    ctx.trail.actor = "system"
    deps = ctx.deps
    days = sorted(set(cmd.days_before))
    if any(d < 0 for d in days):
        raise InvalidInput(fields=[field_error("days_before", "negative", "0以上の日数を指定してください。")])
    if not days:
        return JobResult(as_of=cmd.as_of, processed=0, changed=0)
    today = business_day(cmd.as_of)
    swept = await deps.index.swept(WARNINGS_JOB)
    since = swept.day if swept is not None and swept.days_before == tuple(days) and swept.day < today else None
    markers = [m for day in warning_marker_days(today, days, since) for m in await deps.index.scan(DueKind.PASSWORD_EXPIRY, day)]
    sent: dict[str, int] = {str(d): 0 for d in days}

    async def warn(marker: tuple[date, str]) -> bool:
        updated = await deps.accounts.update(marker[1], lambda a: transitions.warn_password_expiry(a, days, cmd.as_of))
        if updated is None or not updated.changed:
            return False
        due = transitions.warning_due(updated.before, days, cmd.as_of)
        if due is not None:
            sent[str(due)] += 1
        return True

    changed = sum(await each(markers, warn))
    await deps.index.set_swept(WARNINGS_JOB, Swept(today, tuple(days)))  # never moves back (ports.DueIndex)
    ctx.trail.details.update(processed=len(markers), changed=changed)
    return JobResult(as_of=cmd.as_of, processed=len(markers), changed=changed, details=sent)


async def expire_idle_accounts(cmd: c.ExpireIdleAccounts, ctx: Ctx) -> JobResult:
    ctx.trail.actor = "system"
    deps = ctx.deps
    # A marker's day is the (JST) day of last use; an account used on day D expires a year
    # later, so only markers at least ~a year old can be due.
    horizon = business_day(cmd.as_of) - timedelta(days=364)
    candidates = [(d, a) for d, a in await deps.index.scan(DueKind.LAST_USE) if d <= horizon]

    async def expire(marker: tuple[date, str], as_of: datetime = cmd.as_of) -> bool:
        updated = await deps.accounts.update(marker[1], lambda a: transitions.expire(a, as_of))
        return updated is not None and updated.changed

    changed = sum(await each(candidates, expire))
    ctx.trail.details.update(processed=len(candidates), changed=changed)
    return JobResult(as_of=cmd.as_of, processed=len(candidates), changed=changed)
