"""Structured logging: one line per record, JSON for a log collector, text for a terminal.

The suite's own loggers (`ens.*`) log at ENS_LOG_LEVEL; the libraries' (FastStream, nats-py,
APScheduler, aiosmtpd, ...) at ENS_THIRD_PARTY_LOG_LEVEL, WARNING by default, so a person reads
the suite's lines rather than every SMTP command and scheduler decision. A line written while a
message is handled carries its trace id (`trace_id`, OpenTelemetry's log field name).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from services.runtime import tracing


class _TraceFilter(logging.Filter):
    """Stamps each record with the trace of the message being handled when it was written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = tracing.current()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            out["trace_id"] = trace_id
        extra = getattr(record, "ens", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace_id = getattr(record, "trace_id", None)
        return f"{line} trace_id={trace_id}" if trace_id else line


def configure_logging(level: str = "INFO", fmt: str = "text", third_party: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_TraceFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(third_party)  # every logger but the suite's inherits this
    logging.getLogger("ens").setLevel(level)
    # FastStream logs every message at INFO, and one line per concurrent subscriber's task at
    # shutdown. A filter, not just a level: the broker sets the level of the logger it is given.
    quiet = logging.getLevelName(third_party)
    faststream = logging.getLogger("faststream")
    faststream.setLevel(quiet)
    faststream.filters[:] = [lambda record: record.levelno >= quiet]
    logging.getLogger("nats").setLevel(third_party)
