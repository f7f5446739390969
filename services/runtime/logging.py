"""Structured logging: one line per record, JSON in production, text by default."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "ens", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream logs every message at INFO, and one line per concurrent subscriber's task at
    # shutdown; keep it for warnings and errors only. A filter, not just a level: the broker may
    # set the level of the logger it is given.
    quiet = max(logging.WARNING, logging.getLevelName(level))
    faststream = logging.getLogger("faststream")
    faststream.setLevel(quiet)
    faststream.filters[:] = [lambda record: record.levelno >= quiet]
    logging.getLogger("nats").setLevel(logging.WARNING)
