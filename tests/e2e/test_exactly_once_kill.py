"""Exactly once across a crash: the service is SIGKILLed after a keyed command made its change
and before the reply was stored; the caller, who got no answer, retries with the same key once
the claim's lease has run out. The retry is answered as done, with the first copy's values, and
there is still one change, one event and one mail (runtime/idempotency.py: the change's own write
carries the request's mark; the reception number is reserved in the claim)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from contracts import auth as a
from contracts import filing as f
from contracts import subjects
from contracts.common import Event
from ens.embedded import die_with_parent
from services.runtime.clock import FakeClock
from tests.e2e.test_exactly_once import START, _is_reissue, settled
from tests.support.story import ORG, officer_and_active_account
from tests.support.suite import running

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID, ACCOUNT_PW = "sample-corp01", "Secret#123abc"


@pytest.fixture(autouse=True)
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    return mail_sink


async def crashing(service: str, command: str, nats_url: str, clock: FakeClock, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENS_NATS_URL": nats_url,
        "ENS_TEST_NOW": clock.now().isoformat(),
        "ENS_TEST_CRASH_COMMAND": command,
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / f"{service}-crash.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), service],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
    assert line.strip() == b"ready", (tmp_path / f"{service}-crash.log").read_text()
    return proc


async def events_of(nc, kind: type[Event]) -> int:
    info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM, subjects_filter=kind.SUBJECT)
    return int((info.state.subjects or {}).get(kind.SUBJECT, 0))


async def send_and_lose(nc, cmd) -> None:
    """Send the command as a client whose reply never comes: the service dies first."""
    with pytest.raises(Exception):  # noqa: B017 - no responders or a timeout: either way no answer
        await nc.request(cmd.SUBJECT, cmd.model_dump_json().encode(), timeout=5)


async def test_reissue_killed_after_its_change_and_retried_makes_one_change_one_event_one_mail(
    nats_url, nc, client, mail_sink, tmp_path
):
    clock = FakeClock(START)
    async with running(["notifier"], nats_url, clock=clock):
        async with running(["auth"], nats_url, clock=clock):
            officer = await officer_and_active_account(client, clock)
        await settled(nc, mail_sink, 1)
        mails_before = len(mail_sink.mails)
        cmd = a.ReissueAuthId(session_token=officer, organisation_id=ORG.organisation_id, request_id="reissue-kill-00001")
        proc = await crashing("auth", "ReissueAuthId", nats_url, clock, tmp_path)
        try:
            await send_and_lose(nc, cmd)
            assert await asyncio.to_thread(proc.wait, 30) == -9  # killed in the window, not before
        finally:
            proc.kill()
        clock.advance(timedelta(seconds=31))  # the dead copy's claim lease has run out
        async with running(["auth"], nats_url, clock=clock):
            reply = await client.call(cmd)  # the caller retries, same key
            assert reply.ok
            again = await client.call(cmd)
            assert again.ok
            await settled(nc, mail_sink, mails_before + 1)
            await asyncio.sleep(0.5)  # a second mail, if one were coming, would be on its way by now
            assert await events_of(nc, a.AuthIdReissued) == 1
            reissue_mails = [m for m in mail_sink.mails[mails_before:] if _is_reissue(m)]
            assert len(reissue_mails) == 1


async def test_a_filing_killed_after_it_was_stored_and_retried_is_one_filing_with_one_number(
    nats_url, nc, client, mail_sink, tmp_path
):
    clock = FakeClock(START)
    async with running(["auth", "notifier"], nats_url, clock=clock):
        await officer_and_active_account(client, clock)
        org = (await client.call(a.Login(auth_id=ACCOUNT_ID, password=ACCOUNT_PW))).session_token
        await settled(nc, mail_sink, 1)
        mails_before = len(mail_sink.mails)
        person = f.Person(
            nationality="VNM",
            name_latin="NGUYEN VAN AN",
            sex=f.Sex.MALE,
            date_of_birth=date(1998, 4, 1),
            residence_card_number="AB12345678CD",
        )
        cmd = f.SubmitFiling(
            session_token=org, kind=f.FilingKind.ACCEPTANCE_PERIODIC_REPORT, persons=[person], request_id="submit-kill-000001"
        )
        proc = await crashing("filing", "SubmitFiling", nats_url, clock, tmp_path)
        try:
            await send_and_lose(nc, cmd)
            assert await asyncio.to_thread(proc.wait, 30) == -9
        finally:
            proc.kill()
        clock.advance(timedelta(seconds=31))
        async with running(["filing"], nats_url, clock=clock):
            first = await client.call(cmd)
            again = await client.call(cmd)
            assert first.filing.reception_number == again.filing.reception_number
            listed = await client.call(f.ListFilings(session_token=org))
            assert [row.reception_number for row in listed.items] == [first.filing.reception_number]
            await settled(nc, mail_sink, mails_before + 1)
            await asyncio.sleep(0.5)
            assert await events_of(nc, f.FilingSubmitted) == 1
            assert len(mail_sink.mails) == mails_before + 1
