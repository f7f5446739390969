"""Two replicas share one durable consumer; `ens mail log` answers from the ledger over NATS."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import nats.errors
import nats.js.errors

from contracts.notifier import DeliveryStatus, MailType
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from tests.integration import test_notifier_delivery
from tests.integration.test_notifier_delivery import publish, settled, unique
from tests.support.suite import running

ROOT = Path(__file__).resolve().parents[2]
smtp_env = test_notifier_delivery.smtp_env  # the fixture, shared with the delivery tests


async def test_two_replicas_share_the_events_and_send_each_mail_once(nats_url, nc, client, smtp_env, clock, monkeypatch):
    # Small pulls, so one replica cannot take the whole backlog in its first fetch.
    monkeypatch.setenv("ENS_NOTIFIER_BATCH", "2")
    monkeypatch.setenv("ENS_NOTIFIER_MAX_IN_FLIGHT", "2")
    events = [unique(sample_event(MailType.FILING_SUBMITTED)) for _ in range(60)]
    async with running(["notifier"], nats_url, clock=clock) as one, running(["notifier"], nats_url, clock=clock) as two:
        await asyncio.gather(*(publish(nc, e) for e in events))
        await smtp_env.wait_for(len(events), timeout=30)
        for e in events[-3:]:
            await settled(client, mails_for(e)[0].mail_id, DeliveryStatus.SENT)
        handled = [host.services[0].consumer.handled for host in (one, two)]
    ids = [m.parsed()["Message-ID"] for m in smtp_env.mails]
    assert len(ids) == len(set(ids)) == len(events)
    assert sum(handled) >= len(events) and all(h > 0 for h in handled), handled


async def ens(*args: str, nats_url: str) -> tuple[int, str, str]:
    env = {**os.environ, "ENS_NATS_URL": nats_url, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ens", *args, env=env, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_ens_mail_log_shows_what_the_helpdesk_needs_and_refuses_without_a_filter(nats_url, nc, client, smtp_env, clock):
    event = unique(sample_event(MailType.FIX_REQUESTED))
    mail = mails_for(event)[0]
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        await settled(client, mail.mail_id, DeliveryStatus.SENT)
        code, out, _ = await ens("mail", "log", "--reception-number", "20270401-000001", "--json", nats_url=nats_url)
        text_code, text, _ = await ens("mail", "log", "--mail-id", mail.mail_id, nats_url=nats_url)
        bad_code, _, bad_err = await ens("mail", "log", nats_url=nats_url)
    assert code == 0
    (record,) = json.loads(out)["records"]
    assert record["mail_id"] == mail.mail_id and record["status"] == "sent" and record["smtp_code"] == 250
    assert record["recipient"] == mail.recipient and record["message_id"].startswith(f"<{mail.mail_id}.")
    assert text_code == 0
    assert "送信済み" in text and mail.recipient in text and "250" in text and "報告の修正依頼" in text
    assert bad_code == 1 and "検索条件" in bad_err and "auth_id" in bad_err


async def publish_until_accepted(nc, event, within: float = 30.0) -> None:
    """As an outbox relay does: a publish that times out while NATS restarts is simply repeated."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await publish(nc, event)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_nats_restart_mid_stream_loses_no_mail_and_sends_none_twice(
    nats_server, nats_url, nc, client, smtp_env, clock, monkeypatch
):
    monkeypatch.setenv("ENS_NOTIFIER_ACK_WAIT_S", "30")  # leases outlast the restart
    first = [unique(sample_event(MailType.FILING_CHANGED)) for _ in range(20)]
    second = [unique(sample_event(MailType.FILING_WITHDRAWN)) for _ in range(20)]
    async with running(["notifier"], nats_url, clock=clock):
        await asyncio.gather(*(publish(nc, e) for e in first))
        await smtp_env.wait_for(5, timeout=20)
        nats_server.restart()  # same store: the stream, the consumer and the ledger survive
        await asyncio.gather(*(publish_until_accepted(nc, e) for e in second))
        await smtp_env.wait_for(len(first) + len(second), timeout=60)
        for e in (first[-1], second[-1]):
            await settled(client, mails_for(e)[0].mail_id, DeliveryStatus.SENT, within=30)
    ids = [m.parsed()["Message-ID"].split(".")[0] for m in smtp_env.mails]  # <mail id.installation@domain>
    expected = {f"<{mails_for(e)[0].mail_id}" for e in first + second}
    # A mail whose ledger write was cut off by the restart is recorded once NATS is back, by the
    # replica that knows the server's answer: not sent again.
    assert sorted(ids) == sorted(expected)
