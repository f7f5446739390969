"""Auth's one event-driven entry point: a durable pull consumer on ENS_EVENTS for the notifier's
AddressBounced, shared by every auth replica. Each event is acked once the account is updated
(or needs no update), naked with a growing delay when the store is unavailable, and dropped
(acked, logged) when it is not the notifier's or does not fit its contract."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from contracts import subjects
from contracts.notifier import AddressBounced
from services.runtime import health
from services.runtime.nats import end_fetch_loop

log = logging.getLogger("ens.auth.bounces")
DURABLE = "auth-address-bounced"

Handle = Callable[[AddressBounced], Awaitable[bool]]


class BounceListener:
    def __init__(self, js: JetStreamContext, handle: Handle, *, batch: int = 32) -> None:
        self._js = js
        self._handle = handle
        self._batch = batch
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._beat = health.FetchLoop(DURABLE, stream=subjects.EVENTS_STREAM, consumer=DURABLE, kind="events")
        self.handled = 0

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=AddressBounced.SUBJECT,
            ack_wait=30,
            max_deliver=-1,
        )
        await self._js.add_consumer(subjects.EVENTS_STREAM, config)
        self._sub = await self._js.pull_subscribe_bind(durable=DURABLE, stream=subjects.EVENTS_STREAM)
        health.register(self._js, self._beat)
        self._task = asyncio.create_task(self._run(), name=DURABLE)

    async def stop(self) -> None:
        self._stopping = True
        self._beat.stop()
        await end_fetch_loop(self._task, self._sub, "bounce listener")
        self._task = self._sub = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                msgs = await self._sub.fetch(self._batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                self._beat.ok()
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - connection loss etc.: nothing is acked, try again
                self._beat.failed(exc)
                log.warning("bounce listener: fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            self._beat.ok()
            for msg in msgs:
                await self._one(msg)

    async def _one(self, msg: Any) -> None:
        try:
            event = AddressBounced.model_validate_json(msg.data)
        except ValidationError as exc:
            log.error("bounce listener: dropped an AddressBounced that does not fit its contract: %s", exc)
            await msg.ack()
            return
        if event.meta.source != "notifier":
            log.error("bounce listener: dropped an AddressBounced from %r (only the notifier says this)", event.meta.source)
            await msg.ack()
            return
        try:
            await self._handle(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store unavailable: the event comes back
            deliveries = msg.metadata.num_delivered if msg.metadata else 1
            log.warning("bounce listener: flagging %s failed (%s); again later", event.auth_id, exc)
            await msg.nak(delay=min(2 ** max(deliveries - 1, 0), 60))
            return
        self.handled += 1
        await msg.ack()
