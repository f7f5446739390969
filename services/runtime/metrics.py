"""The suite's Prometheus metrics: one definition of each, and the hooks that move them.

Names follow Prometheus's conventions (`ens_` prefix, base units in the name: `_seconds`,
`_total` for counters). Labels are closed sets only — service, command class, error code, mail
type, status, job, bucket, consumer — never an auth ID, an address or anything a person typed,
so a metric can neither leak personal data nor grow without bound.

Services never touch a metric object: they call the hook functions below (a line each), which do
nothing while metrics are off (`ENS_METRICS=false`, for measuring what they cost). Gauges of
state that lives in NATS (consumer lag) are read when Prometheus scrapes (`host.py`), not polled.

The metric objects live in prometheus-client's default registry, with its process metrics
(`process_cpu_seconds_total`, `process_resident_memory_bytes`): one process, one registry,
however many services it hosts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, Info, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]

_enabled = True


def set_enabled(on: bool) -> None:
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


# Commands take from ~1 ms (a status) to ~100 ms (a login's argon2id) to seconds (a job's batch).
_COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
_SMTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

BUILD = Info("ens_build", "Version of the suite this process runs.")
COMMANDS = Counter(
    "ens_commands",
    "Commands handled, by service, command and outcome (`ok` or the error code).",
    ["service", "command", "outcome"],
)
COMMAND_DURATION = Histogram(
    "ens_command_duration_seconds",
    "Time from a command's decoding to its reply, audit record included.",
    ["service", "command"],
    buckets=_COMMAND_BUCKETS,
)
READY = Gauge("ens_service_ready", "1 when this replica of the service is ready (its /readyz checks pass), else 0.", ["service"])
OUTBOX_PUBLISHED = Counter(
    "ens_outbox_events_published",
    "Domain events the outbox relay published that the event stream took as new (duplicates not counted).",
    ["bucket"],
)
OUTBOX_LAG = Gauge(
    "ens_outbox_relay_lag_revisions",
    "Bucket revisions the outbox relay has not yet published and acked (its consumer's pending + ack-pending).",
    ["bucket"],
)
CONSUMER_PENDING = Gauge(
    "ens_notifier_consumer_pending_events",
    "Events on ENS_EVENTS not yet delivered to any notifier replica (the consumer's lag).",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "ens_notifier_consumer_ack_pending_events",
    "Events delivered to a notifier replica and not yet acked: in flight, or waiting out a retry delay.",
    ["consumer"],
)
MAILS = Counter(
    "ens_notifier_mails",
    "Mail attempts by mail type and the status they ended in (sent, retrying, failed).",
    ["mail_type", "status"],
)
SMTP_DURATION = Histogram(
    "ens_notifier_smtp_attempt_duration_seconds",
    "One SMTP transaction, by outcome (ok, temporary, permanent).",
    ["outcome"],
    buckets=_SMTP_BUCKETS,
)
RETRIES_WAITING = Gauge(
    "ens_notifier_retries_waiting",
    "Events this replica handed back for a later retry whose delay has not passed yet (sum over replicas).",
)
JOB_RUNS = Counter("ens_scheduler_job_runs", "Job runs by job and result (done, failed).", ["job", "result"])
JOB_LAST_SUCCESS = Gauge(
    "ens_scheduler_job_last_success_timestamp_seconds",
    "When the job last finished successfully (Unix time, by the service's clock).",
    ["job"],
)
PASSWORD_HASHES = Counter(
    "ens_auth_password_hashes",
    "argon2id computations (hash: a new password; verify: a login or password check); rate() is hashes per second.",
    ["operation"],
)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


# ---- hooks ---------------------------------------------------------------------------------


def command_done(service: str, command: str, outcome: str, seconds: float) -> None:
    if _enabled:
        COMMANDS.labels(service, command, outcome).inc()
        COMMAND_DURATION.labels(service, command).observe(seconds)


def events_published(bucket: str, count: int) -> None:
    if _enabled and count:
        OUTBOX_PUBLISHED.labels(bucket).inc(count)


def mail_settled(mail_type: str, status: str) -> None:
    if _enabled:
        MAILS.labels(mail_type, status).inc()


@contextmanager
def smtp_attempt(temporary: type[BaseException]) -> Iterator[None]:
    """Times one SMTP transaction; raising `temporary` makes it a temporary failure, anything
    else raised a permanent one."""
    if not _enabled:
        yield
        return
    outcome = "ok"
    started = time.perf_counter()
    try:
        yield
    except temporary:
        outcome = "temporary"
        raise
    except BaseException:
        outcome = "permanent"
        raise
    finally:
        SMTP_DURATION.labels(outcome).observe(time.perf_counter() - started)


class _RetryBoard:
    """When each event handed back for a retry is due, so the gauge counts those still waiting."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}

    def waiting(self, key: str, delay: float) -> None:
        now = time.monotonic()
        self._due[key] = now + delay
        if len(self._due) > 10_000:  # forget the past ones now and then
            self._due = {k: t for k, t in self._due.items() if t > now}

    def count(self) -> int:
        now = time.monotonic()
        return sum(1 for t in self._due.values() if t > now)


_RETRIES = _RetryBoard()
RETRIES_WAITING.set_function(_RETRIES.count)


def retry_waiting(event_id: str, delay: float) -> None:
    if _enabled:
        _RETRIES.waiting(event_id, delay)


def job_run(job: str, result: str, finished_at: float | None = None) -> None:
    """A job run ended with `result` (`done` is a success) at `finished_at` (Unix time)."""
    if _enabled:
        JOB_RUNS.labels(job, result).inc()
        if result == "done":
            JOB_LAST_SUCCESS.labels(job).set(finished_at if finished_at is not None else time.time())


def password_hashed(operation: str) -> None:
    if _enabled:
        PASSWORD_HASHES.labels(operation).inc()
