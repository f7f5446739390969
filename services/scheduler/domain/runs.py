"""A run's record in the run store, as pure functions: its key, its states, and what an operator
sees of it. The store keeps the documents as JSON (their format is part of the bucket's data).

    (none) --create--> started --> done           the day's work is finished; never again
                          |   \\--> failed         the command failed; the next tick retries it
                          \\-- lease expired -->   started again (attempt + 1), by CAS
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from contracts.common import JobResult
from contracts.scheduler import JobName, JobRun
from services.runtime.clock import business_day

STARTED, DONE, FAILED = "started", "done", "failed"

RunDoc = dict[str, Any]


def run_key(job: JobName, day: date) -> str:
    return f"{job.value}.{day.isoformat()}"


def last_key(job: JobName) -> str:
    return f"{job.value}.last"


def started(job: JobName, as_of: datetime, *, now: datetime, instance: str, attempt: int) -> RunDoc:
    return {
        "job": job.value,
        "day": business_day(as_of).isoformat(),
        "as_of": as_of.isoformat(),
        "status": STARTED,
        "started_at": now.isoformat(),
        "instance": instance,
        "attempt": attempt,
    }


def ended(doc: RunDoc, status: str, *, now: datetime, result: JobResult | None = None, error: str | None = None) -> RunDoc:
    out = {**doc, "status": status, "finished_at": now.isoformat(), "error": error}
    if result is not None:
        out.update(processed=result.processed, changed=result.changed, details=dict(result.details))
    return out


def is_later(doc: RunDoc, than: RunDoc) -> bool:
    """Whether `doc` is a later business day's result (or the same day's, finished later)."""
    return (doc["day"], doc.get("finished_at") or "") > (than["day"], than["finished_at"])


def to_job_run(doc: RunDoc, *, ran: bool) -> JobRun:
    return JobRun(
        job=doc["job"],
        as_of=doc["as_of"],
        business_day=doc["day"],
        ran=ran,
        processed=doc.get("processed", 0),
        changed=doc.get("changed", 0),
        error=doc.get("error"),
        status={STARTED: "running"}.get(doc["status"], doc["status"]),
        details=doc.get("details", {}),
        attempt=doc.get("attempt"),
        finished_at=doc.get("finished_at"),
    )
