"""Composition root of the bounce intake: an SMTP listener (aiosmtpd) on the event loop of the
process, and its connection to NATS as the `bounces` identity.

It is not a `Host` service: it answers no commands and owns no streams or buckets (its identity
may publish RecordBounce and nothing else), so it needs none of the host's declarations. `ens run
bounces` runs it alone, as many times as the MTA's relay needs; `ens up` runs one beside the
services. Nothing connects or listens before `start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiosmtpd.smtp import SMTP
from nats.aio.client import Client as Nats

from contracts.client import EnsClient
from services.bounces.adapters.notifier import NatsRecorder
from services.bounces.handlers import IntakeHandler
from services.bounces.ports import BounceRecorder
from services.bounces.settings import BouncesSettings
from services.runtime import identities
from services.runtime import nats as ens_nats
from services.runtime.settings import RuntimeSettings, SettingsError

log = logging.getLogger("ens.bounces")


class Intake:
    def __init__(self, runtime: RuntimeSettings, settings: BouncesSettings, recorder: BounceRecorder | None = None) -> None:
        if settings.domain is None:
            raise SettingsError("setting ENS_NOTIFIER_BOUNCE_DOMAIN: is required by the bounce intake (the domain it receives)")
        self.domain = settings.domain
        self.runtime = runtime
        self.settings = settings
        self.host = settings.host
        self.port = settings.port
        self._recorder = recorder
        self._nc: Nats | None = None
        self._server: asyncio.base_events.Server | None = None
        self.handler: IntakeHandler | None = None

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.handler.counts) if self.handler is not None else {}

    async def start(self) -> None:
        # A detector that trips over broken MIME logs its traceback before we count the message
        # as malformed; spam would fill the log with them.
        logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
        recorder = self._recorder
        if recorder is None:
            self._nc = await ens_nats.connect(self.runtime, f"ens-bounces-{os.getpid()}", identity=identities.INTAKE)
            recorder = NatsRecorder(EnsClient(self._nc, timeout=self.settings.record_timeout_s), self.settings.record_timeout_s)
        self.handler = IntakeHandler(self.domain, recorder)
        handler = self.handler
        try:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: SMTP(
                    handler,
                    hostname=self.domain,
                    ident="ENS bounce intake",
                    data_size_limit=self.settings.max_message_bytes,
                    enable_SMTPUTF8=True,
                    decode_data=False,
                ),
                host=self.host,
                port=self.port,
            )
        except BaseException:
            await self._close_nats()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("bounce intake listening on %s:%d for %s", self.host, self.port, self.domain)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        await self._close_nats()

    async def _close_nats(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.drain()
            except Exception as exc:  # noqa: BLE001 - stopping: a connection already lost has nothing left to drain
                log.debug("bounce intake: draining NATS failed: %s", exc)
            self._nc = None


def build(runtime: RuntimeSettings, settings: BouncesSettings, recorder: BounceRecorder | None = None) -> Intake:
    return Intake(runtime, settings, recorder)
