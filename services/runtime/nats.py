"""One way to connect to NATS and to declare streams and buckets, idempotently, at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
import nats.js.errors
from nats.aio.client import Client as Nats
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.kv import KeyValue

from contracts import subjects
from services.runtime.settings import RuntimeSettings

log = logging.getLogger("ens.nats")


async def connect(settings: RuntimeSettings, name: str) -> Nats:
    """Connect with endless reconnects: a NATS restart must not end a service."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats connection error (%s): %s", name, exc)

    return await nats.connect(
        servers=settings.nats_servers,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        error_cb=on_error,
    )


T = TypeVar("T")

# A cluster that is still electing its JetStream leaders answers 503 or not at all for a while.
_NOT_YET = (nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError, nats.errors.NoRespondersError)


async def until_jetstream_answers(fn: Callable[[], Awaitable[T]], what: str, within: float = 90.0) -> T:
    """Run a JetStream management call, retrying while the cluster is not ready yet."""
    deadline = asyncio.get_running_loop().time() + within
    delay = 0.2
    while True:
        try:
            return await fn()
        except _NOT_YET as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.info("JetStream not ready for %s (%s); retrying", what, exc.__class__.__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this configuration."""

    async def declare() -> None:
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await js.update_stream(config)

    await until_jetstream_answers(declare, f"stream {config.name}")


async def ensure_kv(
    js: JetStreamContext, bucket: str, *, history: int = 1, replicas: int = 1, description: str | None = None
) -> KeyValue:
    return await until_jetstream_answers(
        lambda: _ensure_kv(js, bucket, history=history, replicas=replicas, description=description), f"bucket {bucket}"
    )


async def _ensure_kv(js: JetStreamContext, bucket: str, *, history: int, replicas: int, description: str | None) -> KeyValue:
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=bucket,
                history=history,
                replicas=replicas,
                storage=StorageType.FILE,
                description=description,
            )
        )
    except nats.js.errors.BadRequestError:
        # Another replica created it first.
        return await js.key_value(bucket)


async def ensure_shared_streams(js: JetStreamContext, settings: RuntimeSettings) -> None:
    """The event stream and the audit stream; every service declares them, the first one wins."""
    await ensure_stream(
        js,
        StreamConfig(
            name=subjects.EVENTS_STREAM,
            description="ENS domain events",
            subjects=list(subjects.EVENTS_SUBJECTS),
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=float(settings.events_duplicate_window_s),
            max_age=float(settings.events_max_age_days * 86400),
            num_replicas=settings.stream_replicas,
        ),
    )
    await ensure_stream(
        js,
        StreamConfig(
            name=subjects.AUDIT_STREAM,
            description="ENS audit trail (append-only)",
            subjects=list(subjects.AUDIT_SUBJECTS),
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            deny_delete=True,
            deny_purge=True,
            num_replicas=settings.stream_replicas,
        ),
    )
