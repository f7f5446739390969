"""The scheduler driving the REAL auth and notifier services over a real nats-server and a real
SMTP sink, time moved by one FakeClock: next-day activation at 09:00 JST (mail 1), password-expiry
warnings 30 and 7 days before (mail 5), expiry after a year unused, two replicas, and a restart
after 09:00. Outcomes are read twice: from the domain events in ENS_EVENTS and from the mails."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections import Counter
from contextlib import AsyncExitStack
from datetime import date, datetime, timedelta

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts import auth as c
from contracts.client import CommandRefused
from contracts.common import ErrorCode
from contracts.organisations import OrganisationKind
from ens.suite import build_services
from services.runtime.clock import JST, FakeClock, business_day
from services.runtime.settings import RuntimeSettings
from services.scheduler.app import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support.suite import running

OFFICER_PW = "Officer#2027x"
ORG_PW = "Secret#123abc"
NEW_PW = "Changed#456def"
CORPS = ["1180301018771", "2180301018770", "3180301018778", "4180301018777", "5180301018776", "6180301018775"]
D = date(2028, 4, 3)  # the year after has no 29 February, so "a year" is 365 days: D+335 is 30 days before D+365


def jst(day: date, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=JST)


def scheduler_job(name: str):
    """The run of one job among a tick's runs."""

    def pick(runs: list) -> object:
        (run,) = [r for r in runs if r.job == name]
        return run

    return pick


def scheduler(nats_url: str, clock: FakeClock) -> SchedulerService:
    # The APScheduler triggers follow the wall clock; these tests move time by hand instead.
    # Filing is not deployed in most of these tests: its jobs are left to the tick after a moment.
    return SchedulerService(RuntimeSettings(nats_url=nats_url), SchedulerSettings(triggers=False, catch_up_wait_s=1), clock)


def auth_and_notifier(nats_url: str, clock: FakeClock) -> list:
    return build_services(["auth", "notifier"], RuntimeSettings(nats_url=nats_url), clock)


@pytest.fixture(autouse=True)
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    monkeypatch.setenv("ENS_SMTP_TIMEOUT_S", "5")
    return mail_sink


MAIL_KINDS = {"利用者情報登録完了": 1, "パスワード変更": 4, "パスワード再設定": 4, "パスワード有効期限切れ間近": 5}


async def mails_delivered(nc, sink, within: float = 20.0) -> Counter:
    """(recipient, mail number) of every mail the sink received, once the notifier has handled
    every event in the stream (its durable consumer has nothing pending or unacknowledged)."""
    js = nc.jetstream()
    deadline = asyncio.get_running_loop().time() + within
    while True:
        info = await js.consumer_info("ENS_EVENTS", "notifier")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"notifier still has {info.num_pending} pending, {info.num_ack_pending} unacked")
        await asyncio.sleep(0.05)
    out: Counter = Counter()
    for mail in sink.mails:
        subject = str(email.message_from_bytes(mail.data, policy=email.policy.default)["Subject"])
        kind = next((n for text, n in MAIL_KINDS.items() if text in subject), subject)
        for rcpt in mail.rcpt_tos:
            out[(rcpt, kind)] += 1
    return out


def organisations_only(mails: Counter) -> Counter:
    return Counter({k: v for k, v in mails.items() if k[0].startswith("org")})


async def officer_session(client, auth_id: str = "officer01") -> str:
    await client.call(
        c.CreateOfficer(
            operator_token=TEST_OPERATOR_TOKEN,
            auth_id=auth_id,
            password=OFFICER_PW,
            name="審査 太郎",
            email="officer@example.go.jp",
        )
    )
    return await login(client, auth_id, OFFICER_PW)


async def login(client, auth_id: str, password: str) -> str:
    return (await client.call(c.Login(auth_id=auth_id, password=password))).session_token


