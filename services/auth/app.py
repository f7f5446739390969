"""Composition root of the auth service: builds it from settings; nothing connects at import."""

from __future__ import annotations

from contracts import auth as contract
from services.runtime.clock import Clock
from services.runtime.host import ServiceContext
from services.runtime.nats import ensure_kv
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings, load_settings
from services.auth.settings import AuthSettings

BUCKETS = ("auth_accounts",)


class AuthService(ServiceBase):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(self, runtime: RuntimeSettings, settings: AuthSettings, clock: Clock) -> None:
        super().__init__()
        self.runtime = runtime
        self.settings = settings
        self.clock = clock

    def owns(self) -> list[str]:
        return [f"kv:{b}" for b in BUCKETS]

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        for bucket in BUCKETS:
            await ensure_kv(ctx.js, bucket, history=64, replicas=self.runtime.stream_replicas)


def build(runtime: RuntimeSettings, clock: Clock) -> AuthService:
    return AuthService(runtime, load_settings(AuthSettings), clock)
