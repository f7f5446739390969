"""The periods of SPEC §1 as pure functions of stored times (all UTC, days in Japan time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.runtime.clock import JST, business_day, jst_at


@dataclass(frozen=True)
class Periods:
    lockout_threshold: int = 5
    lockout: timedelta = timedelta(hours=24)
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=8)
    activation_time: time = time(9, 0)  # JST, on the business day after registration
    # Logins within this time of the recorded last use do not rewrite it (account expiry is a year).
    use_resolution: timedelta = timedelta(hours=1)


def plus_one_year(moment: datetime) -> datetime:
    """The same wall-clock moment (Japan time) a year later; 29 February becomes 28 February."""
    local = moment.astimezone(JST)
    try:
        later = local.replace(year=local.year + 1)
    except ValueError:
        later = local.replace(year=local.year + 1, day=28)
    return later.astimezone(moment.tzinfo)


def password_expires_at(password_set_at: datetime) -> datetime:
    return plus_one_year(password_set_at)


def account_expires_at(last_used_at: datetime) -> datetime:
    return plus_one_year(last_used_at)


def effective_on(registered_at: datetime) -> date:
    """Registration takes effect the next calendar day in Japan (the batch runs every day)."""
    return business_day(registered_at) + timedelta(days=1)


def activation_due(effective: date, as_of: datetime, periods: Periods) -> bool:
    return as_of >= jst_at(effective, periods.activation_time)
