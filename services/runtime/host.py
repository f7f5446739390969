"""Hosting services: one broker, one connection for state, any subset of the four services.

`ens up` hosts all four in one process; `ens run NAME` hosts one. Each service is built by its
own composition root (`services/<name>/app.py: build(...)`) and handed over as a `Service`:
its FastStream router, the streams and buckets it owns, and start/stop for its background work.
Nothing connects before `Host.start()`.

What operators see of a process is here too: each service answers the NATS service API
(services/runtime/micro.py) and its status subject with its readiness, and the process serves
/metrics, /healthz and /readyz on ENS_METRICS_PORT (services/runtime/health.py).

Just over 400 lines on purpose: start-up, readiness and shutdown of every connection a process
holds are one ordered story; split, their order would have to be read across files.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.security import NatsNKey
from nats.aio.client import Client as Nats
from nats.js import JetStreamContext
from nats.micro.service import Service as MicroService

from contracts import subjects
from contracts.client import CommandRefused, EnsClient
from contracts.common import Event, ReadinessCheck, ServiceStatus, ServiceStatusRequest
from services.runtime import health, metrics, micro, tracing
from services.runtime import nats as ens_nats
from services.runtime.clock import Clock, SystemClock
from services.runtime.errors import build_error_middleware
from services.runtime.idempotency import RequestLedger
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
    micros: dict[str, MicroService] = field(init=False, default_factory=dict)
    probe: health.ProbeServer | None = field(init=False, default=None)
    serving: bool = field(init=False, default=False)  # start-up done: status answers with readiness

    def __post_init__(self) -> None:
        metrics.set_enabled(self.settings.metrics)
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
                await self._open_request_ledger(service, js)
                await service.start(ctx)
                started.append(service)
            for broker in self.brokers.values():
                await broker.start()
            await self._await_own_subscriptions()
            self.serving = True
            for service in self.services:
                self.micros[service.name] = await micro.start(
                    self.contexts[service.name].nc,
                    service.name,
                    package_version(),
                    f"ENS {service.name} service: commands on {subjects.ROOT}.{service.name}.>",
                    self.instance,
                    _endpoints(service),
                )
            if self.settings.metrics_port:
                self.probe = health.ProbeServer(
                    self.settings.metrics_host,
                    self.settings.metrics_port,
                    {"/metrics": self._metrics_route, "/healthz": self._healthz_route, "/readyz": self._readyz_route},
                )
                await self.probe.start()
        except BaseException:
            for service in reversed(started):
                await service.stop()
            await self._close()
            raise
        metrics.BUILD.info({"version": package_version()})
        log.info("started %s as %s", ", ".join(s.name for s in self.services), self.instance)

    async def _open_request_ledger(self, service: Service, js: JetStreamContext) -> None:
        """The service's ledger of idempotency keys (`<service>_requests`), when its commands take
        them. Records count as gone after the retention on the service's clock; the bucket's TTL
        removes them a day later."""
        pipeline = getattr(service, "pipeline", None)
        if pipeline is None or not pipeline.takes_idempotency_keys:
            return
        retention = timedelta(hours=self.settings.idempotency_retention_h)
        kv = await ens_nats.ensure_kv(
            js,
            f"{service.name}_requests",
            history=1,
            replicas=self.settings.stream_replicas,
            description="idempotency keys of commands and their first replies",
            ttl_s=(retention + timedelta(days=1)).total_seconds(),
        )
        pipeline.requests = RequestLedger(
            kv, self.clock, retention, timedelta(seconds=self.settings.idempotency_lease_s), owner=self.instance
        )

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
        self.serving = False
        if self.probe is not None:
            await self.probe.stop()
            self.probe = None
        for name, micro_service in list(self.micros.items()):
            try:
                await asyncio.wait_for(micro_service.stop(), 2)
            except Exception as exc:  # noqa: BLE001 - a lost connection: its subscriptions are gone with it
                log.debug("stopping %s's service API failed: %s", name, exc)
        self.micros = {}
        for broker in self.brokers.values():
            await broker.stop()
        for service in reversed(self.services):
            pipeline = getattr(service, "pipeline", None)
            if pipeline is not None:
                await pipeline.drain()  # audit records of done changes still being retried
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

    async def status(self, service: Service) -> ServiceStatus:
        if not self.serving:  # start-up asking its own subscriptions: up is all it needs to know
            return ServiceStatus(
                service=service.name,
                instance=self.instance,
                version=package_version(),
                started_at=self.started_at,
                owns=service.owns(),
            )
        checks = await self.readiness(service)
        return ServiceStatus(
            service=service.name,
            instance=self.instance,
            version=package_version(),
            started_at=self.started_at,
            owns=service.owns(),
            ready=all(c.ok for c in checks),
            checks=[ReadinessCheck(name=c.name, ok=c.ok, detail=c.detail) for c in checks],
            metrics_port=self.probe.port if self.probe else None,
        )

    # ---- readiness and metrics ----------------------------------------------------------------

    async def readiness(self, service: Service, timeout: float = 2.0) -> list[health.Check]:
        """Connected on both connections, command subscriptions active, every stream, bucket and
        consumer present, fetch loops fetching. Also refreshes the consumer-lag gauges."""
        ctx = self.contexts.get(service.name)
        if ctx is None:
            return [health.Check("started", False, "not started")]
        broker = self.brokers[service.name]
        checks = [
            health.Check("nats", ctx.nc.is_connected, _connection_state(ctx.nc)),
            _broker_check(broker),
        ]
        if not ctx.nc.is_connected:
            metrics.READY.labels(service.name).set(0)
            return checks
        loops = health.loops_of(ctx.nc)
        stores = [subjects.EVENTS_STREAM, subjects.AUDIT_STREAM] + [
            f"KV_{item.removeprefix('kv:')}" for item in service.owns() if item.startswith("kv:")
        ]
        remote = [self._stream_check(ctx.js, name, timeout) for name in stores]
        remote += [self._consumer_check(ctx.js, loop, timeout) for loop in loops]
        checks += await asyncio.gather(*remote)
        checks += [loop.check() for loop in loops]
        metrics.READY.labels(service.name).set(1 if all(c.ok for c in checks) else 0)
        return checks

    @staticmethod
    async def _stream_check(js: JetStreamContext, stream: str, timeout: float) -> health.Check:
        try:
            await asyncio.wait_for(js.stream_info(stream), timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer: not ready
            return health.Check(f"stream:{stream}", False, f"{exc.__class__.__name__}: {exc}"[:200])
        return health.Check(f"stream:{stream}", True)

    @staticmethod
    async def _consumer_check(js: JetStreamContext, loop: health.FetchLoop, timeout: float) -> health.Check:
        name = f"consumer:{loop.stream}/{loop.consumer}"
        try:
            info = await asyncio.wait_for(js.consumer_info(loop.stream, loop.consumer), timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer: not ready
            return health.Check(name, False, f"{exc.__class__.__name__}: {exc}"[:200])
        pending, ack_pending = info.num_pending or 0, info.num_ack_pending or 0
        if loop.kind == "outbox":
            metrics.OUTBOX_LAG.labels(loop.stream.removeprefix("KV_")).set(pending + ack_pending)
        else:
            metrics.CONSUMER_PENDING.labels(loop.consumer).set(pending)
            metrics.CONSUMER_ACK_PENDING.labels(loop.consumer).set(ack_pending)
        return health.Check(name, True)

    async def _readyz_route(self) -> tuple[int, str, bytes]:
        lines, ready = [], True
        for service, checks in zip(self.services, await asyncio.gather(*(self.readiness(s) for s in self.services)), strict=True):
            for c in checks:
                ready = ready and c.ok
                lines.append(f"{service.name} {c.name} {'ok' if c.ok else 'FAIL ' + c.detail}")
        body = ("ready\n" if ready else "not ready\n") + "\n".join(lines) + "\n"
        return (200 if ready else 503), "text/plain; charset=utf-8", body.encode()

    async def _healthz_route(self) -> tuple[int, str, bytes]:
        return 200, "text/plain; charset=utf-8", b"ok\n"

    async def _metrics_route(self) -> tuple[int, str, bytes]:
        # Gauges of what lives in NATS (consumer lag, readiness) are read now, for this scrape.
        await asyncio.gather(*(self.readiness(s) for s in self.services))
        return 200, metrics.CONTENT_TYPE_LATEST, metrics.exposition()


def _endpoints(service: Service) -> micro.Endpoints:
    """The commands the service's pipeline serves, and its status subject."""
    pipeline = getattr(service, "pipeline", None)
    found = getattr(pipeline, "endpoints", None)
    endpoints = found if isinstance(found, micro.Endpoints) else micro.Endpoints(service.name)
    endpoints.add("ServiceStatusRequest", subjects.status(service.name))
    return endpoints


def _connection_state(nc: Nats) -> str:
    if nc.is_connected:
        return ""
    return "reconnecting" if nc.is_reconnecting else "closed" if nc.is_closed else "not connected"


def _broker_check(broker: NatsBroker) -> health.Check:
    """The broker holding the command subscriptions: connected, and every subscriber running."""
    connection = broker._connection
    if connection is None or not connection.is_connected:
        return health.Check("commands", False, "command connection not connected")
    idle = [str(getattr(sub, "subject", "?")) for sub in broker.subscribers if not sub.running]
    if idle:
        return health.Check("commands", False, f"not subscribed: {', '.join(idle[:3])}")
    return health.Check("commands", True)


def build_broker(
    services: list[Service],
    settings: RuntimeSettings,
    host: Host | None = None,
    clock: Clock | None = None,
    identity: str | None = None,
) -> NatsBroker:
    """One FastStream broker for the services' command subscriptions; connected as `identity`
    (None only for a broker built without connecting, e.g. in a unit test)."""
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
        middlewares=[tracing.TraceMiddleware, build_error_middleware("ens", clock or SystemClock())],
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
        return await host.status(service)

    return router
