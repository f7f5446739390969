"""One trace id from a command to its events to its mails.

The id is W3C Trace Context's (OpenTelemetry's): 32 lower-case hex digits, carried on NATS
messages in a `traceparent` header (`00-<trace id>-<span id>-01`). A command that arrives
without one starts a trace; the outbox records the id beside each event it causes, the relay
publishes the event with it, the notifier reads it from the event and stores it in each mail's
delivery record. While a message is handled the id sits in a context variable, so every log
line written meanwhile carries it (`trace_id`, the OpenTelemetry log field name) and tasks
started from there inherit it.

Only ids travel, no spans are exported: an OpenTelemetry collector that reads `traceparent`
joins the suite's messages to its own traces for free.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from faststream import BaseMiddleware

TRACEPARENT = "traceparent"

_trace_id: ContextVar[str | None] = ContextVar("ens_trace_id", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def new_trace_id() -> str:
    return secrets.token_hex(16)


def current() -> str | None:
    """The trace id of the message being handled, if any."""
    return _trace_id.get()


def parse(traceparent: str | None) -> str | None:
    """The trace id of a `traceparent` header; None for a missing or malformed one (or the
    all-zero id W3C declares invalid)."""
    if not traceparent:
        return None
    found = _TRACEPARENT.match(traceparent.strip().lower())
    if found is None or set(found.group(1)) == {"0"}:
        return None
    return found.group(1)


def traceparent(trace_id: str) -> str:
    """The header for a message sent on behalf of `trace_id`; each message is its own span."""
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def from_headers(headers: Mapping[str, str] | None) -> str | None:
    return parse((headers or {}).get(TRACEPARENT))


def headers(extra: dict[str, str], trace_id: str | None) -> dict[str, str]:
    """`extra` and, when there is a trace, its `traceparent`."""
    return {**extra, TRACEPARENT: traceparent(trace_id)} if trace_id else dict(extra)


@contextmanager
def use(trace_id: str | None) -> Iterator[str]:
    """Handle something as part of `trace_id` (a new trace when None)."""
    tid = trace_id or new_trace_id()
    token = _trace_id.set(tid)
    try:
        yield tid
    finally:
        _trace_id.reset(token)


def adopt(trace_id: str | None) -> str:
    """Make `trace_id` (or a new one) the current task's trace for the rest of the task: for a
    task that handles exactly one message, e.g. the notifier's per-event task."""
    tid = trace_id or new_trace_id()
    _trace_id.set(tid)
    return tid


class TraceMiddleware(BaseMiddleware):
    """Every command a broker consumes runs inside its caller's trace, or starts one."""

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        raw = getattr(msg, "raw_message", None)
        with use(from_headers(getattr(raw, "headers", None))):
            return await call_next(msg)
