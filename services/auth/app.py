"""Composition root of auth: settings in, the service out. Buckets, adapters and the outbox relay
are made in `start`, when NATS is there; nothing connects or reads the environment here."""

from __future__ import annotations

from datetime import timedelta

from contracts import auth as contract
from services.auth.adapters import kv
from services.auth.adapters.accounts import KvAccounts, KvClaims, KvUnknownLogins
from services.auth.adapters.passwords import Argon2Passwords
from services.auth.adapters.sessions import KvSessions
from services.auth.domain.session import Caller
from services.auth.entrypoints.bounces import BounceListener
from services.auth.handlers import HANDLERS, REPLAYS
from services.auth.login import resolve
from services.auth.ports import AuthDeps
from services.auth.settings import AuthSettings
from services.auth.undeliverable import address_bounced
from services.runtime.clock import Clock
from services.runtime.host import ServiceContext
from services.runtime.nats import ensure_kv
from services.runtime.outbox import KvStore, Outbox
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings

# Accounts keep 64 revisions for the outbox relay's margin; the rest need only the latest value.
HISTORY = {kv.ACCOUNTS: 64, kv.ORGANISATIONS: 1, kv.NOTICES: 1, kv.INDEX: 1}
EXPIRING = (kv.SESSIONS, kv.UNKNOWN_LOGINS)
BUCKETS = (*HISTORY, *EXPIRING)


class AuthService(ServiceBase[AuthDeps, Caller]):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(self, runtime: RuntimeSettings, settings: AuthSettings, clock: Clock) -> None:
        super().__init__(runtime, HANDLERS, resolve, REPLAYS)
        self.settings = settings
        self.clock = clock
        self.periods = settings.periods(runtime.activation_time)
        # Hashing the dummy password takes a moment: once per replica, not per login.
        self.passwords = Argon2Passwords(settings.hash_parameters(), threads=settings.hash_threads)
        self._outbox: Outbox | None = None
        self._feed: kv.NoticeFeed | None = None
        self._bounces: BounceListener | None = None

    def owns(self) -> list[str]:
        return [f"kv:{b}" for b in BUCKETS]

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        replicas = self.runtime.stream_replicas
        buckets = {b: await ensure_kv(ctx.js, b, history=h, replicas=replicas) for b, h in HISTORY.items()}
        # A session is dead after its absolute timeout; an unknown ID's count matters while a lock may last.
        buckets[kv.SESSIONS] = await kv.ensure_expiring_kv(
            ctx.js, kv.SESSIONS, ttl_s=(self.periods.session_absolute + timedelta(hours=1)).total_seconds(), replicas=replicas
        )
        buckets[kv.UNKNOWN_LOGINS] = await kv.ensure_expiring_kv(
            ctx.js, kv.UNKNOWN_LOGINS, ttl_s=(self.periods.lockout + timedelta(days=7)).total_seconds(), replicas=replicas
        )

        def plain(bucket: str) -> KvStore:
            """A bucket whose changes record no events (only accounts have a relay)."""
            return KvStore(buckets[bucket], bucket=bucket, clock=self.clock)

        outbox = Outbox(
            buckets[kv.ACCOUNTS], ctx.js, source=self.name, bucket=kv.ACCOUNTS, clock=self.clock, runtime=self.runtime
        )
        feed = kv.NoticeFeed(buckets[kv.NOTICES])
        await feed.start()
        self._feed = feed
        index = kv.KvDueIndex(buckets[kv.INDEX], ctx.js)
        self.bind(
            AuthDeps(
                accounts=KvAccounts(outbox.store, index),
                claims=KvClaims(plain(kv.ORGANISATIONS)),
                unknown_logins=KvUnknownLogins(plain(kv.UNKNOWN_LOGINS)),
                index=index,
                sessions=KvSessions(plain(kv.SESSIONS), self.periods),
                # A notice is published by its one write: it commits (records the request's key).
                notices=kv.KvNotices(KvStore(buckets[kv.NOTICES], bucket=kv.NOTICES, clock=self.clock, commits=True), feed),
                passwords=self.passwords,
                clock=self.clock,
                periods=self.periods,
                operator_token=self.settings.operator_token.get_secret_value(),
            )
        )
        await outbox.start()
        self._outbox = outbox
        deps = self.deps
        # The notifier's AddressBounced flags the registered address (undeliverable.py).
        self._bounces = BounceListener(ctx.js, lambda event: address_bounced(deps, event))
        await self._bounces.start()

    async def stop(self) -> None:
        if self._bounces is not None:
            await self._bounces.stop()
            self._bounces = None
        if self._outbox is not None:
            await self._outbox.stop()
            self._outbox = None
        if self._feed is not None:
            await self._feed.stop()
            self._feed = None
        await super().stop()


def build(runtime: RuntimeSettings, settings: AuthSettings, clock: Clock) -> AuthService:
    return AuthService(runtime, settings, clock)
