"""A slow but working SMTP server gets each mail once (issue 13, item 4).

RFC 5321 §4.5.3.2 has a client wait 10 minutes for the answer to the final "." of DATA. The
server here (raw asyncio over TCP) answers 250 only after a pause longer than the event's
`ack_wait` and the claim's lease (both 1.5 s here, so the test stays short): the notifier must
wait for it, keep its event from redelivery (in_progress) and its claim from a take-over (the
lease renewed), and send exactly one copy, with one replica or two, pipelined or not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from contracts.notifier import DeliveryStatus, MailType
from ens.embedded import free_port
from services.notifier.adapters.smtp import SmtpMailer
from services.notifier.domain.routing import mails_for
from services.notifier.ports import TemporaryFailure
from services.notifier.samples import sample_event
from services.notifier.settings import SmtpSettings
from services.runtime.clock import SystemClock
from tests.integration.test_notifier_delivery import log_for, publish, settled, unique
from tests.support.suite import running

ACK_WAIT_S = 1.5
PAUSE_S = 4.0  # before the 250 to the final ".": longer than ack_wait and the lease, twice over


@dataclass
class SlowSink:
    """An SMTP server that takes every mail and answers its final "." after `pause` seconds."""

    pause: float
    pipelining: bool
    port: int = field(default_factory=free_port)
    mails: list[bytes] = field(default_factory=list)
    dots: int = 0  # final dots seen (whether or not answered yet)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 slow.example ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    ext = b"250-PIPELINING\r\n" if self.pipelining else b""
                    writer.write(b"250-slow.example\r\n" + ext + b"250 8BITMIME\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    lines = []
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    self.dots += 1
                    await asyncio.sleep(self.pause)  # storing it, slowly
                    self.mails.append(b"".join(lines))
                    writer.write(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:  # MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture(params=[True, False], ids=["pipelined", "plain"])
async def slow_sink(request, monkeypatch):
    sink = SlowSink(pause=PAUSE_S, pipelining=request.param)
    await sink.start()
    monkeypatch.setenv("ENS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ENS_SMTP_PORT", str(sink.port))
    monkeypatch.setenv(
        "ENS_SMTP_TIMEOUT_S", "2"
    )  # connecting only (once the whole transaction's deadline); the final dot keeps its 600 s
    monkeypatch.setenv("ENS_NOTIFIER_ACK_WAIT_S", str(ACK_WAIT_S))  # also the claim's lease
    monkeypatch.setenv("ENS_NOTIFIER_RETRY_DELAYS_S", "0.2")
    monkeypatch.setenv("ENS_NOTIFIER_RETRY_EVERY_S", "0.2")
    try:
        yield sink
    finally:
        await sink.stop()


async def test_a_server_answering_250_after_a_long_pause_gets_exactly_one_copy(nats_url, nc, client, slow_sink):
    event = unique(sample_event(MailType.FILING_SUBMITTED))
    (mail,) = mails_for(event)
    async with running(["notifier"], nats_url, clock=SystemClock()):
        before = await nc.jetstream().consumer_info("ENS_EVENTS", "notifier")
        await publish(nc, event)
        record = await settled(client, mail.mail_id, DeliveryStatus.SENT, within=PAUSE_S + 10)
        await asyncio.sleep(2 * ACK_WAIT_S)  # a redelivery, had there been one, would have sent again by now
        info = await nc.jetstream().consumer_info("ENS_EVENTS", "notifier")
        (logged,) = await log_for(client, mail_id=mail.mail_id)  # the delivery log: sent, once
    assert len(slow_sink.mails) == 1 and slow_sink.dots == 1
    assert record.attempts == 1 and record.smtp_code == 250
    assert logged.status == DeliveryStatus.SENT and logged.attempts == 1
    # delivered once, never again: in_progress kept JetStream from redelivering it meanwhile
    assert info.delivered.consumer_seq - before.delivered.consumer_seq == 1 and info.num_ack_pending == 0


async def test_two_replicas_and_a_second_copy_of_the_event_still_make_one_mail(nats_url, nc, client, slow_sink):
    """The copy goes to the other replica while the first waits on the server: it finds the claim
    held and must keep finding it held (the lease renewed) until the 250 is recorded."""
    event = unique(sample_event(MailType.FILING_SUBMITTED))
    (mail,) = mails_for(event)
    clock = SystemClock()
    async with running(["notifier"], nats_url, clock=clock), running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        await publish(nc, event, msg_id=f"{event.meta.event_id}-copy")  # a copy the stream keeps
        record = await settled(client, mail.mail_id, DeliveryStatus.SENT, within=PAUSE_S + 10)
        await asyncio.sleep(2 * ACK_WAIT_S)
        info = await nc.jetstream().consumer_info("ENS_EVENTS", "notifier")
    assert len(slow_sink.mails) == 1 and slow_sink.dots == 1
    assert record.attempts == 1 and record.smtp_code == 250
    assert info.num_ack_pending == 0  # both copies settled: the second as a duplicate, without a mail


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "plain"])
async def test_each_phase_has_its_own_timeout_and_connecting_no_longer_bounds_the_transaction(pipelining):
    sink = SlowSink(pause=1.0, pipelining=pipelining)
    await sink.start()
    try:
        # ENS_SMTP_TIMEOUT_S far below the server's pause: it bounds connecting only, so the mail goes out
        patient = SmtpMailer(SmtpSettings(host="127.0.0.1", port=sink.port, timeout_s=0.3, pipelining=pipelining))
        answer = await patient.send("no-reply@ens.example.jp", "to@example.jp", b"Subject: t\r\n\r\nbody\r\n")
        await patient.close()
        # the final dot's own timeout below the pause: a temporary failure, the connection not reused
        hasty = SmtpMailer(SmtpSettings(host="127.0.0.1", port=sink.port, final_dot_timeout_s=0.3, pipelining=pipelining))
        with pytest.raises(TemporaryFailure, match=r"(?i)time"):
            await hasty.send("no-reply@ens.example.jp", "to@example.jp", b"Subject: t\r\n\r\nbody\r\n")
        await hasty.close()
    finally:
        await sink.stop()
    assert answer.code == 250 and patient.pipelined == (1 if pipelining else 0)
    assert sink.dots == 2
