"""Fixtures for every tier: a real nats-server on a free port (stopped by pid), a real SMTP sink
over TCP, a fake clock, and the secrets the services need."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as Nats

from contracts.client import EnsClient
from ens.embedded import MailSink, NatsServerProcess, free_port
from services.runtime.clock import FakeClock
from tests.support import bus

TEST_OPERATOR_TOKEN = "test-operator-token-0123456789abcdef"
TEST_KEY_1 = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
TEST_KEY_2 = base64.urlsafe_b64encode(bytes(range(32, 64))).decode().rstrip("=")


@pytest.fixture(autouse=True)
def ens_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test gets the secrets a service needs, and never reads a developer's environment."""
    monkeypatch.setenv("ENS_AUTH_OPERATOR_TOKEN", TEST_OPERATOR_TOKEN)
    monkeypatch.setenv("ENS_FILING_KEYS", f"k1:{TEST_KEY_1}")
    monkeypatch.setenv("ENS_DATA_DIR", str(tmp_path / "ens-data"))
    monkeypatch.delenv("ENS_SMTP_HOST", raising=False)
    monkeypatch.delenv("ENS_NATS_URL", raising=False)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    """A real nats-server with the suite's authorization, as `ens up` runs it: anonymous
    connections refused, each identity's seed in the test's data dir."""
    server = bus.server(tmp_path / "nats", tmp_path / "nats.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServerProcess) -> str:
    return nats_server.url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Nats]:
    """The test's own connection, as `admin`: it reads raw stores and calls any command.
    Role limits are tested with `bus.connect_as(url, "client")` and the others."""
    client = await bus.connect_as(nats_url, "admin", max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def client(nc: Nats) -> EnsClient:
    return EnsClient(nc, timeout=10)


@pytest.fixture
async def mail_sink(tmp_path: Path) -> AsyncIterator[MailSink]:
    sink = MailSink(port=free_port(), maildir=tmp_path / "mail")
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Kill tests (files named *_kill.py) and the whole-suite tier are slow: `make test-fast`
    leaves them out, `make test` runs them."""
    slow = pytest.mark.slow
    for item in items:
        path = item.path
        if path.stem.endswith("_kill") or "e2e" in path.parts:
            item.add_marker(slow)
