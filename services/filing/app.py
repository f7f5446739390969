"""Composition root of the filing service: builds it from the settings it is given; nothing
connects at import, nothing reads the environment."""

from __future__ import annotations

from contracts import filing as contract
from services.filing.adapters.cipher import PersonCipher
from services.filing.adapters.contacts import AuthContacts
from services.filing.adapters.sessions import SessionGate
from services.filing.adapters.store import BUCKETS, COUNTERS, FILINGS, INDEX, KvFilingStore
from services.filing.domain.lifecycle import Caller
from services.filing.handlers import HANDLERS, REPLAYS
from services.filing.ports import FilingDeps
from services.filing.settings import FilingSettings
from services.runtime.clock import Clock
from services.runtime.host import ServiceContext
from services.runtime.nats import ensure_kv
from services.runtime.outbox import BUCKET_HISTORY, Outbox
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings


async def resolve(deps: FilingDeps, token: str) -> Caller:
    """The pipeline's principal step: auth says who holds the session (briefly cached)."""
    return await deps.sessions.caller(token)


class FilingService(ServiceBase[FilingDeps, Caller]):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(self, runtime: RuntimeSettings, settings: FilingSettings, clock: Clock) -> None:
        super().__init__(runtime, HANDLERS, resolve, REPLAYS)
        self.settings = settings
        self.clock = clock
        self.cipher = PersonCipher(settings.key_ring())  # a bad key ring fails here, before start
        self._outbox: Outbox | None = None

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
        outbox = Outbox(filings, ctx.js, source=self.name, bucket=FILINGS, clock=self.clock, runtime=self.runtime)
        self.bind(
            FilingDeps(
                store=KvFilingStore(outbox.store, index, counters),
                sessions=SessionGate(ctx.client, self.settings.session_cache_s),
                contacts=AuthContacts(ctx.client),
                cipher=self.cipher,
                clock=self.clock,
                settings=self.settings,
            )
        )
        await outbox.start()
        self._outbox = outbox

    async def stop(self) -> None:
        if self._outbox is not None:
            await self._outbox.stop()
            self._outbox = None
        await super().stop()


def build(runtime: RuntimeSettings, settings: FilingSettings, clock: Clock) -> FilingService:
    return FilingService(runtime, settings, clock)
