"""The changes of an account: each a pure function of the account and the time, returning the
new account and the events the change causes (or None when there is nothing to record), or
raising the refusal. The store writes both in one compare-and-set (the outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from contracts import auth as c
from contracts.organisations import Role
from services.auth.domain import errors
from services.auth.domain.account import Account, AccountStatus
from services.auth.domain.lockout import count_failure
from services.auth.domain.periods import Periods, effective_on, password_expires_at
from services.runtime.clock import business_day, last_day_before
from services.runtime.outbox import EventDraft, draft

Decision = tuple[Account, list[EventDraft]]


def new_officer(*, auth_id: str, name: str, email: str, password_hash: str, now: datetime) -> Account:
    """Officers are created by the operator and active at once."""
    return Account(
        auth_id=auth_id,
        role=Role.OFFICER,
        name=name,
        email=email,
        status=AccountStatus.ACTIVE,
        password_hash=password_hash,
        registered_at=now,
        activated_at=now,
        password_set_at=now,
    )


def register(*, auth_id: str, organisation: c.Organisation, email: str, password_hash: str, now: datetime) -> Decision:
    """An officer's registration; it takes effect on the next JST day (Q20-21)."""
    effective = effective_on(now)
    account = Account(
        auth_id=auth_id,
        role=Role.ORGANISATION,
        organisation=organisation,
        email=email,
        status=AccountStatus.PENDING,
        password_hash=password_hash,
        registered_at=now,
        effective_on=effective,
        password_set_at=now,
    )
    return account, [draft(c.AccountRegistered, auth_id=auth_id, organisation=organisation, effective_on=effective)]


def activate(account: Account, now: datetime) -> Decision | None:
    if account.status is not AccountStatus.PENDING:
        return None
    new = account.model_copy(update={"status": AccountStatus.ACTIVE, "activated_at": now})
    event = draft(
        c.AccountActivated,
        auth_id=account.auth_id,
        organisation=account.organisation,
        email=account.email,
        password_expires_at=new.password_expires_at,
    )
    return new, [event]


# ---- login -----------------------------------------------------------------------------


def failed_login(account: Account, now: datetime, periods: Periods) -> Decision:
    failures, until = count_failure(account.failed_logins, account.locked_until, now, periods)
    new = account.model_copy(update={"failed_logins": failures, "locked_until": until})
    if until is None:
        return new, []
    return new, [draft(c.AccountLocked, auth_id=account.auth_id, locked_until=until)]


def refuse_unusable(account: Account, now: datetime) -> None:
    """Told only after the right password (SPEC §1), in this order."""
    if account.status is AccountStatus.PENDING:
        assert account.effective_on is not None  # every registration has its day
        raise errors.RegistrationPending(account.effective_on)
    if account.status is AccountStatus.EXPIRED or now >= account.expires_at:
        raise errors.AccountExpired()
    if now >= account.password_expires_at:
        raise errors.PasswordExpired(account.password_expires_at)


def succeeded_login(account: Account, now: datetime, periods: Periods, rehash: str | None) -> Decision | None:
    """Clears the count and records the use. None when there is nothing to record: the idle year
    counts in days (Q27), so a second login on the same JST day changes nothing and a busy
    account is not rewritten (and its entry relayed) on every login."""
    refuse_unusable(account, now)
    if (
        rehash is None
        and account.failed_logins == 0
        and account.locked_until is None
        and account.last_used_at is not None
        and business_day(account.last_used_at) == business_day(now)
    ):
        return None
    update: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_used_at": now}
    if rehash is not None:
        update["password_hash"] = rehash
    return account.model_copy(update=update), []


# ---- passwords and e-mail --------------------------------------------------------------


def _with_new_password(account: Account, new_hash: str, now: datetime, *, by_officer: bool) -> Decision:
    """A new password also lifts a lock and clears the count. Only the user's own change counts as
    use (Q27: login, password or e-mail change); an officer's reset does not."""
    update: dict[str, object] = {
        "password_hash": new_hash,
        "password_set_at": now,
        "failed_logins": 0,
        "locked_until": None,
        "warned": (),
    }
    if not by_officer:
        update["last_used_at"] = now
    new = account.model_copy(update=update)
    event = draft(
        c.PasswordChanged,
        auth_id=account.auth_id,
        organisation=account.organisation,
        email=account.email,
        by_officer=by_officer,
        password_expires_at=password_expires_at(now),
    )
    return new, [event]


def change_own_password(account: Account, new_hash: str, now: datetime) -> Decision:
    if now >= account.password_expires_at:
        raise errors.ExpiredPasswordUnchangeable()
    return _with_new_password(account, new_hash, now, by_officer=False)


def officer_set_password(account: Account, new_hash: str, now: datetime) -> Decision:
    if not account.status.is_valid or now >= account.expires_at:
        raise errors.PasswordNotSettable()
    return _with_new_password(account, new_hash, now, by_officer=True)


