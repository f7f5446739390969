"""Hosting over a real nats-server: status answers, and every refusal is one envelope, never a traceback."""

from __future__ import annotations

import asyncio
import json
from typing import ClassVar

import pytest
from pydantic import Field

from contracts.client import CommandRefused
from contracts.common import Command, ErrorCode, Reply
from services.runtime.errors import Conflict
from services.runtime.handlers import handles
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings
from tests.support.suite import running


class Echoed(Reply):
    text: str


class Echo(Command):
    SUBJECT: ClassVar[str] = "ens.v1.testsvc.echo"
    REPLY: ClassVar[type[Reply]] = Echoed
    auth_id: str = Field(min_length=6, title="認証ID")


class EchoService(ServiceBase):
    name = "testsvc"

    def __init__(self, runtime: RuntimeSettings | None = None) -> None:
        super().__init__(runtime)
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

        @handles(self.router, Echo, self.name)
        async def echo(cmd: Echo) -> Echoed:
            if cmd.auth_id == "hold-me":
                self.holding.set()
                await self.release.wait()
            if cmd.auth_id == "conflict":
                raise Conflict("その認証IDは既に使用されています。")
            if cmd.auth_id == "explode":
                raise RuntimeError("secret internals")
            return Echoed(text=cmd.auth_id)


async def test_all_four_services_answer_status(nats_url, client):
    async with running(["auth", "filing", "notifier", "scheduler"], nats_url):
        for name in ("auth", "filing", "notifier", "scheduler"):
            status = await client.status(name)
            assert status.service == name and status.owns


async def test_a_service_that_is_not_running_is_reported_unavailable(nats_url, client):
    async with running(["auth"], nats_url):
        with pytest.raises(CommandRefused) as err:
            await client.status("notifier", timeout=0.5)
    assert err.value.code == ErrorCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (b'{"auth_id": "abc"}', ErrorCode.VALIDATION, "auth_id"),
        (b"{}", ErrorCode.VALIDATION, "auth_id"),
        (b"not json at all", ErrorCode.VALIDATION, None),
        (b'{"auth_id": "conflict"}', ErrorCode.CONFLICT, None),
        (b'{"auth_id": "explode"}', ErrorCode.INTERNAL, None),
    ],
)
async def test_refusals_are_one_envelope_with_japanese_message(nats_url, nc, payload, code, field):
    async with running(None, nats_url, services=[EchoService()]):
        reply = await nc.request(Echo.SUBJECT, payload, timeout=5)
    body = json.loads(reply.data)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert any("\u3040" <= ch <= "\u9fff" for ch in body["error"]["message"])  # Japanese text
    assert "Traceback" not in reply.data.decode() and "secret internals" not in reply.data.decode()
    if field:
        (f,) = body["error"]["fields"]
        assert f["field"] == field and f["label"] == "認証ID"


async def test_a_valid_command_gets_its_reply_model(nats_url, client):
    async with running(None, nats_url, services=[EchoService()]):
        reply = await client.call(Echo(auth_id="abcdef"))
    assert reply == Echoed(text="abcdef")


async def test_a_command_refused_by_its_contract_is_still_audited(nats_url, nc):
    import nats.js.api

    async with running(None, nats_url, services=[EchoService()]):
        await nc.request(Echo.SUBJECT, b'{"auth_id": "abc"}', timeout=5)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "ens.v1.audit.testsvc",
        stream="ENS_AUDIT",
        config=nats.js.api.ConsumerConfig(deliver_policy=nats.js.api.DeliverPolicy.ALL),
    )
    (msg,) = await sub.fetch(1, timeout=5)
    record = json.loads(msg.data)
    assert record["command"] == "echo"  # not a contract command, so named by its subject
    assert record["result"] == "validation" and record["details"]["fields"] == ["auth_id"]
    assert record["actor"] is None


@pytest.mark.parametrize("concurrency", [2, 32])
async def test_a_replica_answers_a_command_while_another_of_its_kind_waits(nats_url, client, concurrency):
    # FastStream's default is one message at a time per subject: a login waiting for NATS would
    # hold up every other login of the replica. ENS_COMMAND_CONCURRENCY lets them overlap.
    service = EchoService(RuntimeSettings(command_concurrency=concurrency))
    async with running(None, nats_url, services=[service]):
        held = asyncio.ensure_future(client.call(Echo(auth_id="hold-me")))
        await asyncio.wait_for(service.holding.wait(), 5)
        try:
            assert await client.call(Echo(auth_id="abcdef"), timeout=5) == Echoed(text="abcdef")
            assert not held.done()
        finally:
            service.release.set()
        assert await held == Echoed(text="hold-me")