async def register(client, officer: str, n: int) -> None:
    await client.call(
        c.RegisterAccount(
            session_token=officer,
            organisation=c.Organisation(
                organisation_id=CORPS[n], kind=OrganisationKind.ACCEPTING_ORGANISATION, name=f"株式会社テスト{n}"
            ),
            auth_id=f"org-user{n}",
            initial_password=ORG_PW,
            email=f"org{n}@example.jp",
        )
    )


async def status_of(client, officer: str, n: int) -> str:
    return (await client.call(c.GetAccount(session_token=officer, auth_id=f"org-user{n}"))).account.status


async def auth_events(nc, name: str, expect: int | None = None, within: float = 10.0) -> list[dict]:
    """Every event `name` of auth in ENS_EVENTS; with `expect`, waits (bounded) for the relay to publish that many."""
    js = nc.jetstream()
    subject = getattr(c, name).SUBJECT
    deadline = asyncio.get_running_loop().time() + within
    while expect is not None and asyncio.get_running_loop().time() < deadline:
        info = await js.stream_info("ENS_EVENTS", subjects_filter=subject)
        if (info.state.subjects or {}).get(subject, 0) >= expect:
            break
        await asyncio.sleep(0.05)
    sub = await js.pull_subscribe(subject, stream="ENS_EVENTS", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    out: list[dict] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(256, timeout=0.5)
            except Exception:
                break
            out.extend(json.loads(m.data) for m in msgs)
    finally:
        await sub.unsubscribe()
    return out


def on_day(event: dict) -> date:
    return business_day(datetime.fromisoformat(event["meta"]["occurred_at"]))


async def test_a_year_of_days_activation_at_nine_the_next_day_warnings_30_and_7_days_before_and_expiry(
    nats_url, client, nc, smtp_env
):
    clock = FakeClock(jst(D, 10))
    sched = scheduler(nats_url, clock)
    async with running(None, nats_url, clock, services=[*auth_and_notifier(nats_url, clock), sched]):
        await sched.caught_up()  # D's own 09:00 run (nothing pending yet)
        officer = await officer_session(client)
        await register(client, officer, 0)  # never used after activation
        await register(client, officer, 1)  # logs in and changes its password

        clock.set(jst(D + timedelta(days=1), 8, 59))
        await sched.runner.tick()
        officer = await login(client, "officer01", OFFICER_PW)
        assert await status_of(client, officer, 0) == "pending"  # not before 09:00 on D+1
        refused = await _refused(client.call(c.Login(auth_id="org-user0", password=ORG_PW)))
        assert refused.code == ErrorCode.REGISTRATION_PENDING

        # The days around every rule's edge (each a full 09:00 run of all jobs); the days in
        # between have nothing due, which the exact-day assertions below would catch anyway.
        for offset in (1, 2, 100, 200, 300, 334, 335, 336, 357, 358, 359, 364, 365, 366, 367):
            day = D + timedelta(days=offset)
            clock.set(jst(day))
            await sched.runner.tick()
            if offset == 1:
                assert await status_of(client, await login(client, "officer01", OFFICER_PW), 0) == "active"
                clock.set(jst(day, 12))
                await login(client, "org-user1", ORG_PW)
            if offset == 100:
                clock.set(jst(day, 12))
                session = await login(client, "org-user1", ORG_PW)
                await client.call(c.ChangePassword(session_token=session, current_password=ORG_PW, new_password=NEW_PW))
            if offset == 300:
                clock.set(jst(day, 12))
                await login(client, "org-user1", NEW_PW)  # in use: must not expire
                await officer_session(client, "officer02")  # officer01's own password runs out on D+365

        officer = await login(client, "officer02", OFFICER_PW)
        activated = await auth_events(nc, "AccountActivated", expect=2)
        warned = [e for e in await auth_events(nc, "PasswordExpiryWarned", expect=4) if e["auth_id"].startswith("org-")]
        expired = [e for e in await auth_events(nc, "AccountExpired", expect=2) if e["auth_id"].startswith("org-")]
        assert await status_of(client, officer, 0) == "expired" and await status_of(client, officer, 1) == "active"
        mails = organisations_only(await mails_delivered(nc, smtp_env))

    assert mails == Counter(
        {("org0@example.jp", 1): 1, ("org1@example.jp", 1): 1, ("org1@example.jp", 4): 1, ("org0@example.jp", 5): 2}
    )

    assert sorted((e["auth_id"], on_day(e)) for e in activated) == [
        ("org-user0", D + timedelta(days=1)),
        ("org-user1", D + timedelta(days=1)),
    ]
    assert datetime.fromisoformat(activated[0]["meta"]["occurred_at"]) == jst(D + timedelta(days=1))
    # Password set on D (registration): warned on D+335 and D+358, and never for the changed one.
    assert sorted((e["auth_id"], e["days_before"], on_day(e)) for e in warned) == [
        ("org-user0", 7, D + timedelta(days=358)),
        ("org-user0", 30, D + timedelta(days=335)),
    ]
    # Unused since its activation on D+1: valid through D+366 (a year counted in days, the first
    # day not counted), expired by the first run after it, on D+367.
    assert [(e["auth_id"], on_day(e)) for e in expired] == [("org-user0", D + timedelta(days=367))]


async def test_two_scheduler_replicas_over_five_days_mail_each_account_once(nats_url, client, nc, smtp_env):
    clock = FakeClock(jst(D - timedelta(days=331), 10))
    a, b = scheduler(nats_url, clock), scheduler(nats_url, clock)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(None, nats_url, clock, services=auth_and_notifier(nats_url, clock)))
        await stack.enter_async_context(running(None, nats_url, clock, services=[a]))
        await stack.enter_async_context(running(None, nats_url, clock, services=[b]))
        await asyncio.gather(a.caught_up(), b.caught_up())
        # Its password is set on D-331 and expires a calendar year later (29 February 2028 lies
        # between), so its 30-day warning is due on D+5, the last of the five days.
        await register(client, await officer_session(client), 5)
        clock.set(jst(D - timedelta(days=330)))
        await asyncio.gather(a.runner.tick(), b.runner.tick())
        for n in range(5):
            day = D + timedelta(days=n)
            clock.set(jst(day, 10))
            await register(client, await login(client, "officer01", OFFICER_PW), n)  # effective the next day
            clock.set(jst(day + timedelta(days=1)))
            runs = await asyncio.gather(a.runner.tick(), b.runner.tick(), b.runner.tick())
            done = Counter(r.job for batch in runs for r in batch if r.ran and r.job != "purge_filings")
            assert done == Counter(["activate_registrations", "password_expiry_warnings", "expire_accounts"])
            clock.set(jst(day + timedelta(days=1), 9, 5))  # the periodic retry tick of both replicas
            await asyncio.gather(a.runner.tick(), b.runner.tick())
        activated = await auth_events(nc, "AccountActivated", expect=6)
        warned = await auth_events(nc, "PasswordExpiryWarned", expect=2)  # org-user5 and officer01
        mails = organisations_only(await mails_delivered(nc, smtp_env))
    assert mails == Counter({(f"org{n}@example.jp", 1): 1 for n in range(6)} | {("org5@example.jp", 5): 1})
    assert Counter((e["auth_id"], on_day(e)) for e in activated) == Counter(
        {(f"org-user{n}", D + timedelta(days=n + 1)): 1 for n in range(5)} | {("org-user5", D - timedelta(days=330)): 1}
    )
    assert [(e["auth_id"], e["days_before"], on_day(e)) for e in warned if e["auth_id"].startswith("org-")] == [
        ("org-user5", 30, date(2028, 5, 8) - timedelta(days=30))
    ]
    assert date(2028, 5, 8) - timedelta(days=30) == D + timedelta(days=5)


