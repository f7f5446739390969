"""Composition root of the notifier service: builds it from the settings it is given; nothing
connects at import, nothing reads the environment."""

from __future__ import annotations

import logging
from datetime import timedelta

from contracts import notifier as contract
from services.notifier.adapters.auth_client import AuthClient
from services.notifier.adapters.flags_kv import FLAGS_BUCKET, KvFlags, open_flags
from services.notifier.adapters.ledger_kv import BUCKET, KvLedger, LedgerRelay, installation_id, open_bucket
from services.notifier.adapters.mails_kv import MAILS_BUCKET, KvMails, open_mails
from services.notifier.adapters.smtp import SmtpMailer
from services.notifier.delivery import Deliverer
from services.notifier.domain.rendering import Renderer
from services.notifier.domain.retry import RetryPolicy
from services.notifier.entrypoints.consumer import EventConsumer
from services.notifier.handlers import HANDLERS
from services.notifier.ports import Mailer, NotifierDeps
from services.notifier.settings import NotifierSettings, SmtpSettings
from services.runtime.clock import Clock
from services.runtime.errors import Unauthenticated
from services.runtime.host import ServiceContext
from services.runtime.pipeline import Principal
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings

log = logging.getLogger("ens.notifier")

BUCKETS = (BUCKET, MAILS_BUCKET, FLAGS_BUCKET)


async def resolve(deps: NotifierDeps, token: str) -> Principal:
    """The pipeline's principal step (ResendMail): auth says who holds the session."""
    if deps.sessions is None:
        raise Unauthenticated()
    return await deps.sessions.caller(token)


class NotifierService(ServiceBase[NotifierDeps, Principal]):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(
        self,
        runtime: RuntimeSettings,
        settings: NotifierSettings,
        smtp: SmtpSettings,
        clock: Clock,
        mailer: Mailer | None = None,
    ) -> None:
        super().__init__(runtime, HANDLERS, resolve)
        self.settings = settings
        self.smtp = smtp
        self.clock = clock
        self.renderer = Renderer(settings)  # until start() reads the installation id (Message-IDs)
        self.installation = ""
        self._mailer = mailer
        self.deliverer: Deliverer | None = None
        self.consumer: EventConsumer | None = None
        self.relay: LedgerRelay | None = None
        self.flags: KvFlags | None = None

    def owns(self) -> list[str]:
        return [f"kv:{b}" for b in BUCKETS] + [f"consumer:{self.settings.durable}"]

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        kv = await open_bucket(ctx.js, replicas=self.runtime.stream_replicas, keep_days=self.settings.log_keep_days)
        # Status events ride on the ledger's own writes (an outbox inside each mail's entry) and
        # live there while younger than half the event stream's duplicate window, as outbox.py's.
        keep_for = timedelta(seconds=self.runtime.events_duplicate_window_s / 2)
        ledger = KvLedger(kv, ctx.js, keep_events_for=keep_for)
        self.installation = await installation_id(kv)
        self.renderer = Renderer(self.settings, installation=self.installation)
        self.flags = KvFlags(await open_flags(ctx.js, replicas=self.runtime.stream_replicas), ctx.js)
        await self.flags.start()
        mails = KvMails(await open_mails(ctx.js, replicas=self.runtime.stream_replicas, keep_days=self.settings.log_keep_days))
        auth = AuthClient(ctx.client)
        self.bind(
            NotifierDeps(
                ledger=ledger,
                mails=mails,
                flags=self.flags,
                contacts=auth,
                sessions=auth,
                clock=self.clock,
                renderer=self.renderer,
            )
        )
        self.relay = LedgerRelay(ctx.js, BUCKET)
        await self.relay.start()
        if self._mailer is None:
            self._mailer = SmtpMailer(self.smtp)
        s = self.settings
        self.deliverer = Deliverer(
            ledger,
            self._mailer,
            self.renderer,
            self.clock,
            RetryPolicy(s.retry_delays_s, s.retry_every_s, timedelta(seconds=s.give_up_after_s)),
            sender=s.sender,
            lease=timedelta(seconds=s.ack_wait_s),
            instance=ctx.instance,
            bounce_domain=s.bounce_domain,
            flags=self.flags,
            mails=mails,
        )
        self.consumer = EventConsumer(ctx.js, s, self.deliverer)
        await self.consumer.start()
        if not self.smtp.host:
            log.warning("notifier: ENS_SMTP_HOST is not set; mails wait in JetStream until it is")
        log.info("notifier: delivering to %s:%s over %d connection(s)", self.smtp.host, self.smtp.port, self.smtp.pool_size)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        if isinstance(self._mailer, SmtpMailer):
            await self._mailer.close()
        if self.relay is not None:
            await self.relay.stop()  # after the consumer: the last mails' events go out first
            self.relay = None
        if self.flags is not None:
            await self.flags.stop()
            self.flags = None
        await super().stop()


def build(
    runtime: RuntimeSettings, settings: NotifierSettings, smtp: SmtpSettings, clock: Clock, mailer: Mailer | None = None
) -> NotifierService:
    return NotifierService(runtime, settings, smtp, clock, mailer)
