"""The nine mail types made by the REAL auth and filing services: an organisation's journey
through their contracts over a real nats-server, each mail read back from a real SMTP sink over
TCP, and the helpdesk's delivery log for the account and for the filing."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts import auth as a
from contracts import filing as f
from contracts.notifier import DeliveryStatus, MailType, QueryDeliveryLog
from contracts.organisations import OrganisationKind
from ens.suite import build_services
from services.runtime.clock import FakeClock
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
NEXT_DAY_0900_JST = datetime(2027, 4, 2, 0, 0, tzinfo=UTC)
PASSWORD, NEW_PASSWORD = "Secret#123abc", "Changed#456def"
SCHOOL = a.Organisation(organisation_id="SCHOOL-N", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="なのはな日本語学院")


@pytest.fixture(autouse=True)
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    monkeypatch.setenv("ENS_SMTP_TIMEOUT_S", "5")
    return mail_sink


async def all_handled(nc, within: float = 20.0) -> None:
    """Bounded wait until the notifier's consumer has nothing pending or unacknowledged."""
    js = nc.jetstream()
    deadline = asyncio.get_running_loop().time() + within
    while True:
        info = await js.consumer_info("ENS_EVENTS", "notifier")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, info
        await asyncio.sleep(0.05)


async def test_an_organisations_journey_gets_each_of_the_nine_mails_once(nats_url, nc, client, mail_sink):
    clock = FakeClock(START)
    services = build_services(["auth", "filing", "notifier"], RuntimeSettings(nats_url=nats_url), clock)
    async with running(None, nats_url, clock=clock, services=services):
        await client.call(
            a.CreateOfficer(
                operator_token=TEST_OPERATOR_TOKEN,
                auth_id="officer01",
                password="Officer#2027x",
                name="審査 太郎",
                email="officer@example.go.jp",
            )
        )
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        await client.call(
            a.RegisterAccount(
                session_token=officer,
                organisation=SCHOOL,
                auth_id="nanohana-1",
                initial_password=PASSWORD,
                email="first@school.example.jp",
            )
        )
        clock.set(NEXT_DAY_0900_JST)
        await client.call(a.ActivateDueRegistrations(as_of=clock.now()))  # mail 1
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        me = (await client.call(a.Login(auth_id="nanohana-1", password=PASSWORD))).session_token

        person = f.Person(
            nationality="VNM",
            name_latin="NGUYEN VAN AN",
            sex=f.Sex.MALE,
            date_of_birth=date(1998, 4, 1),
            residence_card_number="AB12345678CD",
        )
        filed = (
            await client.call(f.SubmitFiling(session_token=me, kind=f.FilingKind.SCHOOL_PERIODIC_REPORT, persons=[person]))
        ).filing  # mail 6
        returned = (
            await client.call(
                f.ReturnFiling(
                    session_token=officer,
                    reception_number=filed.reception_number,
                    based_on_version=filed.version,
                    reasons=["在籍者数を確認してください。"],
                )
            )
        ).filing  # mail 9
        fixed = (
            await client.call(
                f.ChangeFiling(
                    session_token=me, reception_number=filed.reception_number, based_on_version=returned.version, persons=[person]
                )
            )
        ).filing  # mail 7
        await client.call(
            f.WithdrawFiling(session_token=me, reception_number=filed.reception_number, based_on_version=fixed.version)
        )  # mail 8

        await client.call(a.ChangePassword(session_token=me, current_password=PASSWORD, new_password=NEW_PASSWORD))  # 4
        await client.call(a.ChangeEmail(session_token=me, new_email="second@school.example.jp"))  # 3 and 3'
        await client.call(a.ReissueAuthId(session_token=officer, organisation_id=SCHOOL.organisation_id))  # 2
        account = (await client.call(a.GetAccount(session_token=officer, auth_id="nanohana-1"))).account
        clock.set(account.password_expires_at - timedelta(days=30))  # a job runs as of now, never a future day
        await client.call(a.SendPasswordExpiryWarnings(as_of=clock.now(), days_before=[30]))  # mail 5

        await all_handled(nc)
        by_account = (await client.call(QueryDeliveryLog(auth_id="nanohana-1"))).records
        by_filing = (await client.call(QueryDeliveryLog(reception_number=filed.reception_number))).records

    got = Counter()
    for mail in mail_sink.mails:
        parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
        got[(MailType(parsed["X-ENS-Mail-Type"]), mail.rcpt_tos[0])] += 1
        assert "送信専用" in parsed.get_body(("plain",)).get_content()
    first, second = "first@school.example.jp", "second@school.example.jp"
    assert got == Counter(
        {
            (MailType.REGISTRATION_COMPLETE, first): 1,
            (MailType.FILING_SUBMITTED, first): 1,
            (MailType.FIX_REQUESTED, first): 1,
            (MailType.FILING_CHANGED, first): 1,
            (MailType.FILING_WITHDRAWN, first): 1,
            (MailType.PASSWORD_CHANGED, first): 1,
            (MailType.EMAIL_CHANGED, second): 1,
            (MailType.EMAIL_CHANGED_NOTICE, first): 1,
            (MailType.AUTH_ID_REISSUE, second): 1,
            (MailType.PASSWORD_EXPIRY_SOON, second): 1,
            # The officer's password, set a day earlier, passed its 30-day day unwarned: caught up once.
            (MailType.PASSWORD_EXPIRY_SOON, "officer@example.go.jp"): 1,
        }
    )
    assert len(by_account) == 10 and all(r.status == DeliveryStatus.SENT for r in by_account)
    assert {r.mail_type for r in by_filing} == {
        MailType.FILING_SUBMITTED,
        MailType.FIX_REQUESTED,
        MailType.FILING_CHANGED,
        MailType.FILING_WITHDRAWN,
    }
