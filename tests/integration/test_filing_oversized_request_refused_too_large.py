"""A request larger than the NATS server takes is the suite's `too_large` refusal with the
limit in its message, not nats-py's own error (issue 16, `ens filing submit`); and the server
reads a configured size as the compose test reads it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts import filing as f
from contracts.client import CommandRefused, EnsClient
from contracts.common import ErrorCode
from ens.commands.filing import send
from ens.embedded import NatsServerProcess
from services.runtime.settings import RuntimeSettings
from tests.support import bus
from tests.unit.test_compose_max_payload import size


@dataclass
class SmallPayloadServer(NatsServerProcess):
    max_payload: str = "64KB"

    def config(self) -> str:
        return super().config().replace("max_payload: 8MB", f"max_payload: {self.max_payload}")


@pytest.fixture
def small_server(tmp_path: Path):
    server = SmallPayloadServer(
        port=bus.free_port(),
        store_dir=tmp_path / "nats",
        log_file=tmp_path / "nats.log",
        authorization=bus.credentials.server_authorization(RuntimeSettings().credentials_dir),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_bulk_upload_over_the_servers_max_payload_is_refused_too_large_naming_the_limit(small_server):
    nc = await bus.connect_as(small_server.url, "client")
    try:
        assert nc.max_payload == size("64KB")  # the server reads `64KB` as 65,536 bytes
        cmd = f.SubmitBulkFiling(
            session_token="s" * 32,
            kind=f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE,
            csv_base64=base64.b64encode(b"x" * 100_000).decode(),
        )
        with pytest.raises(CommandRefused) as err:
            await send(EnsClient(nc, timeout=2), cmd, upload_limit=2 * 1024 * 1024)
        refusal = err.value.error
        assert refusal.code == ErrorCode.TOO_LARGE
        assert "65,536" in refusal.message and "2,097,152" in refusal.message
        assert refusal.details["max_payload"] == 65536
        assert [fe.field for fe in refusal.fields] == ["csv_base64"]
    finally:
        await nc.close()
