"""Connecting to a test's nats-server as one of the suite's identities, with the credentials
the `nats_server` fixture made in the test's data dir (as `ens up` does in its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nats.aio.client import Client as Nats

from ens import credentials
from ens.embedded import NatsServerProcess, free_port
from services.runtime.nats import connect_as as nats_connect_as
from services.runtime.settings import RuntimeSettings


def server(store_dir: Path, log_file: Path | None = None, **kwargs: Any) -> NatsServerProcess:
    """A nats-server with the suite's authorization for the credentials of the test's data dir."""
    return NatsServerProcess(
        port=kwargs.pop("port", None) or free_port(),
        store_dir=store_dir,
        log_file=log_file,
        authorization=credentials.server_authorization(RuntimeSettings().credentials_dir),
        **kwargs,
    )


async def connect_as(url: str | list[str], identity: str, **kwargs: Any) -> Nats:
    """A nats-py connection as `identity` (admin for reading raw stores, client, operator, ...)."""
    servers = url if isinstance(url, list) else url.split(",")
    return await nats_connect_as(RuntimeSettings(nats_url=",".join(servers)), identity, **kwargs)
