"""The common shape of a service object: a router with its handler table mounted, what it owns,
start and stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic

from faststream.nats import NatsRouter
from nats.js import JetStreamContext

from contracts.common import Event
from services.runtime.audit import Auditor
from services.runtime.host import ServiceContext
from services.runtime.pipeline import D, HandlerTable, P, Pipeline, ReplayTable, mount
from services.runtime.settings import RuntimeSettings


class ServiceBase(Generic[D, P]):
    """Subclasses set `name` and `events`, pass their handler table (and, if their commands take a
    session, how to resolve one) to `__init__`, and in `start` declare their buckets and streams,
    build their ports and hand them to `bind`."""

    name: str = ""
    events: tuple[type[Event], ...] = ()

    def __init__(
        self,
        runtime: RuntimeSettings,
        table: HandlerTable[D, P] | None = None,
        resolve: Callable[[D, str], Awaitable[P]] | None = None,
        replays: ReplayTable[D, P] | None = None,
    ) -> None:
        self.runtime = runtime
        self.router = NatsRouter()
        self.pipeline: Pipeline[D, P] = Pipeline(self.name, resolve)
        if table is not None:
            mount(self.router, self.pipeline, table, concurrency=runtime.command_concurrency, replays=replays)
        self._ctx: ServiceContext | None = None

    @property
    def ctx(self) -> ServiceContext:
        if self._ctx is None:
            raise RuntimeError(f"{self.name} service used before start()")
        return self._ctx

    @property
    def deps(self) -> D:
        return self.pipeline.deps

    @property
    def identity(self) -> str:  # a property: the Service protocol only reads it
        """The NATS identity it connects as (services/runtime/identities.py)."""
        return self.name

    def owns(self) -> list[str]:
        return []

    def auditor(self, js: JetStreamContext | None = None) -> Auditor:
        ctx = self.ctx
        return Auditor(js or ctx.js, self.name, ctx.clock)

    def bind(self, deps: D) -> None:
        """The started ports reach the use cases: from now on commands run."""
        self.pipeline.bind(deps, self.auditor())

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def stop(self) -> None:
        self.pipeline.unbind()
        self._ctx = None
