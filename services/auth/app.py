"""Composition root of the auth service: builds it from settings; nothing connects at import."""

from __future__ import annotations

from datetime import timedelta

from contracts import auth as contract
from services.auth import handlers
from services.auth.accounts import Accounts
from services.auth.adapters import kv
from services.auth.notices import Notices
from services.auth.passwords import Passwords
from services.auth.sessions import Sessions
from services.auth.settings import AuthSettings
from services.runtime.audit import Auditor
from services.runtime.clock import Clock
from services.runtime.host import ServiceContext
from services.runtime.nats import ensure_kv
from services.runtime.outbox import OutboxRelay, OutboxStore
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings, load_settings

# Accounts keep 64 revisions for the outbox relay's margin; the rest need only the latest value.
HISTORY = {kv.ACCOUNTS: 64, kv.ORGANISATIONS: 1, kv.NOTICES: 1, kv.INDEX: 1}
EXPIRING = (kv.SESSIONS, kv.UNKNOWN_LOGINS)
BUCKETS = (*HISTORY, *EXPIRING)


class AuthService(ServiceBase):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(self, runtime: RuntimeSettings, settings: AuthSettings, clock: Clock) -> None:
        super().__init__(runtime)
        self.runtime = runtime
        self.settings = settings
        self.clock = clock
        # Hashing the dummy password takes a moment: once per replica, not per login.
        self.passwords = Passwords(settings.hash_parameters(), threads=settings.hash_threads)
        self._accounts: Accounts | None = None
        self._relay: OutboxRelay | None = None
        self._feed: kv.NoticeFeed | None = None
        handlers.register(self.router, self.accounts)

    def accounts(self) -> Accounts:
        if self._accounts is None:
            raise RuntimeError("auth service used before start()")
        return self._accounts

    def owns(self) -> list[str]:
        return [f"kv:{b}" for b in BUCKETS]

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        replicas = self.runtime.stream_replicas
        buckets = {b: await ensure_kv(ctx.js, b, history=h, replicas=replicas) for b, h in HISTORY.items()}
        periods = self.settings.periods()
        # A session is dead after its absolute timeout; an unknown ID's count matters while a lock may last.
        buckets[kv.SESSIONS] = await kv.ensure_expiring_kv(
            ctx.js, kv.SESSIONS, ttl_s=(periods.session_absolute + timedelta(hours=1)).total_seconds(), replicas=replicas
        )
        buckets[kv.UNKNOWN_LOGINS] = await kv.ensure_expiring_kv(
            ctx.js, kv.UNKNOWN_LOGINS, ttl_s=(periods.lockout + timedelta(days=7)).total_seconds(), replicas=replicas
        )

        def store(bucket: str) -> OutboxStore:
            return OutboxStore(buckets[bucket], source=self.name, bucket=bucket, clock=self.clock)

        self._feed = kv.NoticeFeed(buckets[kv.NOTICES])
        await self._feed.start()
        self._accounts = Accounts(
            accounts=store(kv.ACCOUNTS),
            organisations=store(kv.ORGANISATIONS),
            unknown_logins=store(kv.UNKNOWN_LOGINS),
            index=kv.DueIndex(buckets[kv.INDEX], ctx.js),
            sessions=Sessions(store(kv.SESSIONS), periods),
            notices=Notices(store(kv.NOTICES), self._feed),
            passwords=self.passwords,
            audit=Auditor(ctx.js, self.name, self.clock),
            clock=self.clock,
            operator_token=self.settings.operator_token.get_secret_value(),
            periods=periods,
        )
        self._relay = OutboxRelay(ctx.js, kv.ACCOUNTS)
        await self._relay.start()

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None
        if self._feed is not None:
            await self._feed.stop()
            self._feed = None
        self._accounts = None
        await super().stop()


def build(runtime: RuntimeSettings, clock: Clock) -> AuthService:
    return AuthService(runtime, load_settings(AuthSettings), clock)
