"""The account's transitions on the typed Account, without any store: lockout at the 5th
consecutive failure, the lock lifting by itself after 24 hours, and the count reset by a
successful login or an officer's new password (SPEC §1, Q35)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import auth as c
from contracts.organisations import OrganisationKind
from services.auth.domain import errors, transitions
from services.auth.domain.account import Account, AccountStatus, DueKind, due_markers, view
from services.auth.domain.lockout import UnknownLogin, unknown_failure
from services.auth.domain.periods import Periods
from services.runtime.clock import business_day

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
PERIODS = Periods()
ORG = c.Organisation(organisation_id="1180301018771", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="テスト")


def active_account() -> Account:
    registered, _ = transitions.register(
        auth_id="org-user1", organisation=ORG, email="a@example.jp", password_hash="h1", now=START
    )
    decision = transitions.activate(registered, START + timedelta(days=1))
    assert decision is not None
    return decision[0]


def fail(account: Account, times: int, now: datetime) -> tuple[Account, list[type]]:
    kinds: list[type] = []
    for _ in range(times):
        account, events = transitions.failed_login(account, now, PERIODS)
        kinds += [d.kind for d in events]
    return account, kinds


def test_the_fifth_consecutive_failure_locks_for_24_hours_and_records_one_event():
    now = START + timedelta(days=2)
    account, kinds = fail(active_account(), 4, now)
    assert (account.failed_logins, account.locked_at(now), kinds) == (4, None, [])
    account, kinds = fail(account, 1, now)
    assert account.failed_logins == 5 and account.locked_until == now + timedelta(hours=24)
    assert kinds == [c.AccountLocked]
    assert view(account, now).status == "locked"


def test_the_lock_lifts_by_itself_at_exactly_24_hours_and_a_new_count_starts():
    now = START + timedelta(days=2)
    account, _ = fail(active_account(), 5, now)
    until = now + timedelta(hours=24)
    assert account.locked_at(until - timedelta(microseconds=1)) == until
    assert account.locked_at(until) is None
    assert view(account, until).status == "active" and view(account, until).failed_logins == 0
    account, kinds = fail(account, 1, until)
    assert (account.failed_logins, account.locked_until, kinds) == (1, None, [])


def test_a_successful_login_clears_the_count_and_records_the_use():
    now = START + timedelta(days=2)
    account, _ = fail(active_account(), 3, now)
    decision = transitions.succeeded_login(account, now, PERIODS, rehash=None)
    assert decision is not None
    cleared, events = decision
    assert (cleared.failed_logins, cleared.locked_until, cleared.last_used_at, events) == (0, None, now, [])


def test_an_officer_setting_a_password_lifts_the_lock_and_clears_the_count():
    now = START + timedelta(days=2)
    locked, _ = fail(active_account(), 5, now)
    new, events = transitions.officer_set_password(locked, "h2", now + timedelta(hours=1))
    assert (new.failed_logins, new.locked_until, new.password_hash, new.warned) == (0, None, "h2", ())
    (changed,) = events
    assert isinstance(changed.event, c.PasswordChanged) and changed.event.by_officer is True


def test_a_second_login_on_the_same_japan_day_records_nothing_and_the_next_day_records_again():
    account = active_account()
    used = START + timedelta(days=2)  # 10:00 JST
    decision = transitions.succeeded_login(account, used, PERIODS, rehash=None)
    assert decision is not None
    account = decision[0]
    last_second = used + timedelta(hours=13, minutes=59, seconds=59)  # 23:59:59 JST the same day
    assert transitions.succeeded_login(account, last_second, PERIODS, rehash=None) is None
    assert transitions.succeeded_login(account, last_second + timedelta(seconds=1), PERIODS, rehash=None) is not None


def test_after_the_right_password_pending_expired_account_and_expired_password_are_told_in_that_order():
    registered, _ = transitions.register(
        auth_id="org-user1", organisation=ORG, email="a@example.jp", password_hash="h", now=START
    )
    with pytest.raises(errors.RegistrationPending) as pending:
        transitions.succeeded_login(registered, START, PERIODS, rehash=None)
    assert pending.value.details == {"effective_on": "2027-04-02"}
    account = active_account()
    with pytest.raises(errors.AccountExpired):
        transitions.succeeded_login(account, account.expires_at, PERIODS, rehash=None)
    used = transitions.succeeded_login(account, account.password_expires_at - timedelta(hours=2), PERIODS, rehash=None)
    assert used is not None
    with pytest.raises(errors.PasswordExpired):
        transitions.succeeded_login(used[0], account.password_expires_at, PERIODS, rehash=None)


def test_an_unknown_id_locks_after_the_same_failures_as_a_real_account():
    now = START
    record = UnknownLogin(auth_id="nobody-here")
    for _ in range(5):
        record = unknown_failure(record, now, PERIODS)
    assert record.locked_at(now) == now + timedelta(hours=24)


def test_activation_deregistration_and_expiry_are_one_way():
    account = active_account()
    assert account.status is AccountStatus.ACTIVE and transitions.activate(account, START) is None
    gone, _ = transitions.deregister(account, "officer01", START + timedelta(days=3))
    with pytest.raises(errors.AlreadyDeregistered):
        transitions.deregister(gone, "officer01", START + timedelta(days=4))
    with pytest.raises(errors.CannotDeregisterSelf):
        transitions.deregister(account, "org-user1", START + timedelta(days=3))
    assert transitions.expire(account, account.expires_at - timedelta(seconds=1)) is None
    expired = transitions.expire(account, account.expires_at)
    assert expired is not None and expired[0].status is AccountStatus.EXPIRED
    assert transitions.expire(expired[0], account.expires_at) is None


def test_markers_follow_the_password_day_and_the_day_of_last_use():
    account = active_account()
    assert due_markers(account) == {(DueKind.PASSWORD_EXPIRY, business_day(account.password_expires_at))}
    used = START + timedelta(days=3)
    decision = transitions.succeeded_login(account, used, PERIODS, rehash=None)
    assert decision is not None
    assert (DueKind.LAST_USE, business_day(used)) in due_markers(decision[0])
