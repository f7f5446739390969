"""The password-expiry warning scan reads only the days since its last finished run: an ordinary
day reads its own marker days, a run after a gap reads (and warns for) every missed day once,
and a failed run leaves the starting point where it was. What is read is observed on the due
index (the days scanned), not timed. The clock is a FakeClock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

from contracts import auth as c
from contracts.auth import Organisation
from contracts.organisations import OrganisationKind, Role
from services.auth.domain.account import Account, AccountStatus, DueKind
from services.auth.domain.periods import last_valid_day
from services.auth.jobs import warning_marker_days
from services.runtime.clock import JST, FakeClock
from tests.fakes.auth import FakeAuth

TOKEN = "operator-token-for-unit-tests-0123"
THRESHOLDS = [30, 7]
FIRST_RUN = date(2028, 3, 1)


def nine(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=JST)


def account(i: int, password_set_on: date, last_used: datetime, warned_before: int | None) -> Account:
    """An active account; `warned_before`: the farther warning it got in the past (none if None)."""
    return Account(
        auth_id=f"org-user{i:03d}",
        role=Role.ORGANISATION,
        organisation=Organisation(organisation_id=f"{i:013d}", kind=OrganisationKind.ACCEPTING_ORGANISATION, name=f"機関{i}"),
        email=f"u{i}@example.jp",
        status=AccountStatus.ACTIVE,
        password_hash="$scrypt$not-a-real-hash",
        registered_at=nine(password_set_on) - timedelta(days=1),
        effective_on=password_set_on,
        activated_at=nine(password_set_on),
        last_used_at=last_used,
        password_set_at=nine(password_set_on),
        warned=() if warned_before is None else (f"{nine(password_set_on).isoformat()}|{warned_before}",),
    )


class Scans:
    """Wraps the fake due index's scan: the password-expiry days each run reads."""

    def __init__(self, auth: FakeAuth) -> None:
        self.days: list[date] = []
        inner: Callable = auth.index.scan  # type: ignore[type-arg]

        async def scan(kind: DueKind, day: date | None = None) -> list[tuple[date, str]]:
            if kind is DueKind.PASSWORD_EXPIRY:
                assert day is not None, "the warning scan reads day by day, never the whole kind"
                self.days.append(day)
            result: list[tuple[date, str]] = await inner(kind, day)
            return result

        auth.index.scan = scan  # type: ignore[method-assign]

    def take(self) -> list[date]:
        days, self.days = self.days, []
        return days


async def world(warning_days: list[date]) -> tuple[FakeAuth, FakeClock, Scans, dict[str, date]]:
    """Two accounts per warning day: one whose 30-day warning falls on it, one whose 7-day warning
    does (its 30-day one went out long ago); returns the fake, its clock, the scan recorder and
    each account's last valid day."""
    clock = FakeClock(nine(FIRST_RUN) - timedelta(days=1))
    auth = FakeAuth(clock, TOKEN)
    last_days: dict[str, date] = {}
    i = 0
    for warn_on in warning_days:
        for n in THRESHOLDS:
            target = warn_on + timedelta(days=n)  # the password's last valid day
            set_on = next(d for d in (target - timedelta(days=k) for k in range(360, 370)) if last_valid_day(d) == target)
            farther = [m for m in THRESHOLDS if m > n]
            a = account(i, set_on, nine(FIRST_RUN) - timedelta(days=40), min(farther) if farther else None)
            await auth.accounts.create(a)
            last_days[a.auth_id] = target
            i += 1
    return auth, clock, Scans(auth), last_days


async def run(auth: FakeAuth, clock: FakeClock, day: date) -> c.JobResult:
    clock.set(nine(day))
    return await auth.call(c.SendPasswordExpiryWarnings(as_of=nine(day), days_before=THRESHOLDS))


def warned(auth: FakeAuth) -> list[tuple[str, int]]:
    return [
        (e["data"]["auth_id"], e["data"]["days_before"])
        for e in auth.accounts.events
        if e["subject"] == c.PasswordExpiryWarned.SUBJECT
    ]


def test_the_window_is_one_marker_day_per_threshold_after_yesterdays_run_and_the_whole_span_without_one():
    today = date(2028, 3, 10)
    assert warning_marker_days(today, THRESHOLDS, today - timedelta(days=1)) == [date(2028, 3, 18), date(2028, 4, 10)]
    full = warning_marker_days(today, THRESHOLDS, None)
    assert full == [today + timedelta(days=k) for k in range(1, 32)]
    # Three days missed: three marker days per threshold; never beyond the full window.
    assert len(warning_marker_days(today, THRESHOLDS, today - timedelta(days=4))) == 2 * 4
    assert warning_marker_days(today, THRESHOLDS, today - timedelta(days=400)) == full


async def test_after_a_finished_run_yesterday_today_reads_only_todays_marker_days():
    auth, clock, scans, _ = await world([FIRST_RUN + timedelta(days=1)])
    first = await run(auth, clock, FIRST_RUN)  # no earlier run in this process: the whole window
    assert len(scans.take()) == 31 and first.processed == 1 and first.changed == 0  # day 2's 7-day password
    second_day = FIRST_RUN + timedelta(days=1)
    result = await run(auth, clock, second_day)
    # The 30- and 7-day warnings due today: their passwords end 31 and 8 days after today.
    assert scans.take() == [second_day + timedelta(days=8), second_day + timedelta(days=31)]
    assert result.processed == 2 and result.changed == 2 and result.details == {"30": 1, "7": 1}
    third = await run(auth, clock, second_day + timedelta(days=1))
    assert len(scans.take()) == 2 and third.processed == 0


@pytest.mark.parametrize("gap", [1, 3, 6])  # within the nearer threshold: every missed warning still owed
async def test_a_gap_of_n_days_reads_the_n_missed_days_and_warns_each_password_once(gap):
    missed = [FIRST_RUN + timedelta(days=k) for k in range(1, gap + 1)]  # the scheduler was down
    today = FIRST_RUN + timedelta(days=gap + 1)
    auth, clock, scans, last_days = await world([*missed, today])
    await run(auth, clock, FIRST_RUN)
    scans.take()
    result = await run(auth, clock, today)
    read = scans.take()
    assert len(read) == len(set(read)) == 2 * (gap + 1)  # each threshold's missed days and today's, once each
    every = {(a, n) for a, n in warned(auth)}
    assert len(every) == len(warned(auth)) == len(last_days) == result.changed  # every password once
    for auth_id, last in last_days.items():
        (n,) = [n for a, n in every if a == auth_id]
        assert last - timedelta(days=n) in (*missed, today)
    # The day after: nothing owed, nothing sent twice.
    again = await run(auth, clock, today + timedelta(days=1))
    assert again.changed == 0 and len(scans.take()) == 2


async def test_a_failed_run_does_not_move_the_starting_point():
    day2, day3 = FIRST_RUN + timedelta(days=1), FIRST_RUN + timedelta(days=2)
    auth, clock, scans, last_days = await world([day2, day3])
    await run(auth, clock, FIRST_RUN)
    scans.take()
    update = auth.accounts.update

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("the accounts bucket did not answer")

    auth.accounts.update = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await run(auth, clock, day2)
    assert warned(auth) == []
    auth.accounts.update = update  # type: ignore[method-assign]
    result = await run(auth, clock, day3)
    # Still from the first run's day: day 2's warnings are read and sent now, with day 3's.
    assert len(scans.take()) == 2 * 2 + 2
    assert result.changed == len(last_days) == len(warned(auth)) == 4
