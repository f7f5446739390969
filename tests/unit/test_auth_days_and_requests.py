"""Issue 15 in auth, on the injected clock: periods counted in days as the Civil Code counts them
(Q27, Q31), only the user's own actions count as use, a missed expiry warning caught up once, a
future as-of refused unless forced, the officer's changes on request, and where each request
came from in the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts import auth as c
from contracts.common import ErrorCode
from contracts.organisations import OrganisationKind
from services.auth.domain.periods import last_valid_day, one_year_from
from services.runtime.clock import JST, FakeClock
from services.runtime.errors import DomainError
from tests.fakes.auth import FakeAuth

TOKEN = "operator-token-for-unit-tests-0123"
OFFICER_PW, PW_A, PW_B, PW_C = "Officer#2027x", "Secret#123abc", "Other!456def", "Third?789ghi"
ORG = c.Organisation(organisation_id="1180301018771", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="テスト株式会社")
AT_COUNTER = c.RequestProvenance(channel=c.RequestChannel.COUNTER, bureau="東京出入国在留管理局", form_reference="東R-2027-0001")
BY_POST = c.RequestProvenance(channel=c.RequestChannel.POST, bureau="大阪出入国在留管理局", form_reference="大郵-88")


def jst(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=JST)


@pytest.mark.parametrize(
    ("start", "last"),
    [
        (date(2027, 4, 1), date(2028, 4, 1)),  # the example
        (date(2028, 2, 29), date(2029, 2, 28)),  # 29 February -> 28 February
        (date(2027, 2, 28), date(2028, 2, 29)),  # counting starts 1 March: ends the day before 1 March 2028
        (date(2028, 2, 28), date(2029, 2, 28)),  # counting starts 29 Feb: no such day in 2029, the month's end
        (date(2027, 12, 31), date(2028, 12, 31)),
    ],
)
def test_a_year_counts_in_days_from_the_day_after_and_ends_on_the_last_valid_day(start, last):
    assert last_valid_day(start) == last


def test_the_period_ends_at_midnight_japan_time_after_the_last_valid_day_whatever_the_hour_it_began():
    for hour in (0, 9, 15, 23):
        assert one_year_from(jst(2027, 4, 1, hour, 30)) == jst(2028, 4, 2)
    assert one_year_from(jst(2028, 2, 29, 10)) == jst(2029, 3, 1)


async def officer_session(auth: FakeAuth) -> str:
    if await auth.accounts.get("officer01") is None:
        await auth.call(
            c.CreateOfficer(operator_token=TOKEN, auth_id="officer01", password=OFFICER_PW, name="職員", email="o@example.go.jp")
        )
    return (await auth.call(c.Login(auth_id="officer01", password=OFFICER_PW))).session_token


async def registered(auth: FakeAuth, clock: FakeClock, at: datetime, request: c.RequestProvenance | None = AT_COUNTER) -> str:
    """Registered at `at`, activated at 09:00 JST the next day; returns an officer session."""
    clock.set(at)
    officer = await officer_session(auth)
    reg = await auth.call(
        c.RegisterAccount(
            session_token=officer,
            organisation=ORG,
            auth_id="org-user1",
            initial_password=PW_A,
            email="a@example.jp",
            request=request,
        )
    )
    clock.set(jst(reg.effective_on.year, reg.effective_on.month, reg.effective_on.day, 9))
    assert (await auth.call(c.ActivateDueRegistrations(as_of=clock.now()))).changed == 1
    return await officer_session(auth)  # the one from registration day has timed out


async def code_of(auth: FakeAuth, cmd: c.Command) -> str:  # type: ignore[type-arg]
    try:
        await auth.call(cmd)
    except DomainError as exc:
        return str(exc.code)
    return "ok"


def events(auth: FakeAuth, kind: type[c.Event]) -> list[dict]:  # type: ignore[type-arg]
    return [e["data"] for e in auth.accounts.events if e["subject"] == kind.SUBJECT]


# ---- item 2: the password's year in days ---------------------------------------------------------


async def test_a_password_set_on_29_february_works_through_28_february_23_59_59_and_not_at_1_march_00_00():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    await registered(auth, clock, jst(2028, 2, 28, 15))  # activated 29 Feb 09:00; password set 28 Feb
    clock.set(jst(2028, 2, 29, 16, 45))
    officer = await officer_session(auth)
    await auth.call(c.SetPassword(session_token=officer, auth_id="org-user1", new_password=PW_B, request=BY_POST))
    (changed,) = events(auth, c.PasswordChanged)[-1:]
    assert datetime.fromisoformat(changed["password_expires_at"]) == jst(2029, 3, 1)
    # Keep the account in use so only the password's year is tested.
    clock.set(jst(2029, 2, 1, 12))
    assert await code_of(auth, c.Login(auth_id="org-user1", password=PW_B)) == "ok"
    clock.set(jst(2029, 2, 28, 23, 59, 59))
    assert await code_of(auth, c.Login(auth_id="org-user1", password=PW_B)) == "ok"
    clock.set(jst(2029, 3, 1, 0, 0))
    assert await code_of(auth, c.Login(auth_id="org-user1", password=PW_B)) == ErrorCode.PASSWORD_EXPIRED


async def test_the_expired_password_message_names_the_last_valid_day_and_both_counter_and_post():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    await registered(auth, clock, jst(2027, 3, 31, 10))  # password set 2027-03-31
    clock.set(jst(2028, 3, 1, 10))
    await auth.call(c.Login(auth_id="org-user1", password=PW_A))  # keep the ID in use
    clock.set(jst(2028, 4, 1, 0, 0))
    with pytest.raises(DomainError) as refused:
        await auth.call(c.Login(auth_id="org-user1", password=PW_A))
    assert refused.value.code == ErrorCode.PASSWORD_EXPIRED
    assert "2028年3月31日" in refused.value.message and "窓口又は郵送" in refused.value.message
    assert "手続き" not in refused.value.message


# ---- items 2 and 3: the auth ID's year, and what counts as use -----------------------------------


async def test_an_officers_password_reset_and_email_change_do_not_count_as_use_for_the_auth_id():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    officer = await registered(auth, clock, jst(2027, 4, 1, 10))
    clock.set(jst(2027, 4, 10, 11))
    assert await code_of(auth, c.Login(auth_id="org-user1", password=PW_A)) == "ok"  # last use: 2027-04-10
    before = (await auth.accounts.get("org-user1")).expires_at
    assert before == jst(2028, 4, 11)
    clock.set(jst(2028, 3, 1, 10))
    officer = await officer_session(auth)
    await auth.call(c.SetPassword(session_token=officer, auth_id="org-user1", new_password=PW_B, request=AT_COUNTER))
    await auth.call(c.ChangeAccountEmail(session_token=officer, auth_id="org-user1", new_email="b@example.jp", request=BY_POST))
    account = await auth.accounts.get("org-user1")
    assert account.expires_at == before and account.last_used_at == jst(2027, 4, 10, 11)
    # The last valid day 2028-04-10 still works; 2028-04-11 00:00 JST it has expired.
    clock.set(jst(2028, 4, 10, 23, 59, 59))
    assert await code_of(auth, c.ExpireIdleAccounts(as_of=clock.now())) == "ok"
    assert events(auth, c.AccountExpired) == []
    clock.set(jst(2028, 4, 11, 0, 0))
    assert await code_of(auth, c.Login(auth_id="org-user1", password=PW_B)) == ErrorCode.ACCOUNT_EXPIRED
    assert (await auth.call(c.ExpireIdleAccounts(as_of=clock.now()))).changed == 1


async def test_the_users_own_login_password_change_and_email_change_count_as_use():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    await registered(auth, clock, jst(2027, 4, 1, 10))
    clock.set(jst(2027, 6, 1, 10))
    clock.set(jst(2027, 6, 2, 10))
    token = (await auth.call(c.Login(auth_id="org-user1", password=PW_A))).session_token
    clock.set(jst(2027, 6, 2, 10, 20))
    await auth.call(c.ChangePassword(session_token=token, current_password=PW_A, new_password=PW_B))
    assert (await auth.accounts.get("org-user1")).expires_at == jst(2028, 6, 3)
    clock.set(jst(2027, 6, 3, 10))
    token = (await auth.call(c.Login(auth_id="org-user1", password=PW_B))).session_token
    clock.set(jst(2027, 6, 4, 10))
    token = (await auth.call(c.Login(auth_id="org-user1", password=PW_B))).session_token
    await auth.call(c.ChangeEmail(session_token=token, new_email="own@example.jp"))
    assert (await auth.accounts.get("org-user1")).expires_at == jst(2028, 6, 5)


# ---- item 4: a missed warning goes out once at the next run -------------------------------------


async def warn(auth: FakeAuth, clock: FakeClock, at: datetime) -> list[int]:
    """The warnings this run sent the organisation's account (the officer's own password nears its end too)."""
    clock.set(at)
    before = len(events(auth, c.PasswordExpiryWarned))
    await auth.call(c.SendPasswordExpiryWarnings(as_of=at, days_before=[30, 7]))
    return [w["days_before"] for w in events(auth, c.PasswordExpiryWarned)[before:] if w["auth_id"] == "org-user1"]


async def test_a_warning_day_missed_is_caught_up_once_at_the_next_run_and_the_7_day_one_still_comes():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    await registered(auth, clock, jst(2027, 4, 1, 10))  # password valid through 2028-04-01
    clock.set(jst(2028, 2, 1, 10))
    await auth.call(c.Login(auth_id="org-user1", password=PW_A))
    assert await warn(auth, clock, jst(2028, 3, 1, 8)) == []  # 31 days before: not yet
    # 2028-03-02 (30 days before) the scheduler was down; the next run, two days later, sends it.
    assert await warn(auth, clock, jst(2028, 3, 4, 8)) == [30]
    assert await warn(auth, clock, jst(2028, 3, 5, 8)) == []  # once
    assert await warn(auth, clock, jst(2028, 3, 24, 8)) == []
    assert await warn(auth, clock, jst(2028, 3, 25, 8)) == [7]  # 7 days before 1 April
    assert await warn(auth, clock, jst(2028, 3, 26, 8)) == []
    warned = [w for w in events(auth, c.PasswordExpiryWarned) if w["auth_id"] == "org-user1"]
    assert [w["days_before"] for w in warned] == [30, 7]
    assert {datetime.fromisoformat(w["password_expires_at"]) for w in warned} == {jst(2028, 4, 2)}
    # On the last valid day itself nothing more; after it, the password has expired.
    assert await warn(auth, clock, jst(2028, 4, 1, 23, 59, 59)) == []


async def test_when_both_warning_days_were_missed_only_the_nearer_warning_goes_out_once():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    await registered(auth, clock, jst(2027, 4, 1, 10))
    clock.set(jst(2028, 2, 1, 10))
    await auth.call(c.Login(auth_id="org-user1", password=PW_A))
    assert await warn(auth, clock, jst(2028, 3, 28, 8)) == [7]
    assert await warn(auth, clock, jst(2028, 3, 29, 8)) == []
    assert [w["days_before"] for w in events(auth, c.PasswordExpiryWarned) if w["auth_id"] == "org-user1"] == [7]


async def test_a_password_changed_after_its_warning_gets_no_warning_until_its_new_year_nears():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    await registered(auth, clock, jst(2027, 4, 1, 10))
    clock.set(jst(2028, 3, 3, 10))
    token = (await auth.call(c.Login(auth_id="org-user1", password=PW_A))).session_token
    assert await warn(auth, clock, jst(2028, 3, 3, 10)) == [30]
    await auth.call(c.ChangePassword(session_token=token, current_password=PW_A, new_password=PW_C))
    assert await warn(auth, clock, jst(2028, 3, 26, 8)) == []


# ---- item 4: a future as-of ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "job",
    [
        lambda at, force: c.ActivateDueRegistrations(as_of=at, force=force),
        lambda at, force: c.SendPasswordExpiryWarnings(as_of=at, force=force),
        lambda at, force: c.ExpireIdleAccounts(as_of=at, force=force),
    ],
)
async def test_a_job_dated_in_the_future_is_refused_by_auth_itself_unless_forced(job):
    clock = FakeClock(datetime(2027, 4, 1, 1, 0, tzinfo=UTC))
    auth = FakeAuth(clock, TOKEN)
    with pytest.raises(DomainError) as refused:
        await auth.call(job(clock.now() + timedelta(days=1), False))
    assert refused.value.code == ErrorCode.VALIDATION
    assert [f.field for f in refused.value.fields] == ["as_of"]
    assert "未来" in refused.value.message
    assert auth.audit.records[-1]["result"] == "validation" and auth.audit.records[-1]["force"] is False
    await auth.call(job(clock.now() + timedelta(days=1), True))
    assert auth.audit.records[-1]["result"] == "ok" and auth.audit.records[-1]["force"] is True
    await auth.call(job(clock.now() + timedelta(minutes=2), False))  # hosts' clocks drift a little


async def test_tomorrows_registrations_are_not_activated_by_a_run_dated_tomorrow():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    clock.set(jst(2027, 4, 1, 10))
    officer = await officer_session(auth)
    await auth.call(
        c.RegisterAccount(
            session_token=officer, organisation=ORG, auth_id="org-user1", initial_password=PW_A, email="a@example.jp"
        )
    )
    assert await code_of(auth, c.ActivateDueRegistrations(as_of=jst(2027, 4, 2, 9))) == ErrorCode.VALIDATION
    assert (await auth.accounts.get("org-user1")).status.value == "pending"


# ---- the officer's changes on request, and where requests came from ------------------------------


async def test_an_officer_changes_the_email_on_request_mail_3_goes_to_the_new_address_and_a_notice_to_the_old():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    officer = await registered(auth, clock, jst(2027, 4, 1, 10))
    await auth.call(c.ChangeAccountEmail(session_token=officer, auth_id="org-user1", new_email="new@example.jp", request=BY_POST))
    (changed,) = events(auth, c.EmailChanged)
    assert (changed["old_email"], changed["new_email"], changed["by_officer"]) == ("a@example.jp", "new@example.jp", True)
    record = auth.audit.records[-1]
    assert (record["command"], record["actor"], record["target"]) == ("ChangeAccountEmail", "officer01", "org-user1")
    assert record["request"] == {
        "channel": "post",
        "channel_label": "郵送",
        "bureau": "大阪出入国在留管理局",
        "form_reference": "大郵-88",
    }


async def test_an_organisation_session_can_never_change_an_email_or_details_as_an_officer():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    await registered(auth, clock, jst(2027, 4, 1, 10))
    token = (await auth.call(c.Login(auth_id="org-user1", password=PW_A))).session_token
    cmd = c.ChangeAccountEmail(session_token=token, auth_id="org-user1", new_email="x@example.jp", request=AT_COUNTER)
    assert await code_of(auth, cmd) == ErrorCode.FORBIDDEN
    details = c.ChangeOrganisationDetails(session_token=token, organisation_id=ORG.organisation_id, name="X", request=AT_COUNTER)
    assert await code_of(auth, details) == ErrorCode.FORBIDDEN


async def test_an_officer_changes_the_organisations_registered_name_and_the_contact_query_reports_it():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    officer = await registered(auth, clock, jst(2027, 4, 1, 10))
    view = await auth.call(
        c.ChangeOrganisationDetails(
            session_token=officer, organisation_id=ORG.organisation_id, name="新テスト株式会社", request=AT_COUNTER
        )
    )
    assert view.account.organisation is not None and view.account.organisation.name == "新テスト株式会社"
    (changed,) = events(auth, c.OrganisationDetailsChanged)
    assert changed["previous_name"] == "テスト株式会社" and changed["organisation"]["name"] == "新テスト株式会社"
    assert auth.audit.records[-1]["request"]["channel"] == "counter"
    await auth.call(c.ChangeAccountEmail(session_token=officer, auth_id="org-user1", new_email="now@example.jp", request=BY_POST))
    contact = await auth.call(c.GetOrganisationContact(organisation_id=ORG.organisation_id))
    assert (contact.auth_id, contact.email, contact.valid) == ("org-user1", "now@example.jp", True)
    assert contact.organisation is not None and contact.organisation.name == "新テスト株式会社"
    assert auth.audit.records[-1]["actor"] == "filing"
    nobody = await auth.call(c.GetOrganisationContact(organisation_id="9999999999999"))
    assert (nobody.email, nobody.valid) == (None, False)


async def test_registration_deregistration_reissue_and_password_reset_record_where_the_request_came_from():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    officer = await registered(auth, clock, jst(2027, 4, 1, 10))
    await auth.call(c.ReissueAuthId(session_token=officer, organisation_id=ORG.organisation_id, request=BY_POST))
    await auth.call(c.SetPassword(session_token=officer, auth_id="org-user1", new_password=PW_B, request=AT_COUNTER))
    await auth.call(c.Deregister(session_token=officer, auth_id="org-user1", request=BY_POST))
    by_command = {r["command"]: r for r in auth.audit.records if "request" in r}
    assert set(by_command) == {"RegisterAccount", "ReissueAuthId", "SetPassword", "Deregister"}
    assert by_command["RegisterAccount"]["request"]["form_reference"] == "東R-2027-0001"
    assert by_command["Deregister"]["request"]["channel_label"] == "郵送"


async def test_a_request_with_a_blank_or_control_character_reference_is_refused_and_nothing_changes():
    clock = FakeClock()
    auth = FakeAuth(clock, TOKEN)
    officer = await registered(auth, clock, jst(2027, 4, 1, 10))
    forged = c.RequestProvenance(channel=c.RequestChannel.COUNTER, bureau="東京\n局", form_reference=" ")
    with pytest.raises(DomainError) as refused:
        await auth.call(c.Deregister(session_token=officer, auth_id="org-user1", request=forged))
    assert {f.field for f in refused.value.fields} == {"request.bureau", "request.form_reference"}
    assert (await auth.accounts.get("org-user1")).status.value == "active"
