"""An account (SPEC §1) as a frozen, typed record and the pure queries on it.

  pending --activate (next-day batch)--> active --expire (idle 1 year)--> expired
  pending|active --deregister (officer)--> deregistered
  (locked and password_expired are derived from times, not stored)

The changes are in `transitions.py`; both take the time as an argument and touch nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from contracts.auth import AccountState, Organisation, UndeliverableAddress
from contracts.organisations import Role
from services.auth.domain.periods import account_expires_at, password_expires_at
from services.runtime.clock import business_day


class AccountStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DEREGISTERED = "deregistered"
    EXPIRED = "expired"

    @property
    def is_valid(self) -> bool:
        """Counts as the organisation's one valid account (Q26)."""
        return self in (AccountStatus.PENDING, AccountStatus.ACTIVE)


class DueKind(StrEnum):
    """The due-date markers the scheduled jobs read instead of every account."""

    PENDING = "pending"  # registrations waiting for next-day activation, by effective day
    PASSWORD_EXPIRY = "pw"  # by the day (JST) the current password expires
    LAST_USE = "use"  # by the day (JST) of last use, for account expiry


class Account(BaseModel):
    """One auth ID's account, officers included. Times are aware (UTC), days are JST days."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    auth_id: str
    role: Role
    organisation: Organisation | None = None
    name: str | None = None
    email: str
    status: AccountStatus
    password_hash: str
    registered_at: datetime
    effective_on: date | None = None
    activated_at: datetime | None = None
    last_used_at: datetime | None = None
    password_set_at: datetime
    failed_logins: int = 0
    locked_until: datetime | None = None
    warned: tuple[str, ...] = ()  # `<password_set_at>|<days_before>` of each expiry warning sent
    reissued_at: datetime | None = None
    deregistered_at: datetime | None = None
    expired_at: datetime | None = None
    undeliverable: UndeliverableAddress | None = None  # the registered address bounced (a hard bounce)

    @property
    def password_expires_at(self) -> datetime:
        return password_expires_at(self.password_set_at)

    @property
    def expires_at(self) -> datetime:
        """A never-used account counts from its activation (or registration)."""
        return account_expires_at(self.last_used_at or self.activated_at or self.registered_at)

    def locked_at(self, now: datetime) -> datetime | None:
        """Until when the account is locked, if it is at `now`."""
        return self.locked_until if self.locked_until is not None and now < self.locked_until else None

    def usable(self, now: datetime) -> bool:
        """May hold a session: active and not past its idle year."""
        return self.status is AccountStatus.ACTIVE and now < self.expires_at

    def warning_mark(self, days_before: int) -> str:
        return f"{self.password_set_at.isoformat()}|{days_before}"


def due_markers(account: Account) -> frozenset[tuple[DueKind, date]]:
    """The markers that follow the account's stored times; the store keeps them in step with each
    write. Pending and first-use markers are set by registration and activation themselves."""
    markers = {(DueKind.PASSWORD_EXPIRY, business_day(account.password_expires_at))}
    if account.last_used_at is not None:
        markers.add((DueKind.LAST_USE, business_day(account.last_used_at)))
    return frozenset(markers)


def view(account: Account, now: datetime) -> AccountState:
    """What an officer sees: the stored status, or what the times make of an active account."""
    status = account.status.value
    locked = account.locked_at(now)
    if account.status is AccountStatus.ACTIVE:
        if now >= account.expires_at:
            status = AccountStatus.EXPIRED.value
        elif locked is not None:
            status = "locked"
        elif now >= account.password_expires_at:
            status = "password_expired"
    return AccountState(
        auth_id=account.auth_id,
        role=account.role,
        organisation=account.organisation,
        email=account.email,
        status=status,
        registered_at=account.registered_at,
        effective_on=account.effective_on,
        activated_at=account.activated_at,
        last_used_at=account.last_used_at,
        password_set_at=account.password_set_at,
        password_expires_at=account.password_expires_at,
        account_expires_at=account.expires_at if account.status is not AccountStatus.PENDING else None,
        undeliverable=account.undeliverable,
        failed_logins=0 if account.locked_until is not None and locked is None else account.failed_logins,
        locked_until=locked,
    )
