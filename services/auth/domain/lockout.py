"""Lockout (SPEC §1, Q35): the 5th consecutive failure locks for 24 hours; a lapsed lock starts a
fresh count. The same rule counts failures for IDs that have no account, so that even the 6th
try does not reveal whether an ID exists."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.auth.domain.periods import Periods


def count_failure(
    failed_logins: int, locked_until: datetime | None, now: datetime, periods: Periods
) -> tuple[int, datetime | None]:
    """The count and lock after one more failure. Called only when not locked at `now`."""
    failures = (0 if locked_until is not None else failed_logins) + 1
    if failures >= periods.lockout_threshold:
        return failures, now + periods.lockout
    return failures, None


class UnknownLogin(BaseModel):
    """Failed logins for an auth ID without a (live) account."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    auth_id: str
    failed_logins: int = 0
    locked_until: datetime | None = None

    def locked_at(self, now: datetime) -> datetime | None:
        return self.locked_until if self.locked_until is not None and now < self.locked_until else None


def unknown_failure(record: UnknownLogin, now: datetime, periods: Periods) -> UnknownLogin:
    failures, until = count_failure(record.failed_logins, record.locked_until, now, periods)
    return record.model_copy(update={"failed_logins": failures, "locked_until": until})
