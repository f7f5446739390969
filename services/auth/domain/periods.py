"""The periods of SPEC §1 as pure functions of stored times (all UTC, days in Japan time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.runtime.clock import business_day, jst_at


@dataclass(frozen=True)
class Periods:
    lockout_threshold: int = 5
    lockout: timedelta = timedelta(hours=24)
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=8)
    activation_time: time = time(9, 0)  # JST, on the business day after registration


def last_valid_day(start: date) -> date:
    """The last day of a one-year period that starts on `start` (Japan time), counted as the Civil
    Code counts periods (Q31 「最後に変更した日から1年間」): the first day is not counted (Art. 140),
    and the period ends on the day before the day corresponding to the first counted day a year
    later (Art. 143). Set on 2027-04-01: valid through 2028-04-01; on 2028-02-29: through
    2029-02-28; on 2027-02-28: through 2028-02-29."""
    first = start + timedelta(days=1)
    try:
        return first.replace(year=first.year + 1) - timedelta(days=1)
    except ValueError:
        # The first counted day is 29 February: no corresponding day, so the month's last day ends it.
        return date(first.year + 1, 2, 28)


def one_year_from(moment: datetime) -> datetime:
    """The first moment after a one-year period starting on `moment`'s JST day: 00:00 JST of the
    day after its last valid day, so the whole of that day (to 23:59:59) still counts."""
    return jst_at(last_valid_day(business_day(moment)) + timedelta(days=1), time(0, 0))


def password_expires_at(password_set_at: datetime) -> datetime:
    return one_year_from(password_set_at)


def account_expires_at(last_used_at: datetime) -> datetime:
    """Q27: one year from the day of last use, counted in days like the password's."""
    return one_year_from(last_used_at)


def effective_on(registered_at: datetime) -> date:
    """Registration takes effect the next calendar day in Japan (the batch runs every day)."""
    return business_day(registered_at) + timedelta(days=1)


def activation_due(effective: date, as_of: datetime, periods: Periods) -> bool:
    return as_of >= jst_at(effective, periods.activation_time)
