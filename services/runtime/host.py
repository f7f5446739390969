"""Hosting services: one broker, one connection for state, any subset of the four services.

`ens up` hosts all four in one process; `ens run NAME` hosts one. Each service is built by its
own composition root (`services/<name>/app.py: build(...)`) and handed over as a `Service`:
its FastStream router, the streams and buckets it owns, and start/stop for its background work.
Nothing connects before `Host.start()`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.security import NatsNKey
from faststream.specification import AsyncAPI
from nats.aio.client import Client as Nats
from nats.js import JetStreamContext

from contracts import subjects
from contracts.client import CommandRefused, EnsClient
from contracts.common import Event, ServiceStatus, ServiceStatusRequest
from services.runtime import nats as ens_nats
from services.runtime.clock import Clock, SystemClock
from services.runtime.errors import build_error_middleware
from services.runtime.settings import RuntimeSettings

log = logging.getLogger("ens.host")


def package_version() -> str:
    try:
        return version("ens-suite")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class ServiceContext:
    """What a started service gets: connections, its clock, a client for other services."""

    settings: RuntimeSettings
    nc: Nats
    js: JetStreamContext
    clock: Clock
    client: EnsClient
    instance: str


class Service(Protocol):
    name: str

    @property
    def identity(self) -> str:
        """The NATS identity it connects as: its name, for the four services."""
        ...

    @property
    def router(self) -> NatsRouter: ...

    events: tuple[type[Event], ...]  # the domain events it emits (through its outbox relay)

    def owns(self) -> list[str]:
        """Streams and buckets this service declares."""
        ...

    async def start(self, ctx: ServiceContext) -> None:
        """Declare what it owns and start background work. Runs before its handlers get messages."""
        ...

    async def stop(self) -> None: ...


@dataclass
class Host:
    """Hosts services in one process, each on connections of its own NATS identity, so a
    service may do on the bus only what its role allows even when four share a process."""

    services: list[Service]
    settings: RuntimeSettings
    clock: Clock
    instance: str = field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    brokers: dict[str, NatsBroker] = field(init=False)
    contexts: dict[str, ServiceContext] = field(init=False, default_factory=dict)
    started_at: datetime = field(init=False, default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.brokers = {s.name: build_broker([s], self.settings, self, self.clock, identity=s.identity) for s in self.services}

    async def start(self) -> None:
        started: list[Service] = []
        try:
            for service in self.services:
                nc = await ens_nats.connect(self.settings, f"ens-{service.name}-{self.instance}", identity=service.identity)
                js = nc.jetstream(timeout=10)
                ctx = ServiceContext(
                    settings=self.settings,
                    nc=nc,
                    js=js,
                    clock=self.clock,
                    client=EnsClient(nc, timeout=self.settings.request_timeout_s),
                    instance=self.instance,
                )
                self.contexts[service.name] = ctx
                await ens_nats.ensure_shared_streams(js, self.settings)
                await service.start(ctx)
                started.append(service)
            for broker in self.brokers.values():
                await broker.start()
            await self._await_own_subscriptions()
        except BaseException:
            for service in reversed(started):
                await service.stop()
            await self._close()
            raise
        log.info("started %s as %s", ", ".join(s.name for s in self.services), self.instance)

    async def _await_own_subscriptions(self, within: float = 15.0) -> None:
        """Ready means answering: the broker sends its subscriptions asynchronously, so ask each
        service's status subject (registered after its handlers) until it answers."""
        deadline = asyncio.get_running_loop().time() + within
        for service in self.services:
            client = self.contexts[service.name].client
            while True:
                try:
                    await client.status(service.name, timeout=0.25)
                    break
                except CommandRefused:
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"{service.name} did not answer its status subject") from None

    async def stop(self) -> None:
        for broker in self.brokers.values():
            await broker.stop()
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %s failed", service.name)
        await self._close()

    async def _close(self) -> None:
        for ctx in self.contexts.values():
            try:
                await ctx.nc.drain()
            except Exception:  # noqa: BLE001 - already closed by a lost server
                await ctx.nc.close()
        self.contexts = {}

    def status(self, service: Service) -> ServiceStatus:
        return ServiceStatus(
            service=service.name,
            instance=self.instance,
            version=package_version(),
            started_at=self.started_at,
            owns=service.owns(),
        )


def build_broker(
    services: list[Service],
    settings: RuntimeSettings,
    host: Host | None = None,
    clock: Clock | None = None,
    identity: str | None = None,
) -> NatsBroker:
    """One FastStream broker for the services' command subscriptions; connected as `identity`
    (None only for a broker that never connects: the AsyncAPI document's)."""
    security: dict[str, Any] = {}
    if identity is not None:
        options = ens_nats.identity_options(settings, identity)
        security = {
            "security": NatsNKey.from_seed(options["nkeys_seed_str"], ssl_context=options.get("tls")),
            "inbox_prefix": options["inbox_prefix"],
        }
    broker = NatsBroker(
        settings.nats_servers,
        **security,
        middlewares=[build_error_middleware("ens", clock or SystemClock())],
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,  # type: ignore[arg-type]  # FastStream annotates int; nats-py takes seconds as float
        connect_timeout=2,
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,  # one line per message is too much at INFO
    )
    for service in services:
        broker.include_router(service.router)
        broker.include_router(_status_router(service, host))
    return broker


def _status_router(service: Service, host: Host | None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        subjects.status(service.name),
        queue=subjects.queue_group(service.name),
        title=f"{service.name}.status",
        description=f"Is the {service.name} service up? Answered by any one replica.",
    )
    async def status(_: ServiceStatusRequest) -> ServiceStatus:
        assert host is not None  # a broker built for the specification alone never consumes
        return host.status(service)

    # Events go out through the outbox relay with plain JetStream publishes; declaring them here
    # puts every event subject and schema into the AsyncAPI document.
    for event in service.events:
        router.publisher(
            event.SUBJECT,
            schema=event,
            title=f"{event.SUBJECT}:{event.__name__}",
            description=(event.__doc__ or event.__name__).strip().splitlines()[0],
        )
    return router


def asyncapi_document(services: list[Service], settings: RuntimeSettings) -> AsyncAPI:
    broker = build_broker(services, settings)
    return AsyncAPI(
        broker,
        title="ENS notification suite",
        version=package_version(),
        description=(
            "Commands (request/reply, core NATS, queue groups) and domain events (JetStream stream "
            f"{subjects.EVENTS_STREAM}) of the 電子届出システム notification suite."
        ),
        schema_version="3.0.0",
    )
