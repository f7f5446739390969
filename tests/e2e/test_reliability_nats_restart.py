"""Nothing is lost across a restart of NATS: mails for events before, during and after it
arrive exactly once (real nats-server restarted on the same port and store, real SMTP sink)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from email.header import decode_header, make_header

from contracts import auth
from contracts.client import CommandRefused
from contracts.organisations import OrganisationKind
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support.suite import running

ORGS = ["9010401012345", "4010001000036", "1000011000005"]


def _subject(mail) -> str:
    return str(make_header(decode_header(mail.parsed().get("Subject", ""))))


async def _retry(fn, attempts: int = 80):
    for i in range(attempts):
        try:
            return await fn()
        except CommandRefused as exc:
            if exc.code not in ("unavailable", "internal") or i == attempts - 1:
                raise
            await asyncio.sleep(0.25)


async def test_mails_survive_a_nats_restart_exactly_once(nats_server, client, mail_sink, clock, monkeypatch):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    async with running(["auth", "notifier"], nats_server.url, clock=clock):
        await client.call(
            auth.CreateOfficer(
                operator_token=TEST_OPERATOR_TOKEN,
                auth_id="officer01",
                password="Officer#2027pw",
                name="職員",
                email="o@example.jp",
            )
        )
        token = (await client.call(auth.Login(auth_id="officer01", password="Officer#2027pw"))).session_token
        for i, org in enumerate(ORGS):
            await client.call(
                auth.RegisterAccount(
                    session_token=token,
                    organisation=auth.Organisation(
                        organisation_id=org, kind=OrganisationKind.ACCEPTING_ORGANISATION, name=f"機関{i}"
                    ),
                    auth_id=f"restart-{i:02d}",
                    initial_password="Start#Pass2027",
                    email=f"org{i}@example.jp",
                )
            )
        clock.advance(timedelta(days=1, hours=1))
        await client.call(auth.ActivateDueRegistrations(as_of=clock.now()))
        await mail_sink.wait_for(len(ORGS), timeout=30)  # mail 1 for each
        token = (await client.call(auth.Login(auth_id="officer01", password="Officer#2027pw"))).session_token

        reissues = 0
        for org in ORGS:
            await client.call(auth.ReissueAuthId(session_token=token, organisation_id=org))
            reissues += 1
        nats_server.restart()  # same port, same store
        token = (await _retry(lambda: client.call(auth.Login(auth_id="officer01", password="Officer#2027pw")))).session_token
        for org in ORGS:
            await _retry(lambda org=org: client.call(auth.ReissueAuthId(session_token=token, organisation_id=org)))
            reissues += 1

        expected = len(ORGS) + reissues
        await mail_sink.wait_for(expected, timeout=60)
        await asyncio.sleep(0.5)  # a late duplicate would arrive now
    ids = Counter(m.parsed()["Message-ID"] for m in mail_sink.mails)
    assert len(mail_sink.mails) == expected, [_subject(m) for m in mail_sink.mails]
    assert all(c == 1 for c in ids.values())
    assert sum("再通知" in _subject(m) for m in mail_sink.mails) == reissues
