"""The bounce intake over real TCP SMTP (aiosmtplib) against a real nats-server with the suite's
authorization on: the intake connects as `bounces`, and a responder subscribed as `notifier` (its
queue group, its permissions) stands in for the notifier's RecordBounce handler, so what is
tested here is what crosses the bus. The whole path with the real handler is
tests/e2e/test_postfix_bounce.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosmtplib
import pytest
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg

from contracts import subjects
from contracts.notifier import BounceRecorded, RecordBounce
from ens.embedded import NatsServerProcess
from services.bounces.app import Intake, build
from services.bounces.settings import BouncesSettings
from services.runtime.settings import RuntimeSettings
from tests.support import bus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
DOMAIN = "bounces.ens.example.jp"
MAIL_ID = "3f2a9c41d0b7e8a65c14f0e2d9b3a871"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@asynccontextmanager
async def intake(nats_url: str, **settings: object) -> AsyncIterator[Intake]:
    built = build(RuntimeSettings(nats_url=nats_url), BouncesSettings(domain=DOMAIN, port=0, **settings))  # type: ignore[arg-type]
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


@asynccontextmanager
async def notifier_stand_in(
    nats_url: str, answer: Callable[[RecordBounce], Awaitable[BounceRecorded]] | None = None
) -> AsyncIterator[list[RecordBounce]]:
    """Answers RecordBounce as the notifier identity; keeps what it got. Default: recorded."""
    got: list[RecordBounce] = []
    nc: Nats = await bus.connect_as(nats_url, "notifier")

    async def respond(msg: Msg) -> None:
        command = RecordBounce.model_validate_json(msg.data)
        got.append(command)
        reply = await answer(command) if answer else BounceRecorded(mail_id=command.mail_id, recorded=True)
        await msg.respond(reply.model_dump_json().encode())

    await nc.subscribe(RecordBounce.SUBJECT, queue=subjects.queue_group("notifier"), cb=respond)
    await nc.flush()
    try:
        yield got
    finally:
        await nc.close()


async def send(server: Intake, data: bytes, rcpt: str = f"bounce+{MAIL_ID}@{DOMAIN}") -> tuple[int, str]:
    """One SMTP transaction with a null sender, as an MTA returns a bounce; the final answer."""
    client = aiosmtplib.SMTP(hostname=server.host, port=server.port, timeout=30)
    await client.connect()
    try:
        await client.ehlo()
        await client.mail("")
        await client.rcpt(rcpt)
        try:
            response = await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code, exc.message
        return response.code, response.message
    finally:
        await client.quit()


async def test_a_dsn_sent_by_smtp_reaches_the_notifier_as_record_bounce_and_is_answered_250_after(nats_url: str) -> None:
    async with notifier_stand_in(nats_url) as got, intake(nats_url) as server:
        code, _ = await send(server, fixture("postfix"))
    assert code == 250
    [command] = got
    assert command.mail_id == MAIL_ID
    assert command.kind == "hard" and command.status_code == "5.1.1"
    assert command.diagnostic and "User unknown in virtual mailbox table" in command.diagnostic
    assert command.reporting_mta == "mx1.example.co.jp"
    assert command.recipient == "tanaka@example.co.jp"
    assert server.counts == {"recorded_hard": 1}


async def test_a_redelivered_bounce_carries_the_same_idempotency_key(nats_url: str) -> None:
    async with notifier_stand_in(nats_url) as got, intake(nats_url) as server:
        assert (await send(server, fixture("gmail"), f"bounce+e41b7a9d03c25f68b1e9d4a7c0f3b2e6@{DOMAIN}"))[0] == 250
        assert (await send(server, fixture("gmail"), f"bounce+e41b7a9d03c25f68b1e9d4a7c0f3b2e6@{DOMAIN}"))[0] == 250
    assert len(got) == 2
    assert got[0].request_id == got[1].request_id and got[0].request_id


async def test_with_no_notifier_the_bounce_is_answered_451_and_recorded_when_the_mta_retries(nats_url: str) -> None:
    async with intake(nats_url, record_timeout_s=0.5) as server:
        code, _ = await send(server, fixture("postfix"))
        assert code == 451
        assert server.counts == {"deferred": 1}
        async with notifier_stand_in(nats_url) as got:
            code, _ = await send(server, fixture("postfix"))
        assert code == 250
        assert [c.mail_id for c in got] == [MAIL_ID]


async def test_a_bounce_for_no_mail_of_ours_is_answered_250_and_counted(nats_url: str) -> None:
    async def not_ours(command: RecordBounce) -> BounceRecorded:
        return BounceRecorded(mail_id=None, recorded=False)

    async with notifier_stand_in(nats_url, not_ours), intake(nats_url) as server:
        code, _ = await send(server, fixture("qmail"), f"bounce@{DOMAIN}")
    assert code == 250
    assert server.counts == {"not_ours": 1}


async def test_bad_input_never_ends_the_intake_and_non_bounces_are_dropped(nats_url: str) -> None:
    async with notifier_stand_in(nats_url) as got, intake(nats_url, max_message_bytes=64 * 1024) as server:
        for name in ("autoreply", "out_of_office"):
            assert (await send(server, fixture(name)))[0] == 250
        assert (await send(server, fixture("spam"), f"postmaster@{DOMAIN}"))[0] == 250
        assert (await send(server, b'Subject: x\r\nContent-Type: multipart/report; boundary="\r\n\r\n\x00\xff\r\n'))[0] == 250
        code, _ = await send(server, b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 80)
        assert code == 552  # over ENS_BOUNCES_MAX_MESSAGE_BYTES
        assert (await send(server, fixture("postfix")))[0] == 250  # and it still records
    assert [c.mail_id for c in got] == [MAIL_ID]
    assert server.counts == {
        "dropped_auto_reply": 2,
        "dropped_not_a_bounce": 1,
        "dropped_malformed": 1,
        "recorded_hard": 1,
    }


async def test_recipients_of_other_domains_are_refused_550(nats_url: str) -> None:
    async with intake(nats_url) as server:
        client = aiosmtplib.SMTP(hostname=server.host, port=server.port, timeout=10)
        await client.connect()
        await client.ehlo()
        await client.mail("")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("someone@example.com")
        await client.quit()
    assert refused.value.code == 550


async def test_while_nats_is_down_bounces_are_answered_451_and_recorded_once_it_is_back(nats_server: NatsServerProcess) -> None:
    url = nats_server.url
    got: list[RecordBounce] = []
    responder = await bus.connect_as(url, "notifier", max_reconnect_attempts=-1, reconnect_time_wait=0.2)

    async def respond(msg: Msg) -> None:
        command = RecordBounce.model_validate_json(msg.data)
        got.append(command)
        await msg.respond(BounceRecorded(mail_id=command.mail_id, recorded=True).model_dump_json().encode())

    await responder.subscribe(RecordBounce.SUBJECT, queue=subjects.queue_group("notifier"), cb=respond)
    try:
        async with intake(url, record_timeout_s=0.5) as server:
            await asyncio.to_thread(nats_server.stop)
            assert (await send(server, fixture("postfix")))[0] == 451
            await asyncio.to_thread(nats_server.start)
            # The MTA tries again until the answer is 250 (bounded; both sides reconnect on their own).
            deadline = asyncio.get_running_loop().time() + 30
            while (code := (await send(server, fixture("postfix")))[0]) != 250:
                assert code == 451 and asyncio.get_running_loop().time() < deadline
    finally:
        await responder.close()
    # Requests written while NATS was away may still arrive once it is back, after the intake
    # answered 451: every copy carries the report's one idempotency key, so it is recorded once.
    assert {c.mail_id for c in got} == {MAIL_ID}
    assert len({c.request_id for c in got}) == 1
    assert server.counts["recorded_hard"] == 1 and server.counts["deferred"] >= 1
