"""The append-only audit trail: every command, its actor, its target and its result.

A record is bounded whatever a command carried: names and values are cut to `MAX_TEXT`
characters (characters that cannot be encoded, such as lone surrogates, replaced), details to
`MAX_ITEMS` entries per list or object and `MAX_DEPTH` levels, and the whole record to
`MAX_RECORD_BYTES` — so a record always fits the stream's payload limit, and ten logins with a
megabyte of auth ID add ten small records, not megabytes. The edge (services/runtime/limits.py)
refuses such bodies before any of this runs; this bound holds even for what a use case itself
puts in its trail.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from nats.js import JetStreamContext

from contracts import subjects
from contracts.common import AuditRecord
from services.runtime.clock import Clock

log = logging.getLogger("ens.audit")

MAX_TEXT = 256
MAX_ITEMS = 50
MAX_DEPTH = 4
MAX_RECORD_BYTES = 8 * 1024


def bounded_text(value: str, limit: int = MAX_TEXT) -> str:
    """`value` cut to `limit` characters (marked with …), lone surrogates and control
    characters replaced, so it always encodes."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return _UNSAFE.sub("\ufffd", text)


_UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def bounded(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of a detail value."""
    if isinstance(value, str):
        return bounded_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())
        out = {bounded_text(str(k), 64): bounded(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        kept = [bounded(v, depth + 1) for v in seq[:MAX_ITEMS]]
        if len(seq) > MAX_ITEMS:
            kept.append(f"… {len(seq) - MAX_ITEMS} more")
        return kept
    return bounded_text(str(value))


def bounded_record(record: AuditRecord) -> bytes:
    """The record's JSON, within MAX_RECORD_BYTES: details dropped (and said so) if they alone
    would take it over."""
    safe = record.model_copy(
        update={
            "service": bounded_text(record.service, 64),
            "command": bounded_text(record.command, 128),
            "actor": bounded_text(record.actor) if record.actor is not None else None,
            "target": bounded_text(record.target) if record.target is not None else None,
            "result": bounded_text(record.result, 64),
            "details": bounded(record.details),
        }
    )
    data = safe.model_dump_json().encode()
    if len(data) > MAX_RECORD_BYTES:
        data = (
            safe.model_copy(update={"details": {"truncated": True, "keys": sorted(safe.details)[:MAX_ITEMS]}})
            .model_dump_json()
            .encode()
        )
    return data


class Auditor:
    def __init__(self, js: JetStreamContext, service: str, clock: Clock) -> None:
        self._js = js
        self._service = service
        self._clock = clock
        self._subject = subjects.audit(service)

    async def record(
        self,
        command: str,
        *,
        actor: str | None,
        target: str | None,
        result: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one record and wait for the stream's ack, so a command is never unaudited."""
        record = AuditRecord(
            at=self._clock.now(),
            service=self._service,
            command=command,
            actor=actor,
            target=target,
            result=result,
            details=details or {},
        )
        await self._js.publish(self._subject, bounded_record(record), timeout=5)
