"""Start any subset of the services in-process against a real nats-server, with an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ens.suite import build_services
from services.runtime.clock import Clock, FakeClock
from services.runtime.host import Host, Service
from services.runtime.settings import RuntimeSettings


@asynccontextmanager
async def running(
    names: list[str] | None,
    nats_url: str,
    clock: Clock | None = None,
    services: list[Service] | None = None,
    **runtime: object,
) -> AsyncIterator[Host]:
    """Host the named services (or prebuilt ones) until the block ends; always stops them."""
    settings = RuntimeSettings(nats_url=nats_url, **runtime)  # type: ignore[arg-type]
    clock = clock or FakeClock()
    built = services if services is not None else build_services(names or [], settings, clock)
    host = Host(built, settings, clock)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


ServiceFactory = Callable[[RuntimeSettings, Clock], Service]
