"""Hosting over a real nats-server: status answers, and every refusal is one envelope, never a traceback."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from pydantic import Field

from contracts.client import CommandRefused
from contracts.common import Command, ErrorCode, Reply
from contracts.organisations import Role
from services.runtime.clock import FakeClock
from services.runtime.errors import Conflict, Unauthenticated
from services.runtime.host import ServiceContext
from services.runtime.pipeline import CommandContext
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings
from tests.support.suite import running


class Echoed(Reply):
    text: str


class Echo(Command[Echoed]):
    SUBJECT: ClassVar[str] = "ens.v1.testsvc.echo"
    auth_id: str = Field(min_length=6, title="認証ID")
    session_token: str | None = None


@dataclass(frozen=True)
class Caller:
    auth_id: str
    role: Role


@dataclass
class EchoPorts:
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


async def echo(cmd: Echo, ctx: CommandContext[EchoPorts, Caller]) -> Echoed:
    ctx.trail.target = cmd.auth_id
    if cmd.auth_id == "hold-me":
        ctx.deps.holding.set()
        await ctx.deps.release.wait()
    if cmd.auth_id == "conflict":
        raise Conflict("その認証IDは既に使用されています。")
    if cmd.auth_id == "explode":
        raise RuntimeError("secret internals")
    if cmd.auth_id.startswith("officer"):
        await ctx.officer()
    elif cmd.session_token:
        await ctx.principal()
    return Echoed(text=cmd.auth_id)


async def resolve(_: EchoPorts, token: str) -> Caller:
    if token == "officer-session-0001":
        return Caller("officer01", Role.OFFICER)
    if token == "company-session-001":
        return Caller("company01", Role.ORGANISATION)
    raise Unauthenticated()


class EchoService(ServiceBase[EchoPorts, Caller]):
    name = "testsvc"
    identity = "admin"  # a test service: no role of the suite's is its own

    def __init__(self, runtime: RuntimeSettings | None = None) -> None:
        super().__init__(runtime or RuntimeSettings(), {Echo: echo}, resolve)
        self.ports = EchoPorts()

    @property
    def holding(self) -> asyncio.Event:
        return self.ports.holding

    @property
    def release(self) -> asyncio.Event:
        return self.ports.release

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        self.bind(self.ports)


async def audit_records(nc, n: int) -> list[dict]:
    import nats.js.api

    sub = await nc.jetstream().pull_subscribe(
        "ens.v1.audit.testsvc",
        stream="ENS_AUDIT",
        config=nats.js.api.ConsumerConfig(deliver_policy=nats.js.api.DeliverPolicy.ALL),
    )
    msgs = await sub.fetch(n, timeout=5)
    return [json.loads(m.data) for m in msgs]


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


async def test_the_pipeline_audits_every_command_once_on_the_injected_clock(nats_url, nc, client):
    clock = FakeClock(datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC))
    async with running(None, nats_url, clock=clock, services=[EchoService()]):
        await client.call(Echo(auth_id="abcdef", session_token="company-session-001"))
        with pytest.raises(CommandRefused):
            await client.call(Echo(auth_id="conflict"))
        with pytest.raises(CommandRefused):
            await client.call(Echo(auth_id="explode"))
    ok, refused, failed = await audit_records(nc, 3)
    assert ok["at"].startswith("2031-05-06T07:08:09")  # the host's clock, not the wall clock
    assert (ok["command"], ok["actor"], ok["target"], ok["result"]) == ("Echo", "company01", "abcdef", "ok")
    assert (refused["target"], refused["result"]) == ("conflict", "conflict")
    assert failed["result"] == "internal"


async def test_a_contract_refusal_is_audited_on_the_injected_clock(nats_url, nc):
    clock = FakeClock(datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC))
    async with running(None, nats_url, clock=clock, services=[EchoService()]):
        await nc.request(Echo.SUBJECT, b'{"auth_id": "abc"}', timeout=5)
    (record,) = await audit_records(nc, 1)
    assert record["at"].startswith("2031-05-06T07:08:09")


async def test_the_pipeline_resolves_the_caller_and_refuses_officer_work_to_others(nats_url, nc, client):
    async with running(None, nats_url, services=[EchoService()]):
        assert (await client.call(Echo(auth_id="officer-op", session_token="officer-session-0001"))).text == "officer-op"
        with pytest.raises(CommandRefused) as forbidden:
            await client.call(Echo(auth_id="officer-op", session_token="company-session-001"))
        with pytest.raises(CommandRefused) as unknown:
            await client.call(Echo(auth_id="abcdef", session_token="no-such-session-00"))
    assert forbidden.value.code == ErrorCode.FORBIDDEN
    assert unknown.value.code == ErrorCode.UNAUTHENTICATED
    records = await audit_records(nc, 3)
    assert [(r["actor"], r["result"]) for r in records] == [
        ("officer01", "ok"),
        ("company01", "forbidden"),
        (None, "unauthenticated"),
    ]
