"""Login, lockout and the periods of SPEC §1 against in-memory fakes and a FakeClock:
a hypothesis state machine for login/lockout, and one test per period at its exact edge."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from contracts import auth as c
from contracts.common import ErrorCode
from contracts.organisations import OrganisationKind
from services.auth.adapters.passwords import HashParameters
from services.auth.domain.account import view
from services.auth.domain.organisation import ORGANISATION_CLAIM_GRACE, Claim
from services.runtime.clock import JST, FakeClock, business_day
from services.runtime.errors import DomainError
from tests.fakes.auth import FakeAuth

TOKEN = "operator-token-for-unit-tests-0123"
START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
OFFICER_PW, PW_A, PW_B = "Officer#2027x", "Secret#123abc", "Other!456def"


def build(clock: FakeClock) -> FakeAuth:
    return FakeAuth(clock, TOKEN)


async def officer_session(accounts: FakeAuth) -> str:
    if await accounts.accounts.get("officer01") is None:
        await accounts.call(
            c.CreateOfficer(operator_token=TOKEN, auth_id="officer01", password=OFFICER_PW, name="職員", email="o@example.go.jp")
        )
    return (await accounts.call(c.Login(auth_id="officer01", password=OFFICER_PW))).session_token


async def active_account(accounts: FakeAuth, clock: FakeClock, auth_id: str = "org-user1") -> None:
    """Register, then run the next-day batch at 09:00 JST the following day."""
    officer = await officer_session(accounts)
    org = c.Organisation(organisation_id="1180301018771", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="テスト")
    reg = await accounts.call(
        c.RegisterAccount(session_token=officer, organisation=org, auth_id=auth_id, initial_password=PW_A, email="a@example.jp")
    )
    clock.set(datetime.combine(reg.effective_on, datetime.min.time(), tzinfo=UTC))  # 09:00 JST that day
    assert (await accounts.call(c.ActivateDueRegistrations(as_of=clock.now()))).changed == 1


async def login_code(accounts: FakeAuth, auth_id: str, password: str) -> str:
    try:
        await accounts.call(c.Login(auth_id=auth_id, password=password))
    except DomainError as exc:
        return str(exc.code)
    return "ok"


class LoginLockoutMachine(RuleBasedStateMachine):
    """Model: consecutive failures lock for exactly 24 h at the 5th; while locked even the right
    password is refused; success or an officer reset clears the count."""

    @initialize()
    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(START)
        self.accounts = build(self.clock)
        self.run(active_account(self.accounts, self.clock))
        self.password = PW_A
        self.failures = 0
        self.locked_until: datetime | None = None

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        if hasattr(self, "loop"):
            self.loop.close()

    def locked(self) -> bool:
        return self.locked_until is not None and self.clock.now() < self.locked_until

    @rule()
    def wrong_password(self) -> None:
        code = self.run(login_code(self.accounts, "org-user1", "Wrong#999zz"))
        if self.locked():
            assert code == ErrorCode.ACCOUNT_LOCKED
            return
        if self.locked_until is not None:  # a lapsed lock starts a fresh count
            self.failures, self.locked_until = 0, None
        self.failures += 1
        if self.failures >= 5:
            self.locked_until = self.clock.now() + timedelta(hours=24)
        assert code == ErrorCode.LOGIN_FAILED

    @rule()
    def right_password(self) -> None:
        code = self.run(login_code(self.accounts, "org-user1", self.password))
        if self.locked():
            assert code == ErrorCode.ACCOUNT_LOCKED
        else:
            assert code == "ok"
            self.failures, self.locked_until = 0, None

    @rule()
    def officer_sets_a_new_password(self) -> None:
        new = PW_B if self.password == PW_A else PW_A

        async def reset() -> None:
            officer = await officer_session(self.accounts)
            await self.accounts.call(c.SetPassword(session_token=officer, auth_id="org-user1", new_password=new))

        self.run(reset())
        self.password, self.failures, self.locked_until = new, 0, None

    @rule(minutes=st.sampled_from([1, 59, 60 * 23 + 59, 60 * 24, 60 * 24 + 1]))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @precondition(lambda self: self.locked_until is not None)
    @rule()
    def jump_to_the_exact_end_of_the_lock(self) -> None:
        assert self.locked_until is not None
        self.clock.set(self.locked_until)

    @invariant()
    def stored_state_matches_the_model(self) -> None:
        if not hasattr(self, "accounts"):
            return
        account = self.run(self.accounts.accounts.get("org-user1"))
        state = view(account, self.clock.now())
        assert state.locked_until == (self.locked_until if self.locked() else None)
        if not self.locked() and self.locked_until is None:
            assert state.failed_logins == self.failures


LoginLockoutMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_login_and_lockout_follow_the_model = LoginLockoutMachine.TestCase


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def test_lock_lifts_at_exactly_24_hours(clock):
    accounts = build(clock)
    await active_account(accounts, clock)
    for _ in range(5):
        assert await login_code(accounts, "org-user1", "Wrong#999zz") == ErrorCode.LOGIN_FAILED
    locked_at = clock.now()
    with pytest.raises(DomainError) as err:
        await accounts.call(c.Login(auth_id="org-user1", password=PW_A))
    assert err.value.code == ErrorCode.ACCOUNT_LOCKED
    assert err.value.details["locked_until"] == (locked_at + timedelta(hours=24)).isoformat()
    clock.set(locked_at + timedelta(hours=24) - timedelta(microseconds=1))
    assert await login_code(accounts, "org-user1", PW_A) == ErrorCode.ACCOUNT_LOCKED
    clock.set(locked_at + timedelta(hours=24))
    assert await login_code(accounts, "org-user1", PW_A) == "ok"


async def test_password_expires_one_year_after_it_was_set_and_cannot_be_changed_online(clock):
    accounts = build(clock)
    await active_account(accounts, clock)
    set_at = (await accounts.accounts.get("org-user1")).password_set_at
    # Set on 2027-04-01 (JST): valid through 2028-04-01 23:59:59 JST, in days (Q31, the first day not counted).
    assert business_day(set_at) == date(2027, 4, 1)
    last_second = datetime(2028, 4, 1, 23, 59, 59, tzinfo=JST)
    clock.set(last_second)
    session = (await accounts.call(c.Login(auth_id="org-user1", password=PW_A))).session_token
    clock.set(datetime(2028, 4, 2, 0, 0, tzinfo=JST))
    assert await login_code(accounts, "org-user1", PW_A) == ErrorCode.PASSWORD_EXPIRED
    assert await login_code(accounts, "org-user1", "Wrong#999zz") == ErrorCode.LOGIN_FAILED  # told only after the right one
    # The session from a second earlier is still alive, but the expired password cannot be changed online.
    with pytest.raises(DomainError) as err:
        await accounts.call(c.ChangePassword(session_token=session, current_password=PW_A, new_password=PW_B))
    assert err.value.code == ErrorCode.PASSWORD_EXPIRED


async def test_account_expires_one_year_after_last_use_and_an_email_change_counts_as_use(clock):
    accounts = build(clock)
    await active_account(accounts, clock)
    token = (await accounts.call(c.Login(auth_id="org-user1", password=PW_A))).session_token
    clock.advance(minutes=25)
    await accounts.call(c.ChangeEmail(session_token=token, new_email="new@example.jp"))
    last_use = clock.now()

    def expire_at(moment: datetime) -> c.ExpireIdleAccounts:
        clock.set(moment)
        return c.ExpireIdleAccounts(as_of=moment)

    async def status() -> str:
        return view(await accounts.accounts.get("org-user1"), clock.now()).status

    def expired_events() -> list[dict]:
        return [
            e
            for e in accounts.accounts.events
            if e["subject"] == c.AccountExpired.SUBJECT and e["data"]["auth_id"] == "org-user1"
        ]

    # Used on its JST day D: valid through D a year later, 23:59:59 JST (Q27, in days).
    last_day = business_day(last_use).replace(year=business_day(last_use).year + 1)
    await accounts.call(expire_at(datetime.combine(last_day, time(23, 59, 59), tzinfo=JST)))
    assert expired_events() == []
    clock.set(datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=JST))
    # The account's year is checked before the password's (which ran out earlier).
    assert await login_code(accounts, "org-user1", PW_A) == ErrorCode.ACCOUNT_EXPIRED
    await accounts.call(expire_at(clock.now()))
    await accounts.call(expire_at(clock.now()))
    assert await status() == "expired"
    (event,) = expired_events()
    assert event["data"]["last_used_at"].startswith(last_use.isoformat()[:19])


async def test_sessions_end_after_30_idle_minutes_and_8_hours_in_all(clock):
    accounts = build(clock)
    await active_account(accounts, clock)
    token = (await accounts.call(c.Login(auth_id="org-user1", password=PW_A))).session_token

    async def active() -> bool:
        return (await accounts.call(c.IntrospectSession(session_token=token))).active

    # Used every 29 minutes: alive until the absolute 8 hours.
    started = clock.now()
    while clock.now() + timedelta(minutes=29) < started + timedelta(hours=8):
        clock.advance(minutes=29)
        assert await active()
    clock.set(started + timedelta(hours=8))
    assert not await active()

    token = (await accounts.call(c.Login(auth_id="org-user1", password=PW_A))).session_token
    used = clock.now()
    clock.set(used + timedelta(minutes=30) - timedelta(microseconds=1))
    assert await active()  # and this use restarts the idle timer
    clock.set(clock.now() + timedelta(minutes=30))
    assert not await active()


async def test_logout_ends_the_session(clock):
    accounts = build(clock)
    await active_account(accounts, clock)
    token = (await accounts.call(c.Login(auth_id="org-user1", password=PW_A))).session_token
    await accounts.call(c.Logout(session_token=token))
    assert not (await accounts.call(c.IntrospectSession(session_token=token))).active
    with pytest.raises(DomainError) as err:
        await accounts.call(c.ChangeEmail(session_token=token, new_email="b@example.jp"))
    assert err.value.code == ErrorCode.UNAUTHENTICATED


async def test_every_command_is_audited_without_a_password(clock):
    accounts = build(clock)
    await active_account(accounts, clock)
    await login_code(accounts, "org-user1", "Wrong#999zz")
    records = accounts.audit.records
    assert {r["command"] for r in records} >= {"CreateOfficer", "Login", "RegisterAccount", "ActivateDueRegistrations"}
    assert records[-1]["result"] == ErrorCode.LOGIN_FAILED and records[-1]["actor"] == "org-user1"
    text = repr(records)
    for secret in (OFFICER_PW, PW_A, "Wrong#999zz", TOKEN):
        assert secret not in text


async def test_use_is_recorded_to_the_day_and_a_busy_account_is_not_rewritten_on_every_login(clock):
    accounts = build(clock)
    await active_account(accounts, clock)  # 09:00 JST
    assert await login_code(accounts, "org-user1", PW_A) == "ok"
    first = accounts.accounts.revision("org-user1")
    clock.advance(hours=14, minutes=59, seconds=59)  # 23:59:59 JST the same day
    assert await login_code(accounts, "org-user1", PW_A) == "ok"
    assert accounts.accounts.revision("org-user1") == first
    clock.advance(seconds=1)  # 00:00 JST the next day
    assert await login_code(accounts, "org-user1", PW_A) == "ok"
    later = await accounts.accounts.get("org-user1")
    assert later.last_used_at == clock.now()
    # A failure in between is cleared by the next success even within the hour.
    assert await login_code(accounts, "org-user1", "Wrong#999zz") == ErrorCode.LOGIN_FAILED
    assert await login_code(accounts, "org-user1", PW_A) == "ok"
    assert (await accounts.accounts.get("org-user1")).failed_logins == 0


async def test_raised_hash_parameters_rehash_a_password_at_its_next_login(clock):
    accounts = build(clock)
    await active_account(accounts, clock)
    before = (await accounts.accounts.get("org-user1")).password_hash
    assert before.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    accounts.with_passwords(HashParameters(memory_kib=128, time_cost=2, parallelism=1))
    assert await login_code(accounts, "org-user1", PW_A) == "ok"
    after = (await accounts.accounts.get("org-user1")).password_hash
    assert after.startswith("$argon2id$v=19$m=128,t=2,p=1$")
    assert await login_code(accounts, "org-user1", PW_A) == "ok"  # the new hash verifies


async def test_an_unbacked_organisation_claim_is_respected_for_the_grace_then_free():
    # A registration claims the organisation, then writes its account. A claim with no account yet
    # is a registration in progress (two at once must not both succeed), until the grace says it
    # is a crashed one's leftover.
    clock = FakeClock(START)
    accounts = build(clock)
    officer = await officer_session(accounts)
    org = c.Organisation(organisation_id="1180301018771", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="テスト")
    await accounts.claims.put(org.organisation_id, Claim(auth_id="crashed-user", claimed_at=clock.now()), expected=None)

    def register(auth_id: str) -> c.RegisterAccount:
        return c.RegisterAccount(
            session_token=officer, organisation=org, auth_id=auth_id, initial_password=PW_A, email="a@example.jp"
        )

    clock.advance(ORGANISATION_CLAIM_GRACE - timedelta(seconds=1))
    officer = await officer_session(accounts)
    with pytest.raises(DomainError) as refused:
        await accounts.call(register("second-user"))
    assert refused.value.code == ErrorCode.CONFLICT
    assert refused.value.fields[0].field == "organisation.organisation_id"
    assert await accounts.accounts.get("second-user") is None

    clock.advance(timedelta(seconds=1))
    officer = await officer_session(accounts)
    assert (await accounts.call(register("second-user"))).auth_id == "second-user"
    assert (await accounts.claims.read(org.organisation_id)).value.auth_id == "second-user"