async def test_a_scheduler_stopped_over_nine_and_restarted_at_ten_activates_and_mails_once(nats_url, client, nc, smtp_env):
    clock = FakeClock(jst(D, 10))
    async with running(None, nats_url, clock, services=auth_and_notifier(nats_url, clock)):
        first = scheduler(nats_url, clock)
        async with running(None, nats_url, clock, services=[first]):
            await first.caught_up()
            await register(client, await officer_session(client), 0)
            clock.set(jst(D + timedelta(days=1), 8, 30))
            await first.runner.tick()
        officer = await login(client, "officer01", OFFICER_PW)
        assert await status_of(client, officer, 0) == "pending"  # stopped at 08:30, down over 09:00
        assert organisations_only(await mails_delivered(nc, smtp_env)) == Counter()

        clock.set(jst(D + timedelta(days=1), 10))
        back = scheduler(nats_url, clock)
        async with running(None, nats_url, clock, services=[back]):
            caught = {r.job: r for r in await back.caught_up()}
        assert caught["activate_registrations"].ran and caught["activate_registrations"].changed == 1
        assert await status_of(client, await login(client, "officer01", OFFICER_PW), 0) == "active"

        clock.set(jst(D + timedelta(days=1), 11))
        again = scheduler(nats_url, clock)
        async with running(None, nats_url, clock, services=[again]):
            assert not any(r.ran for r in await again.caught_up())
        activated = await auth_events(nc, "AccountActivated", expect=1)
        mails = organisations_only(await mails_delivered(nc, smtp_env))
    assert mails == Counter({("org0@example.jp", 1): 1})
    assert [(e["auth_id"], datetime.fromisoformat(e["meta"]["occurred_at"])) for e in activated] == [
        ("org-user0", jst(D + timedelta(days=1), 10))
    ]


