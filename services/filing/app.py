"""Composition root of the filing service: builds it from settings; nothing connects at import."""

from __future__ import annotations

from datetime import timedelta

from contracts import filing as contract
from services.filing import handlers
from services.filing.adapters.sessions import SessionGate
from services.filing.adapters.store import BUCKETS, COUNTERS, FILINGS, INDEX, FilingStore
from services.filing.desk import FilingDesk
from services.filing.protection import PersonCipher
from services.filing.settings import FilingSettings
from services.runtime.audit import Auditor
from services.runtime.clock import Clock
from services.runtime.host import ServiceContext
from services.runtime.nats import ensure_kv
from services.runtime.outbox import BUCKET_HISTORY, OutboxRelay, OutboxStore
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings, load_settings


class FilingService(ServiceBase):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(self, runtime: RuntimeSettings, settings: FilingSettings, clock: Clock) -> None:
        super().__init__(runtime)
        self.runtime = runtime
        self.settings = settings
        self.clock = clock
        self.cipher = PersonCipher(settings.key_ring())  # a bad key ring fails here, before start
        self._desk: FilingDesk | None = None
        self._auditor: Auditor | None = None
        self._relay: OutboxRelay | None = None
        handlers.register(self)

    @property
    def desk(self) -> FilingDesk:
        if self._desk is None:
            raise RuntimeError("filing service used before start()")
        return self._desk

    @property
    def auditor(self) -> Auditor:
        if self._auditor is None:
            raise RuntimeError("filing service used before start()")
        return self._auditor

    def owns(self) -> list[str]:
        return [f"kv:{b}" for b in BUCKETS]

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        replicas = self.runtime.stream_replicas
        filings = await ensure_kv(
            ctx.js, FILINGS, history=BUCKET_HISTORY, replicas=replicas, description="filings (personal data encrypted)"
        )
        index = await ensure_kv(ctx.js, INDEX, history=1, replicas=replicas, description="per-organisation filing history index")
        counters = await ensure_kv(
            ctx.js, COUNTERS, history=1, replicas=replicas, description="reception number counters per JST day"
        )
        keep_for = self.runtime.events_duplicate_window_s / 2
        outbox = OutboxStore(
            filings, js=ctx.js, source=self.name, bucket=FILINGS, clock=self.clock, keep_events_for=timedelta(seconds=keep_for)
        )
        store = FilingStore(outbox, index, counters)
        self._auditor = Auditor(ctx.js, self.name, self.clock)
        self._desk = FilingDesk(
            store, SessionGate(ctx.client, self.settings.session_cache_s), self.cipher, self.clock, self.settings
        )
        self._relay = OutboxRelay(ctx.js, FILINGS)
        await self._relay.start()

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None
        self._desk = None
        await super().stop()


def build(runtime: RuntimeSettings, clock: Clock) -> FilingService:
    return FilingService(runtime, load_settings(FilingSettings), clock)
