"""Time-driven jobs: what exists, run one for any date, see when each runs next."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from contracts import subjects as s
from contracts.common import Command, Event, Message, Reply

SERVICE = "scheduler"


class JobName(StrEnum):
    ACTIVATE_REGISTRATIONS = "activate_registrations"  # 09:00 JST, mail 1
    PASSWORD_EXPIRY_WARNINGS = "password_expiry_warnings"  # mail 5, 30 and 7 days before
    EXPIRE_ACCOUNTS = "expire_accounts"  # 1 year unused
    PURGE_FILINGS = "purge_filings"  # retention


class JobRun(Reply):
    job: JobName
    as_of: AwareDatetime
    business_day: date = Field(description="The JST day the run counts for; one run per job and day.")
    ran: bool = Field(description="False when this job had already run for that day (nothing was done twice).")
    processed: int = 0
    changed: int = 0
    error: str | None = None
    status: str | None = Field(
        default=None,
        description="done, failed (retried by the next tick or RunJob) or running (claimed by a replica now).",
    )
    details: dict[str, int] = Field(default_factory=dict, description="Counts reported by the service that did the work.")
    attempt: int | None = Field(default=None, description="How many times the day was claimed (retries, takeovers, forced runs).")
    finished_at: AwareDatetime | None = Field(default=None, description="When the run ended (UTC).")


class RunJob(Command[JobRun]):
    """Run a job as of a time (catch-up, operators, tests). Idempotent per (job, business day)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "run_job")
    job: JobName
    as_of: AwareDatetime
    force: bool = Field(
        default=False,
        description="Run again even if the day already ran, and accept an as_of in the future (otherwise refused: it would do that day's work now).",
    )


class JobInfo(Message):
    job: JobName
    schedule: str = Field(description="Cron expression, Asia/Tokyo.")
    next_run_at: AwareDatetime | None = None
    last_run: JobRun | None = None


class JobList(Reply):
    jobs: list[JobInfo]


class ListJobs(Command[JobList]):
    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "list_jobs")


COMMANDS: tuple[type[Command[Any]], ...] = (RunJob, ListJobs)
EVENTS: tuple[type[Event], ...] = ()
