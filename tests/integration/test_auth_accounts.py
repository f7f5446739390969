"""Officer actions, self-service changes, refusals and the scheduler's warnings over a real
nats-server: every change emits the event its mail needs, every refusal names the field in
Japanese and stores nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts import auth as c
from contracts.common import ErrorCode
from services.runtime.clock import FakeClock
from tests.integration.test_auth_lifecycle import (
    CORP,
    OFFICER_PW,
    ORG_PW,
    START,
    events,
    make_officer,
    org,
    refused,
    register,
)
from tests.support.suite import running

NEW_PW = "Changed#789xyz"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u9fff" for ch in text)


async def active_org(client, clock, officer: str, auth_id: str = "org-user1", org_id: str = CORP) -> str:
    """Register and activate an organisation account; returns its session token."""
    reg = await register(client, officer, auth_id=auth_id, org_id=org_id)
    clock.set(datetime.combine(reg.effective_on, datetime.min.time(), tzinfo=UTC))  # 09:00 JST
    await client.call(c.ActivateDueRegistrations(as_of=clock.now()))
    return (await client.call(c.Login(auth_id=auth_id, password=ORG_PW))).session_token


async def officer_again(client) -> str:
    return (await client.call(c.Login(auth_id="officer01", password=OFFICER_PW))).session_token


async def test_each_change_emits_the_event_for_its_mail(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        session = await active_org(client, clock, officer)
        officer = await officer_again(client)
        await client.call(c.ChangeEmail(session_token=session, new_email="new@example.jp"))
        await client.call(c.ChangePassword(session_token=session, current_password=ORG_PW, new_password=NEW_PW))
        await client.call(c.ReissueAuthId(session_token=officer, organisation_id=CORP))
        await client.call(c.SetPassword(session_token=officer, auth_id="org-user1", new_password=ORG_PW))
        seen = {e["subject"]: e for e in await events(nc)}

    email = seen[c.EmailChanged.SUBJECT]
    assert (email["old_email"], email["new_email"]) == ("org@example.jp", "new@example.jp")
    reissued = seen[c.AuthIdReissued.SUBJECT]
    assert (reissued["auth_id"], reissued["email"]) == ("org-user1", "new@example.jp")
    assert seen[c.PasswordChanged.SUBJECT]["by_officer"] is True  # the last one: the officer's
    text = json.dumps(list(seen.values()), ensure_ascii=False)
    for secret in (ORG_PW, NEW_PW, OFFICER_PW, "argon2"):
        assert secret not in text


async def test_self_service_and_officer_password_changes_are_distinguished(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        session = await active_org(client, clock, officer)
        await client.call(c.ChangePassword(session_token=session, current_password=ORG_PW, new_password=NEW_PW))
        officer = await officer_again(client)
        await client.call(c.SetPassword(session_token=officer, auth_id="org-user1", new_password=ORG_PW))
        changed = [e for e in await events(nc) if e["subject"] == c.PasswordChanged.SUBJECT]
        await client.call(c.Login(auth_id="org-user1", password=ORG_PW))
    assert [e["by_officer"] for e in changed] == [False, True]
    assert all(e["email"] == "org@example.jp" for e in changed)


async def test_deregistration_ends_every_session_at_once(nats_url, client, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        first = await active_org(client, clock, officer)
        second = (await client.call(c.Login(auth_id="org-user1", password=ORG_PW))).session_token
        officer = await officer_again(client)
        assert (await client.call(c.IntrospectSession(session_token=first))).active
        await client.call(c.Deregister(session_token=officer, auth_id="org-user1"))
        for token in (first, second):
            assert not (await client.call(c.IntrospectSession(session_token=token))).active
        gone = await refused(client.call(c.Login(auth_id="org-user1", password=ORG_PW)))
        assert gone.code == ErrorCode.LOGIN_FAILED
        view = await client.call(c.GetAccount(session_token=officer, auth_id="org-user1"))
        assert view.account.status == "deregistered"


async def test_an_organisation_session_can_never_do_an_officer_action(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        session = await active_org(client, clock, officer)
        before = len(await events(nc, wait=2))
        attempts = [
            c.RegisterAccount(
                session_token=session,
                organisation=org("TOKYO-0001"),
                auth_id="sneaky01",
                initial_password=ORG_PW,
                email="x@example.jp",
            ),
            c.ReissueAuthId(session_token=session, organisation_id=CORP),
            c.SetPassword(session_token=session, auth_id="org-user1", new_password=NEW_PW),
            c.Deregister(session_token=session, auth_id="org-user1"),
            c.GetAccount(session_token=session, auth_id="org-user1"),
            c.PublishNotice(session_token=session, title="偽", body="偽のお知らせ"),
            c.WithdrawNotice(session_token=session, notice_id="whatever"),
        ]
        for cmd in attempts:
            err = await refused(client.call(cmd))
            assert err.code == ErrorCode.FORBIDDEN and japanese(err.error.message), cmd
        wrong_token = await refused(
            client.call(
                c.CreateOfficer(
                    operator_token="not-the-operator-token", auth_id="sneaky02", password=ORG_PW, name="x", email="x@example.jp"
                )
            )
        )
        assert wrong_token.code == ErrorCode.FORBIDDEN
        assert len(await events(nc, wait=1)) == before  # nothing happened
        await client.call(c.Login(auth_id="org-user1", password=ORG_PW))  # password unchanged
        officer = await officer_again(client)
        assert (await client.call(c.GetAccount(session_token=officer, auth_id="org-user1"))).account.status == "active"
        assert await refused(client.call(c.GetAccount(session_token=officer, auth_id="sneaky01")))


async def test_a_refused_registration_names_every_field_in_japanese_and_stores_nothing(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        err = await refused(
            client.call(
                c.RegisterAccount(
                    session_token=officer,
                    organisation=org("2180301018771", name=" "),
                    auth_id="ab.c",
                    initial_password="ab.cdefgh",
                    email="not-an-address",
                )
            )
        )
        assert err.code == ErrorCode.VALIDATION
        fields = {f.field: f for f in err.error.fields}
        assert set(fields) == {"organisation.organisation_id", "organisation.name", "auth_id", "initial_password", "email"}
        assert fields["organisation.organisation_id"].code == "check_digit"
        assert all(japanese(f.message) and f.label for f in err.error.fields)
        # Nothing stored: the ID, the organisation and the events are all still free.
        assert (await refused(client.call(c.GetAccount(session_token=officer, auth_id="ab.c")))).code == ErrorCode.NOT_FOUND
        assert not [e for e in await events(nc, wait=1) if e["subject"] == c.AccountRegistered.SUBJECT]
        await register(client, officer, org_id="2180301018771".replace("2", "1", 1))


async def test_refused_password_and_email_changes_leave_the_account_as_it_was(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        session = await active_org(client, clock, officer)
        officer = await officer_again(client)
        before = (await client.call(c.GetAccount(session_token=officer, auth_id="org-user1"))).account
        cases = [
            (
                c.ChangePassword(session_token=session, current_password="Wrong#999zz", new_password=NEW_PW),
                "current_password",
                "mismatch",
            ),
            (
                c.ChangePassword(session_token=session, current_password=ORG_PW, new_password=ORG_PW),
                "new_password",
                "same_as_current",
            ),
            (
                c.ChangePassword(session_token=session, current_password=ORG_PW, new_password="xorg-user1#9"),
                "new_password",
                "contains_auth_id",
            ),
            (c.ChangePassword(session_token=session, current_password=ORG_PW, new_password="short1!"), "new_password", "length"),
            (
                c.ChangePassword(session_token=session, current_password=ORG_PW, new_password="Ｆｕｌｌ#1234"),
                "new_password",
                "charset",
            ),
            (c.ChangeEmail(session_token=session, new_email="no-at-sign"), "new_email", "email"),
            (c.SetPassword(session_token=officer, auth_id="org-user1", new_password="nodigits#x"), "new_password", "needs_digit"),
        ]
        for cmd, field, code in cases:
            err = await refused(client.call(cmd))
            assert err.code == ErrorCode.VALIDATION
            assert any(f.field == field and f.code == code and japanese(f.message) for f in err.error.fields), (cmd, err.error)
        after = (await client.call(c.GetAccount(session_token=officer, auth_id="org-user1"))).account
        assert after == before
        assert not [e for e in await events(nc, wait=1) if e["subject"] in (c.PasswordChanged.SUBJECT, c.EmailChanged.SUBJECT)]
        await client.call(c.Login(auth_id="org-user1", password=ORG_PW))


async def test_unknown_id_and_wrong_password_get_byte_identical_replies(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        await active_org(client, clock, officer)
        unknown = await nc.request(
            c.Login.SUBJECT, c.Login(auth_id="nobody-here", password=ORG_PW).model_dump_json().encode(), timeout=10
        )
        wrong = await nc.request(
            c.Login.SUBJECT, c.Login(auth_id="org-user1", password="Wrong#999zz").model_dump_json().encode(), timeout=10
        )
        deregistered_like = await nc.request(
            c.Login.SUBJECT, c.Login(auth_id="x" * 40, password="p").model_dump_json().encode(), timeout=10
        )
    assert unknown.data == wrong.data == deregistered_like.data
    assert json.loads(unknown.data)["error"]["code"] == ErrorCode.LOGIN_FAILED


async def test_lockout_over_nats_says_until_when_and_an_officer_reset_lifts_it(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        await active_org(client, clock, officer)
        for _ in range(5):
            assert (
                await refused(client.call(c.Login(auth_id="org-user1", password="Wrong#999zz")))
            ).code == ErrorCode.LOGIN_FAILED
        locked = await refused(client.call(c.Login(auth_id="org-user1", password=ORG_PW)))
        assert locked.code == ErrorCode.ACCOUNT_LOCKED and japanese(locked.error.message)
        assert datetime.fromisoformat(locked.error.details["locked_until"]) == clock.now() + timedelta(hours=24)
        officer = await officer_again(client)
        await client.call(c.SetPassword(session_token=officer, auth_id="org-user1", new_password=NEW_PW))
        await client.call(c.Login(auth_id="org-user1", password=NEW_PW))
        (lock_event,) = [e for e in await events(nc) if e["subject"] == c.AccountLocked.SUBJECT]
        assert lock_event["auth_id"] == "org-user1"


async def test_expiry_warnings_go_once_per_password_and_day_and_not_after_a_change(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        session = await active_org(client, clock, officer)
        view = (await client.call(c.GetAccount(session_token=await officer_again(client), auth_id="org-user1"))).account
        expires = view.password_expires_at
        day_30 = expires - timedelta(days=30)
        clock.set(day_30)  # a job is run as of now (a future as-of is refused)
        first = await client.call(c.SendPasswordExpiryWarnings(as_of=day_30, days_before=[30, 7]))
        clock.set(day_30 + timedelta(hours=1))
        again = await client.call(c.SendPasswordExpiryWarnings(as_of=day_30 + timedelta(hours=1), days_before=[30, 7]))
        assert first.details["30"] >= 1 and again.changed == 0
        # The password is changed in time: no 7-day warning for the old one.
        clock.set(expires - timedelta(days=20))
        session = (await client.call(c.Login(auth_id="org-user1", password=ORG_PW))).session_token
        await client.call(c.ChangePassword(session_token=session, current_password=ORG_PW, new_password=NEW_PW))
        clock.set(expires - timedelta(days=7))
        seven = await client.call(c.SendPasswordExpiryWarnings(as_of=expires - timedelta(days=7), days_before=[7]))
        warned = [e for e in await events(nc) if e["subject"] == c.PasswordExpiryWarned.SUBJECT]
    assert [(e["auth_id"], e["days_before"]) for e in warned if e["auth_id"] == "org-user1"] == [("org-user1", 30)]
    assert datetime.fromisoformat(warned[0]["password_expires_at"]) == expires
    # The officer (same password day, never changed) is warned at 7 days; the organisation is not.
    assert seven.details["7"] == 1
    assert ("officer01", 7) in [(e["auth_id"], e["days_before"]) for e in warned]


async def test_commands_are_audited_to_the_audit_stream_without_passwords(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        await refused(client.call(c.Login(auth_id="officer01", password="Wrong#999zz")))
        await register(client, officer)
        js = nc.jetstream()
        sub = await js.pull_subscribe("ens.v1.audit.auth", stream="ENS_AUDIT")
        records = [json.loads(m.data) for m in await sub.fetch(50, timeout=5)]
    text = json.dumps(records, ensure_ascii=False)
    for secret in (OFFICER_PW, ORG_PW, "Wrong#999zz", officer):
        assert secret not in text
    by_command = {(r["command"], r["result"]) for r in records}
    assert ("CreateOfficer", "ok") in by_command and ("Login", "login_failed") in by_command
    reg = next(r for r in records if r["command"] == "RegisterAccount")
    assert reg["actor"] == "officer01" and reg["target"] == "org-user1" and reg["result"] == "ok"


async def test_notices_are_shown_at_login_while_in_force(nats_url, client, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        now = clock.now()
        shown = await client.call(
            c.PublishNotice(
                session_token=officer, title="メンテナンス", body="4月5日 2:00-4:00 停止します。", ends_at=now + timedelta(days=2)
            )
        )
        await client.call(c.PublishNotice(session_token=officer, title="予告", body="まだ", starts_at=now + timedelta(days=1)))
        bad = await refused(
            client.call(c.PublishNotice(session_token=officer, title="", body="x", ends_at=now - timedelta(days=1)))
        )
        assert {f.field for f in bad.error.fields} == {"title", "ends_at"}
        login = await client.call(c.Login(auth_id="officer01", password=OFFICER_PW))
        assert [n.title for n in login.notices] == ["メンテナンス"]
        clock.advance(days=1, minutes=1)
        titles = {n.title for n in (await client.call(c.ListNotices())).notices}
        assert titles == {"メンテナンス", "予告"}
        officer = (await client.call(c.Login(auth_id="officer01", password=OFFICER_PW))).session_token
        await client.call(c.WithdrawNotice(session_token=officer, notice_id=shown.notice.notice_id))
        assert [n.title for n in (await client.call(c.ListNotices())).notices] == ["予告"]


async def test_an_unknown_id_locks_like_a_real_one_so_the_sixth_try_reveals_nothing(nats_url, client, nc, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        await active_org(client, clock, officer)

        async def raw(auth_id: str, password: str) -> bytes:
            payload = c.Login(auth_id=auth_id, password=password).model_dump_json().encode()
            return (await nc.request(c.Login.SUBJECT, payload, timeout=10)).data

        for _ in range(5):
            assert await raw("org-user1", "Wrong#999zz") == await raw("no-such-id", "Wrong#999zz")
        known, unknown = await raw("org-user1", ORG_PW), await raw("no-such-id", ORG_PW)
        assert known == unknown and json.loads(known)["error"]["code"] == ErrorCode.ACCOUNT_LOCKED
        clock.advance(hours=24)
        assert json.loads(await raw("no-such-id", ORG_PW))["error"]["code"] == ErrorCode.LOGIN_FAILED
        await client.call(c.Login(auth_id="org-user1", password=ORG_PW))


async def test_oversized_or_malformed_ids_are_refused_cleanly_never_as_internal_errors(nats_url, client, clock):
    async with running(["auth"], nats_url, clock=clock):
        officer = await make_officer(client)
        huge = "A" * 20_000
        # Over the edge's bound (services/runtime/limits.py): refused before it is read, naming the field;
        # no auth ID that long can exist, so the answer tells nothing about which IDs do.
        too_long = await refused(client.call(c.Login(auth_id=huge, password=ORG_PW)))
        assert too_long.code == ErrorCode.VALIDATION and [f.field for f in too_long.error.fields] == ["auth_id"]
        assert (await refused(client.call(c.Login(auth_id="a.b>*c d", password=ORG_PW)))).code == ErrorCode.LOGIN_FAILED
        for cmd in (
            c.GetAccount(session_token=officer, auth_id=huge),
            c.GetAccount(session_token=officer, organisation_id=huge),
            c.Deregister(session_token=officer, auth_id=huge),
            c.ReissueAuthId(session_token=officer, organisation_id="x" * 5000),
        ):
            err = await refused(client.call(cmd))
            assert err.code in (ErrorCode.NOT_FOUND, ErrorCode.VALIDATION) and err.error.fields, cmd
        assert (await refused(client.call(c.SetPassword(session_token=officer, auth_id=huge, new_password=ORG_PW)))).code in (
            ErrorCode.NOT_FOUND,
            ErrorCode.VALIDATION,
        )
