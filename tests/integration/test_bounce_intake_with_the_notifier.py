"""The intake as operators run it and with the real notifier: `ens run bounces` starts on its own
(and refuses to start without the bounce domain, in one line), and bounces of mails the notifier
really sent reach its delivery log: hard ones mark the mail `bounced` once however often the
report comes, a soft one leaves it `sent`; a bounce taken while the notifier is down is answered
451 and recorded when the MTA tries again; one for no mail of ours changes nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import aiosmtplib
import pytest

from contracts.client import EnsClient
from contracts.common import Event
from contracts.notifier import DeliveryRecord, DeliveryStatus, MailStatus, MailType, QueryDeliveryLog
from ens.embedded import MailSink, free_port
from services.bounces.app import build
from services.bounces.settings import BouncesSettings
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from services.runtime.settings import RuntimeSettings
from tests.support import bus
from tests.support.suite import running

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "bounces"
DOMAIN = "bounces.ens.example.jp"


async def test_ens_run_bounces_listens_on_its_port_and_stops_on_sigterm(nats_url: str) -> None:
    port = free_port()
    env = {**os.environ, "ENS_NATS_URL": nats_url, "ENS_NOTIFIER_BOUNCE_DOMAIN": DOMAIN, "ENS_BOUNCES_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ens", "run", "bounces", env=env, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        lines: list[bytes] = []
        while b"ens: ready" not in (line := await asyncio.wait_for(proc.stdout.readline(), 60)):
            assert line, f"ens run bounces ended: {b''.join(lines).decode()}"
            lines.append(line)
        assert f"smtp://127.0.0.1:{port} for {DOMAIN}".encode() in b"".join(lines)
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
        greeting = await client.connect()
        assert greeting.code == 220
        await client.quit()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_ens_run_bounces_without_the_bounce_domain_stops_with_one_line(nats_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ENS_NOTIFIER_BOUNCE_DOMAIN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ens",
        "run",
        "bounces",
        env={**env, "ENS_NATS_URL": nats_url},
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert err.decode().strip() == (
        "ens: setting ENS_NOTIFIER_BOUNCE_DOMAIN: is required by the bounce intake (the domain it receives)"
    )


async def test_bounces_of_mails_the_notifier_sent_reach_its_delivery_log_once(
    nats_url: str, mail_sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    monkeypatch.setenv("ENS_NOTIFIER_BOUNCE_DOMAIN", DOMAIN)
    events = [password_changed(f"user{n}@example.co.jp") for n in range(2)]
    hard, soft = (mails_for(e)[0] for e in events)
    admin = await bus.connect_as(nats_url, "admin")
    operator = await bus.connect_as(nats_url, "operator")
    client = EnsClient(operator, timeout=10)
    intake = build(RuntimeSettings(nats_url=nats_url), BouncesSettings(port=0))
    try:
        async with running(["notifier"], nats_url):
            for event in events:
                await admin.jetstream().publish(
                    event.SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.meta.event_id}
                )
            sent = {m.mail_from: m.parsed()["Message-ID"] for m in await mail_sink.wait_for(2)}
            await intake.start()
            postfix = fill("postfix", "3f2a9c41d0b7e8a65c14f0e2d9b3a871", hard.mail_id, sent, hard.recipient)
            delayed = fill("postfix_delayed", "9b81e0f4c2a7d3561e08b4f92c7a5d30", soft.mail_id, sent, soft.recipient)
            answers = [await send(intake.port, data, rcpt) for data, rcpt in (postfix, postfix, delayed)]
            hard_record = await record(client, hard.mail_id)
            soft_record = await record(client, soft.mail_id)
    finally:
        await intake.stop()
        await admin.close()
        await operator.close()
    assert answers == [250, 250, 250]
    assert intake.counts == {"recorded_hard": 2, "recorded_soft": 1}
    assert hard_record.status == DeliveryStatus.BOUNCED
    assert hard_record.bounce_status_code == "5.1.1"
    assert hard_record.bounce_diagnostic and "User unknown in virtual mailbox table" in hard_record.bounce_diagnostic
    assert hard_record.bounce_reporting_mta == "mx1.example.co.jp"
    assert [n.status for n in hard_record.history].count(MailStatus.BOUNCED) == 1  # the report came twice
    assert soft_record.status == DeliveryStatus.SENT
    assert any(n.status_code == "4.4.1" for n in soft_record.history)


async def test_a_bounce_taken_while_the_notifier_is_down_is_answered_451_and_recorded_on_the_retry(
    nats_url: str, mail_sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    monkeypatch.setenv("ENS_NOTIFIER_BOUNCE_DOMAIN", DOMAIN)
    event = password_changed("down@example.co.jp")
    (mail,) = mails_for(event)
    admin = await bus.connect_as(nats_url, "admin")
    operator = await bus.connect_as(nats_url, "operator")
    intake = build(RuntimeSettings(nats_url=nats_url), BouncesSettings(port=0, record_timeout_s=0.5))
    try:
        async with running(["notifier"], nats_url):
            await admin.jetstream().publish(
                event.SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.meta.event_id}
            )
            sent = {m.mail_from: m.parsed()["Message-ID"] for m in await mail_sink.wait_for(1)}
        await intake.start()
        report = fill("gmail", "e41b7a9d03c25f68b1e9d4a7c0f3b2e6", mail.mail_id, sent, mail.recipient)
        while_down = await send(intake.port, *report)
        async with running(["notifier"], nats_url):
            on_retry = await send(intake.port, *report)
            found = await record(EnsClient(operator, timeout=10), mail.mail_id)
    finally:
        await intake.stop()
        await admin.close()
        await operator.close()
    assert (while_down, on_retry) == (451, 250)
    assert intake.counts == {"deferred": 1, "recorded_hard": 1}
    assert found.status == DeliveryStatus.BOUNCED and found.bounce_status_code == "5.1.1"


async def test_a_bounce_for_no_mail_of_ours_is_answered_250_and_changes_nothing(nats_url: str) -> None:
    intake = build(RuntimeSettings(nats_url=nats_url), BouncesSettings(domain=DOMAIN, port=0))
    try:
        async with running(["notifier"], nats_url):
            await intake.start()
            # A Message-ID of our form, but of a mail this installation never sent.
            qmail = (FIXTURES / "qmail.eml").read_text().replace("\n", "\r\n").encode()
            answer = await send(intake.port, qmail, f"bounce@{DOMAIN}")
    finally:
        await intake.stop()
    assert answer == 250
    assert intake.counts == {"not_ours": 1}


def password_changed(email: str) -> Event:
    base = sample_event(MailType.PASSWORD_CHANGED)
    meta = base.meta.model_copy(update={"event_id": f"{base.meta.event_id}.{uuid.uuid4().hex[:8]}"})
    return base.model_copy(update={"meta": meta, "email": email})


def fill(name: str, old_id: str, mail_id: str, sent: dict[str, str], recipient: str) -> tuple[bytes, str]:
    """A fixture made a bounce of one mail the notifier sent: its envelope sender, Message-ID, recipient."""
    envelope = f"bounce+{mail_id}@{DOMAIN}"
    text = (FIXTURES / f"{name}.eml").read_text()
    text = text.replace(f"<{old_id}.a1b2c3d4@ens.example.jp>", sent[envelope]).replace(old_id, mail_id)
    old_recipient = {"postfix": "tanaka@example.co.jp", "postfix_delayed": "suzuki@school.example.ne.jp"}.get(
        name, "le.van.an.ssw@gmail.com"
    )
    text = text.replace(old_recipient, recipient)
    return text.replace("\n", "\r\n").encode(), envelope


async def send(port: int, data: bytes, rcpt: str) -> int:
    """One transaction with a null sender, as an MTA returns a bounce: the answer to the final dot."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.ehlo()
        await client.mail("")
        await client.rcpt(rcpt)
        try:
            return (await client.data(data)).code
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code
    finally:
        await client.quit()


async def record(client: EnsClient, mail_id: str) -> DeliveryRecord:
    (found,) = (await client.call(QueryDeliveryLog(mail_id=mail_id))).records
    return found
