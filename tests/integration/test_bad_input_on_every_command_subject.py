"""Pathological input on every command subject of the whole suite (issue 16), against the four
services on a real nats-server: deep nesting, huge numbers, huge strings, invalid UTF-8, lone
surrogates, NUL bytes, line breaks in single-line fields, a number where a date-time is
expected. Every one is answered with the error envelope (`validation`, or `too_large` for a
body over its command's limit) naming the problem — never `internal` — and the services keep
answering. The audit records of all those refusals stay small.

Hypothesis drives the payloads (bounded examples per subject); the suite runs in a thread of
its own with its own event loop, so the property itself is plain synchronous code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import types
import typing
from collections.abc import Iterator
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import contracts
from contracts import auth as a
from contracts.common import ErrorCode
from ens.suite import build_services
from services.runtime import limits
from services.runtime.clock import FakeClock
from services.runtime.host import Host
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_KEY_1, TEST_OPERATOR_TOKEN
from tests.support import bus

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)
COMMANDS = list(contracts.ALL_COMMANDS)


def sample(annotation: Any) -> Any:
    """A plausible JSON value of a field's type: the base payload every injection starts from."""
    origin = typing.get_origin(annotation)
    args = [x for x in typing.get_args(annotation) if x is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return sample(args[0])
    if origin is typing.Annotated:
        return sample(args[0])
    if origin is typing.Literal:
        return args[0]
    if origin in (list, tuple, set, frozenset):
        return []
    if origin is dict:
        return {}
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return next(iter(annotation)).value
        if issubclass(annotation, BaseModel):
            return base(annotation)
        if issubclass(annotation, bool):
            return False
        if issubclass(annotation, int):
            return 1
        if issubclass(annotation, float):
            return 1.0
        if issubclass(annotation, datetime):
            return "2027-04-01T00:00:00+00:00"
        if issubclass(annotation, date):
            return "2027-04-01"
    if "datetime" in str(annotation).lower():  # AwareDatetime
        return "2027-04-01T00:00:00+00:00"
    return "fuzz-value-0123456789"


def base(model: type[BaseModel]) -> dict[str, Any]:
    return {name: sample(info.annotation) for name, info in model.model_fields.items()}


def is_datetime(annotation: Any) -> bool:
    return "datetime" in str(annotation).lower() or getattr(annotation, "__name__", "") == "date"


# ---- the suite in a thread of its own -------------------------------------------------------


class Suite:
    """The four services and an admin connection on a loop in a background thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzzed-suite", daemon=True)
        self.host: Host | None = None
        self.nc: Any = None

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        settings = RuntimeSettings(nats_url=self.url)
        clock = FakeClock(START)
        self.host = Host(build_services(["auth", "filing", "notifier", "scheduler"], settings, clock), settings, clock)
        await self.host.start()
        self.nc = await bus.connect_as(self.url, "admin")

    def request(self, subject: str, payload: bytes) -> dict[str, Any]:
        async def go() -> bytes:
            msg = await self.nc.request(subject, payload, timeout=15)
            return bytes(msg.data)

        reply: dict[str, Any] = json.loads(self.run(go(), timeout=30))
        return reply

    def stop(self) -> None:
        async def go() -> None:
            if self.nc is not None:
                await self.nc.close()
            if self.host is not None:
                await self.host.stop()

        try:
            self.run(go())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENS_AUTH_OPERATOR_TOKEN", TEST_OPERATOR_TOKEN)
        mp.setenv("ENS_FILING_KEYS", f"k1:{TEST_KEY_1}")
        mp.setenv("ENS_DATA_DIR", str(tmp / "ens-data"))
        mp.delenv("ENS_SMTP_HOST", raising=False)
        mp.delenv("ENS_NATS_URL", raising=False)
        server = bus.server(tmp / "nats", tmp / "nats.log")
        server.start()
        running = Suite(server.url)
        try:
            running.start()
            yield running
        finally:
            running.stop()
            server.stop()


# ---- payloads ---------------------------------------------------------------------------------


def field_limit(name: str) -> int:
    limit = limits.TEXT_FIELDS.get(name, limits.MAX_STRING)
    return limit if limit is not None else 0


def payloads(command: type[BaseModel]) -> st.SearchStrategy[tuple[str, str, bytes]]:
    """(kind, field named in the reply or `(body)`, body bytes): the command's own valid-looking
    body with one pathological part."""
    fields = command.model_fields
    names = list(fields)
    template = base(command)

    def with_value(name: str, raw_json: str) -> bytes:
        parts = [f"{json.dumps(k)}:{raw_json if k == name else json.dumps(v)}" for k, v in template.items()]
        return ("{" + ",".join(parts) + "}").encode()

    def body_with(raw_json: str) -> bytes:
        name = names[0] if names else "x"
        return with_value(name, raw_json) if names else ("{" + f'"x":{raw_json}' + "}").encode()

    body_level = st.one_of(
        st.integers(13, 120_000).map(lambda d: ("deep_array", "(body)", body_with("[" * d + "]" * d))),
        st.integers(13, 2_000).map(lambda d: ("deep_object", "(body)", body_with('{"a":' * d + "1" + "}" * d))),
        st.integers(17, 6_000).map(lambda n: ("huge_integer", "(body)", body_with("9" * n))),
        st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "-Infinity"]).map(
            lambda v: ("huge_float", "(body)", body_with(v))
        ),
        st.binary(min_size=1, max_size=40).map(lambda b: ("invalid_utf8", "(body)", body_with('"') + b"\xff\xfe" + b)),
        st.integers(limits.DEFAULT_MAX_BODY, 2_000_000).map(lambda n: ("huge_body", "(body)", body_with(json.dumps("a" * n)))),
    )
    if not names:
        return body_level
    string_fields = [n for n in names if field_limit(n) or n not in limits.TEXT_FIELDS]
    single_line = [n for n in names if n not in limits.MULTILINE_FIELDS]
    when = [n for n, info in fields.items() if is_datetime(info.annotation)]
    field_level = [
        st.tuples(st.sampled_from(names), st.sampled_from(["\\ud800", "\\udfff", "a\\udc80b"])).map(
            lambda t: ("lone_surrogate", t[0], with_value(t[0], f'"{t[1]}"'))
        ),
        st.tuples(st.sampled_from(names), st.sampled_from(["\\u0000", "a\\u0000b", "\\u0007", "\\u001b[2J"])).map(
            lambda t: ("control_character", t[0], with_value(t[0], f'"{t[1]}"'))
        ),
    ]
    if single_line:
        field_level.append(
            st.tuples(st.sampled_from(single_line), st.sampled_from(["\\r\\n", "\\n", "\\r", "\\u2028"])).map(
                lambda t: ("line_break", t[0], with_value(t[0], json.dumps("x")[:-1] + t[1] + 'Bcc: x@evil.example"'))
            )
        )
    if string_fields:
        field_level.append(
            st.tuples(st.sampled_from(string_fields), st.integers(1, 60_000)).map(
                lambda t: ("huge_string", t[0], with_value(t[0], json.dumps("長" * (field_limit(t[0]) + t[1]))))
            )
        )
    if when:
        field_level.append(
            st.tuples(st.sampled_from(when), st.sampled_from(["0", "1", "1700000000", "1.5", "true"])).map(
                lambda t: ("number_for_a_date", t[0], with_value(t[0], t[1]))
            )
        )
    return st.one_of(body_level, *field_level)


# ---- the property ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=[c.SUBJECT for c in COMMANDS])
def test_every_pathological_body_is_answered_with_the_envelope_naming_the_problem(suite: Suite, command: Any) -> None:
    @settings(
        max_examples=int(os.environ.get("ENS_FUZZ_EXAMPLES", "30")),
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(payloads(command))
    def property_(case: tuple[str, str, bytes]) -> None:
        kind, field, body = case
        reply = suite.request(command.SUBJECT, body)
        assert set(reply) == {"error"}, (kind, reply)
        error = reply["error"]
        expected = {ErrorCode.VALIDATION.value, ErrorCode.TOO_LARGE.value}
        assert error["code"] in expected, (kind, field, error)
        named = [f["field"] for f in error["fields"]]
        if error["code"] == ErrorCode.VALIDATION.value and field != "(body)":
            assert field in named or any(n.startswith(field + ".") for n in named), (kind, field, named)
        assert error["fields"], (kind, error)

    property_()

    # The services still answer, and with their own rules.
    for service in ("auth", "filing", "notifier", "scheduler"):
        status = suite.request(f"ens.v1.{service}.status", b"{}")
        assert status.get("service") == service, status
    nobody = f"nobody{COMMANDS.index(command):03d}"  # one failed login each: no lockout
    refused = suite.request(a.Login.SUBJECT, a.Login(auth_id=nobody, password="Wrong#pass123").model_dump_json().encode())
    assert refused["error"]["code"] == ErrorCode.LOGIN_FAILED.value


def test_the_audit_records_of_refused_bodies_stay_small(suite: Suite) -> None:
    """Ten logins with a megabyte of auth ID add ten small records, not megabytes."""

    async def audit_bytes() -> tuple[int, int]:
        info = await suite.nc.jetstream().stream_info("ENS_AUDIT")
        return info.state.bytes, info.state.messages

    before = suite.run(audit_bytes())
    big = ("x" * 1_000_000).encode()
    for _ in range(10):
        reply = suite.request(a.Login.SUBJECT, b'{"auth_id":"' + big + b'","password":"x"}')
        assert reply["error"]["code"] == ErrorCode.TOO_LARGE.value
    surrogate = suite.request(a.Login.SUBJECT, b'{"auth_id":"\\ud800","password":"Secret#123abc"}')
    assert surrogate["error"]["code"] == ErrorCode.VALIDATION.value
    after = suite.run(audit_bytes())
    added_bytes, added = after[0] - before[0], after[1] - before[1]
    assert added == 11
    assert added_bytes < 11 * 2048


def test_a_bulk_upload_body_is_not_refused_by_the_generic_string_limit(suite: Suite) -> None:
    """The CSV travels as one long base64 string: only the body limit and the filing service's
    upload limit bound it (here it reaches the service, which asks for a session)."""
    payload = json.dumps(
        {
            "session_token": "s" * 32,
            "kind": "employment_contract_change",
            "csv_base64": base64.b64encode(b"x" * 300_000).decode(),
        }
    ).encode()
    reply = suite.request("ens.v1.filing.submit_bulk", payload)
    assert reply["error"]["code"] == ErrorCode.UNAUTHENTICATED.value
