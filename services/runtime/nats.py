"""One way to connect to NATS and to declare streams and buckets, idempotently, at start-up."""

from __future__ import annotations

import logging

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


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)


async def ensure_kv(
    js: JetStreamContext, bucket: str, *, history: int = 1, replicas: int = 1, description: str | None = None
) -> KeyValue:
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
