"""The console's tests' world: the four services on a fake clock, a real SMTP sink, an officer,
an organisation with an active account and one filing whose mail has arrived."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest

from contracts import auth as a
from contracts import filing as f
from contracts.client import EnsClient
from contracts.notifier import DeliveryRecord, DeliveryStatus, QueryDeliveryLog
from contracts.organisations import OrganisationKind
from ens.embedded import MailSink
from services.console.app import Console, build
from services.console.settings import ConsoleSettings
from services.runtime.clock import FakeClock
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support.story import officer_and_active_account
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
OFFICER, OFFICER_PASSWORD = "officer01", "Officer#2027x"
ORG_ID, ORG_PASSWORD = "sakura-org1", "Secret#123abc"
ORG = a.Organisation(organisation_id="1000011000005", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社さくら")


@dataclass
class World:
    clock: FakeClock
    client: EnsClient
    sink: MailSink
    console: Console
    reception_number: str
    filing_mail: DeliveryRecord

    def sent(self, record: DeliveryRecord) -> EmailMessage:
        """The mail the SMTP sink received for a delivery record."""
        for mail in self.sink.mails:
            parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            if parsed["Message-ID"] == record.message_id:
                return parsed
        raise AssertionError(f"no mail {record.message_id} in the sink")

    async def add_officer(self, auth_id: str, password: str) -> None:
        await self.client.call(
            a.CreateOfficer(
                operator_token=TEST_OPERATOR_TOKEN,
                auth_id=auth_id,
                password=password,
                name="審査 花子",
                email=f"{auth_id}@example.go.jp",
            )
        )


async def sent_log(client: EnsClient, within: float = 20.0, **filters: str) -> list[DeliveryRecord]:
    """Bounded wait until every mail matching the filters has been sent."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        records = (await client.call(QueryDeliveryLog(**filters))).records  # type: ignore[arg-type]
        if records and all(r.status is DeliveryStatus.SENT for r in records):
            return records
        assert asyncio.get_running_loop().time() < deadline, records
        await asyncio.sleep(0.05)


@asynccontextmanager
async def world(
    monkeypatch: pytest.MonkeyPatch, nats_url: str, client: EnsClient, sink: MailSink, *, serve: bool = False
) -> AsyncIterator[World]:
    monkeypatch.setenv("ENS_SMTP_HOST", sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(sink.port))
    monkeypatch.setenv("ENS_SMTP_TIMEOUT_S", "5")
    monkeypatch.setenv("ENS_SCHEDULER_TRIGGERS", "false")
    clock = FakeClock(START)
    async with running(["auth", "filing", "notifier", "scheduler"], nats_url, clock=clock):
        await officer_and_active_account(
            client, clock, organisation=ORG, auth_id=ORG_ID, password=ORG_PASSWORD, email="tanto@sakura.example.jp"
        )
        me = (await client.call(a.Login(auth_id=ORG_ID, password=ORG_PASSWORD))).session_token
        person = f.Person(
            nationality="VNM",
            name_latin="NGUYEN VAN AN",
            sex=f.Sex.MALE,
            date_of_birth=date(1998, 4, 1),
            residence_card_number="AB12345678CD",
            event_date=date(2027, 3, 30),
        )
        filed = (
            await client.call(f.SubmitFiling(session_token=me, kind=f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE, persons=[person]))
        ).filing
        await client.call(a.Logout(session_token=me))
        records = await sent_log(client, reception_number=filed.reception_number)
        await sent_log(client, auth_id=ORG_ID)
        console = build(RuntimeSettings(nats_url=nats_url), ConsoleSettings(port=0, secure_cookie=serve), clock)
        if serve:  # a browser over http://127.0.0.1 keeps Secure cookies (a trustworthy origin); httpx does not
            await console.start()
        else:
            await console.connect()
        try:
            yield World(clock, client, sink, console, filed.reception_number, records[0])
        finally:
            await console.stop()
