"""The common shape of a service object: a router, what it owns, start and stop."""

from __future__ import annotations

from contracts.common import Event
from services.runtime.handlers import CommandRouter
from services.runtime.host import ServiceContext
from services.runtime.settings import RuntimeSettings


class ServiceBase:
    """Subclasses set `name` and `events`, register handlers on `self.router` in `__init__`,
    and declare their buckets/streams and start background work in `start`."""

    name: str = ""
    events: tuple[type[Event], ...] = ()

    def __init__(self, runtime: RuntimeSettings | None = None) -> None:
        self.router = CommandRouter(concurrency=(runtime or RuntimeSettings()).command_concurrency)
        self._ctx: ServiceContext | None = None

    @property
    def ctx(self) -> ServiceContext:
        if self._ctx is None:
            raise RuntimeError(f"{self.name} service used before start()")
        return self._ctx

    def owns(self) -> list[str]:
        return []

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def stop(self) -> None:
        self._ctx = None