async def _refused(coro) -> CommandRefused:
    with pytest.raises(CommandRefused) as err:
        await coro
    return err.value


async def test_the_nightly_purge_deletes_a_filing_a_year_after_it_became_final_through_the_real_filing_service(nats_url, client):
    from contracts import filing as f

    clock = FakeClock(jst(D, 10))
    sched = scheduler(nats_url, clock)
    auth_and_filing = build_services(["auth", "filing"], RuntimeSettings(nats_url=nats_url), clock)
    async with running(None, nats_url, clock, services=[*auth_and_filing, sched]):
        await sched.caught_up()
        await register(client, await officer_session(client), 0)
        clock.set(jst(D + timedelta(days=1)))
        await sched.runner.tick()
        clock.set(jst(D + timedelta(days=1), 10))
        session = await login(client, "org-user0", ORG_PW)
        person = f.Person(
            nationality="VNM",
            name_latin="NGUYEN VAN AN",
            sex=f.Sex.MALE,
            date_of_birth=date(1998, 4, 1),
            residence_card_number="AB12345678CD",
            event_date=date(2028, 3, 1),
        )
        submitted = await client.call(
            f.SubmitFiling(session_token=session, kind=f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE, persons=[person])
        )
        number = submitted.filing.reception_number
        await client.call(f.WithdrawFiling(session_token=session, reception_number=number, based_on_version=1))  # final now

        # No tick for a year: the first ones also catch up the other jobs' missed days (issue 15).
        purge = scheduler_job("purge_filings")
        clock.set(jst(D + timedelta(days=366), 3))  # 365 days after 10:00 on D+1 is not over yet
        early = purge(await sched.runner.tick())
        clock.set(jst(D + timedelta(days=367), 3))
        due = purge(await sched.runner.tick())
        clock.set(jst(D + timedelta(days=367), 4))
        again = purge(await sched.runner.tick())
        officer = await officer_session(client, "officer02")
        gone = await _refused(client.call(f.GetFiling(session_token=officer, reception_number=number)))

    assert early.job == "purge_filings" and early.status == "done" and (early.processed, early.changed) == (1, 0)
    assert due.status == "done" and (due.processed, due.changed) == (1, 1)
    assert not again.ran
    assert gone.code == ErrorCode.NOT_FOUND
