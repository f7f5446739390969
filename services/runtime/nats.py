"""One way to connect to NATS and to declare streams and buckets, idempotently, at start-up."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
import nats.js.errors
from nats.aio.client import Client as Nats
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from contracts import subjects
from services.runtime import identities
from services.runtime.audit import MAX_RECORD_BYTES as AUDIT_MAX_RECORD_BYTES
from services.runtime.settings import RuntimeSettings

log = logging.getLogger("ens.nats")


def tls_context(settings: RuntimeSettings) -> ssl.SSLContext | None:
    """A client TLS context that verifies the server's certificate (against ENS_NATS_TLS_CA_FILE,
    else the system's CAs) when the URLs say tls:// or a CA is configured; else None."""
    if settings.nats_tls_ca_file is None and not any(u.startswith("tls://") for u in settings.nats_servers):
        return None
    context = ssl.create_default_context(cafile=str(settings.nats_tls_ca_file) if settings.nats_tls_ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def identity_options(settings: RuntimeSettings, identity: str) -> dict[str, Any]:
    """How `identity` proves who it is (its nkey seed), where its replies come (its own inbox
    prefix, the only one its permissions let it read), and TLS."""
    options: dict[str, Any] = {
        "nkeys_seed_str": settings.seed_file(identity).read_text().strip(),
        "inbox_prefix": identities.inbox_prefix(identity),
    }
    context = tls_context(settings)
    if context is not None:
        options["tls"] = context
    return options


class BusRefused(Exception):
    """NATS refused this process: its certificate check or its credential. One line naming the setting."""


def refusal(settings: RuntimeSettings, identity: str, exc: BaseException) -> BusRefused | None:
    """The one-line reason when `exc` means the bus refused us (not merely: not reachable)."""
    if isinstance(exc, ssl.SSLError):
        return BusRefused(
            f"TLS to NATS at {settings.nats_url} failed (ENS_NATS_TLS_CA_FILE): {exc.reason or exc.__class__.__name__}"
        )
    if "authorization violation" in str(exc).lower():
        setting = "ENS_NATS_NKEY_SEED_FILE" if settings.nats_nkey_seed_file else "ENS_NATS_CREDENTIALS_DIR"
        return BusRefused(f"NATS at {settings.nats_url} refused identity '{identity}' ({setting})")
    return None


async def check_admission(settings: RuntimeSettings, identity: str) -> None:
    """One connection attempt with no retry, so a wrong CA or credential stops start-up with one
    line instead of an endless reconnect loop; an unreachable server is left to the caller."""

    async def quiet(_: Exception) -> None:
        pass

    try:
        nc = await nats.connect(
            servers=settings.nats_servers,
            allow_reconnect=False,
            connect_timeout=2,
            error_cb=quiet,
            **identity_options(settings, identity),
        )
    except Exception as exc:  # noqa: BLE001 - sorted into refused (raised) and unreachable (the caller retries)
        refused = refusal(settings, identity, exc)
        if refused is not None:
            raise refused from None
        return
    await nc.close()


async def connect(settings: RuntimeSettings, name: str, identity: str) -> Nats:
    """Connect as `identity`, with endless reconnects: a NATS restart must not end a service."""
    await check_admission(settings, identity)

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
        **identity_options(settings, identity),
    )


async def connect_as(settings: RuntimeSettings, identity: str, **options: Any) -> Nats:
    """A plain connection as `identity` (tools, benches, tests): nats-py's defaults, no endless
    reconnect, errors raised to the caller instead of printed."""

    async def quiet(_: Exception) -> None:
        pass

    options.setdefault("error_cb", quiet)
    if "max_reconnect_attempts" not in options:  # a caller that names its reconnects wants them
        options.setdefault("allow_reconnect", False)
    try:
        return await nats.connect(servers=settings.nats_servers, **identity_options(settings, identity), **options)
    except Exception as exc:
        refused = refusal(settings, identity, exc)
        if refused is not None:
            raise refused from None
        raise


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
    js: JetStreamContext,
    bucket: str,
    *,
    history: int = 1,
    replicas: int = 1,
    description: str | None = None,
    ttl_s: float | None = None,
) -> KeyValue:
    """Open the bucket, or create it; `ttl_s` makes entries vanish that long after their last write."""
    return await until_jetstream_answers(
        lambda: _ensure_kv(js, bucket, history=history, replicas=replicas, description=description, ttl_s=ttl_s),
        f"bucket {bucket}",
    )


