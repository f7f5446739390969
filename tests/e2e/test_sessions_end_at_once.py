"""Sessions end for every service at once (SPEC §1): a SubmitFiling sent right after Logout, and
right after an officer's Deregister, is refused as unauthenticated by filing and sends no mail."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from contracts import auth as a
from contracts import filing as f
from contracts.client import CommandRefused
from contracts.common import ErrorCode
from tests.support.story import officer_and_active_account
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
NEXT_DAY = datetime(2027, 4, 2, 0, 0, tzinfo=UTC)  # 09:00 JST
PASSWORD = "Secret#123abc"
PERSON = f.Person(
    nationality="VNM",
    name_latin="NGUYEN VAN AN",
    sex=f.Sex.MALE,
    date_of_birth=date(1998, 4, 1),
    residence_card_number="AB12345678CD",
    event_date=date(2027, 3, 31),
)


@pytest.fixture(autouse=True)
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    return mail_sink


async def submit(client, session: str) -> f.FilingAccepted:
    return await client.call(
        f.SubmitFiling(session_token=session, kind=f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE, persons=[PERSON])
    )


async def test_a_filing_sent_right_after_logout_or_deregistration_is_refused_and_mails_nothing(nats_url, nc, client, mail_sink):
    from services.runtime.clock import FakeClock

    clock = FakeClock(START)
    async with running(["auth", "filing", "notifier"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock, NEXT_DAY)

        session = (await client.call(a.Login(auth_id="sample-corp01", password=PASSWORD))).session_token
        accepted = await submit(client, session)  # warms any cache filing might keep
        await client.call(a.Logout(session_token=session))
        with pytest.raises(CommandRefused) as after_logout:
            await submit(client, session)
        assert after_logout.value.code == ErrorCode.UNAUTHENTICATED

        session = (await client.call(a.Login(auth_id="sample-corp01", password=PASSWORD))).session_token
        await submit(client, session)
        await client.call(a.Deregister(session_token=officer, auth_id="sample-corp01"))
        with pytest.raises(CommandRefused) as after_deregistration:
            await submit(client, session)
        assert after_deregistration.value.code == ErrorCode.UNAUTHENTICATED

        # Exactly the two accepted filings were mailed (plus the registration mail), nothing more.
        js = nc.jetstream()
        for _ in range(400):
            info = await js.consumer_info("ENS_EVENTS", "notifier")
            if info.num_pending == 0 and info.num_ack_pending == 0 and len(mail_sink.mails) >= 3:
                break
            await asyncio.sleep(0.05)
    to_company = [m for m in mail_sink.mails if "tanto@example.jp" in m.rcpt_tos]
    assert len(to_company) == 3, [m.parsed()["Subject"] for m in to_company]  # registration + 2 filings
    assert accepted.filing.reception_number