def change_email(account: Account, new_email: str, now: datetime, *, by_officer: bool = False) -> Decision:
    """The user's own change counts as use (Q27); an officer's change on request does not, and
    is refused for an account that no longer works (deregistered or expired)."""
    if by_officer and (not account.status.is_valid or now >= account.expires_at):
        raise errors.EmailNotChangeable()
    if account.email == new_email:
        raise errors.SameEmail()
    event = draft(
        c.EmailChanged,
        auth_id=account.auth_id,
        organisation=account.organisation,
        old_email=account.email,
        new_email=new_email,
        by_officer=by_officer,
    )
    update: dict[str, object] = {"email": new_email, "undeliverable": None}  # a new address: not known to bounce
    if not by_officer:
        update["last_used_at"] = now
    return account.model_copy(update=update), [event]


def address_bounced(account: Account, flag: c.UndeliverableAddress) -> Decision | None:
    """The notifier had a hard bounce from `flag.email`: flag the registered address, unless the
    bounce is of an address the account no longer has, or the address is flagged already (the
    first bounce says since when)."""
    if account.email.casefold() != flag.email.casefold() or account.undeliverable is not None:
        return None
    return account.model_copy(update={"undeliverable": flag}), []


# ---- officer actions -------------------------------------------------------------------


def reissue_auth_id(account: Account, now: datetime) -> Decision:
    if account.status is not AccountStatus.ACTIVE:
        raise errors.NotYetActive()
    event = draft(c.AuthIdReissued, auth_id=account.auth_id, organisation=account.organisation, email=account.email)
    return account.model_copy(update={"reissued_at": now}), [event]


def change_organisation_details(account: Account, name: str) -> Decision:
    """The organisation's registered name, on its request (Q22); its ID and kind stay."""
    if account.organisation is None:
        raise errors.NotAnOrganisation()
    if not account.status.is_valid:
        raise errors.NoValidAccount()
    if account.organisation.name == name:
        raise errors.SameOrganisationName()
    organisation = account.organisation.model_copy(update={"name": name})
    event = draft(
        c.OrganisationDetailsChanged,
        auth_id=account.auth_id,
        organisation=organisation,
        previous_name=account.organisation.name,
    )
    return account.model_copy(update={"organisation": organisation}), [event]


def deregister(account: Account, officer_id: str, now: datetime) -> Decision:
    if account.status is AccountStatus.DEREGISTERED:
        raise errors.AlreadyDeregistered()
    if account.auth_id == officer_id:
        raise errors.CannotDeregisterSelf()
    new = account.model_copy(update={"status": AccountStatus.DEREGISTERED, "deregistered_at": now})
    return new, [draft(c.AccountDeregistered, auth_id=account.auth_id, organisation=account.organisation)]


# ---- scheduled jobs --------------------------------------------------------------------


def warning_due(account: Account, days_before: Sequence[int], as_of: datetime) -> int | None:
    """Which expiry warning (mail 5) is owed as of `as_of`, if any: the nearest threshold whose
    day (N days before the password's last valid day) has come. A warning missed on its day
    (the scheduler was down) is owed until the next one takes over, so it goes out once, late,
    at the next run; one that a nearer warning overtook is never sent after it."""
    expires = account.password_expires_at
    if account.status is not AccountStatus.ACTIVE or as_of >= expires or as_of >= account.expires_at:
        return None
    last_day = last_day_before(expires)
    today = business_day(as_of)
    come = [n for n in days_before if today >= last_day - timedelta(days=n)]
    if not come:
        return None
    nearest = min(come)
    return None if account.warning_mark(nearest) in account.warned else nearest


def warn_password_expiry(account: Account, days_before: Sequence[int], as_of: datetime) -> Decision | None:
    """Once per (password, threshold): the marks of this threshold and every farther one it
    overtakes are stored with the event, so a second run finds them, and a password changed
    since has another set time."""
    due = warning_due(account, days_before, as_of)
    if due is None:
        return None
    event = draft(
        c.PasswordExpiryWarned,
        auth_id=account.auth_id,
        organisation=account.organisation,
        email=account.email,
        password_expires_at=account.password_expires_at,
        days_before=due,
    )
    marks = tuple(account.warning_mark(n) for n in sorted(set(days_before)) if n >= due)
    warned = (*account.warned, *(m for m in marks if m not in account.warned))
    return account.model_copy(update={"warned": warned}), [event]


def expire(account: Account, as_of: datetime) -> Decision | None:
    if account.status is not AccountStatus.ACTIVE or as_of < account.expires_at:
        return None
    last_used = account.last_used_at or account.activated_at
    event = draft(c.AccountExpired, auth_id=account.auth_id, organisation=account.organisation, last_used_at=last_used)
    return account.model_copy(update={"status": AccountStatus.EXPIRED, "expired_at": as_of}), [event]