async def _ensure_kv(
    js: JetStreamContext, bucket: str, *, history: int, replicas: int, description: str | None, ttl_s: float | None
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
                ttl=ttl_s,
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
            # Stated retention (settings, docs/SECURITY.md): by age and size, oldest first; no
            # record bigger than the auditor writes (services/runtime/audit.py) gets in.
            max_age=float(settings.audit_max_age_days * 86400),
            max_bytes=settings.audit_max_bytes,
            max_msg_size=AUDIT_MAX_RECORD_BYTES,
            discard=DiscardPolicy.OLD,
            num_replicas=settings.stream_replicas,
        ),
    )


async def kv_current(
    js: JetStreamContext, bucket: str, key_filter: str = ">", *, keys_only: bool = False
) -> list[tuple[str, bytes, int]]:
    """(key, value, revision) of every live key matching `key_filter` (KV wildcards allowed).

    Reads with a short-lived pull consumer (last message per subject) that is deleted afterwards;
    `keys_only` fetches headers only (values come back empty), so the cost follows the keys.
    nats-py's watch-based `keys()`/`watch()` can signal "no more" before delivering anything when
    the server is quick and the client busy, and leave a consumer behind for 5 minutes per call.
    """
    stream = f"KV_{bucket}"
    prefix = f"$KV.{bucket}."
    sub = await js.pull_subscribe(
        prefix + key_filter,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
            headers_only=keys_only or None,
        ),
    )
    name = None
    try:
        info = await sub.consumer_info()
        name = info.name
        # The consumer starts with the last message of each key as of its creation, all at or
        # below the stream's last sequence now; anything above is a later change, delivered after
        # them in stream order. Stop there, so keys changing during the read cannot keep it going.
        last_seq = (await js.stream_info(stream)).state.last_seq
        pending = info.num_pending or 0
        current: dict[str, tuple[bytes, int, bool]] = {}
        while pending > 0:
            msgs = await sub.fetch(min(pending, 1024), timeout=10)
            for msg in msgs:
                pending = msg.metadata.num_pending
                headers = msg.headers or {}
                deleted = headers.get("KV-Operation") in ("DEL", "PURGE") or "Nats-Marker-Reason" in headers
                current[msg.subject[len(prefix) :]] = (msg.data, msg.metadata.sequence.stream, deleted)
                if msg.metadata.sequence.stream >= last_seq:
                    pending = 0
                    break
        return [(key, value, rev) for key, (value, rev, deleted) in current.items() if not deleted]
    finally:
        try:
            await sub.unsubscribe()
            if name is not None:
                await js.delete_consumer(stream, name)
        except (nats.errors.Error, nats.js.errors.Error) as exc:  # it expires by itself after a minute
            log.debug("kv_current: cleanup of %s failed: %s", name, exc)


async def end_fetch_loop(task: asyncio.Task[None] | None, sub: Any, what: str) -> None:
    """Stop a pull consumer's fetch loop and drop its subscription (the loop's own flag must be
    set first: nats-py turns a cancellation that lands in a fetch on a closed connection into
    ConnectionClosedError, which a loop would survive)."""
    if task is not None:
        task.cancel()
        try:
            await asyncio.wait_for(task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            pass
    if sub is not None:
        try:
            await sub.unsubscribe()
        except Exception:
            log.debug("%s: unsubscribe failed", what, exc_info=True)
