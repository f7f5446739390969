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
    """One job's run for one business day: whether it ran now, what it did, how it ended."""

    job: JobName = Field(description="The job.")
    as_of: AwareDatetime = Field(description="The time the run was made as of (UTC).")
    business_day: date = Field(description="The JST day the run counts for; one run per job and day.")
    ran: bool = Field(description="False when this job had already run for that day (nothing was done twice).")
    processed: int = Field(default=0, description="How many targets were examined.")
    changed: int = Field(default=0, description="How many were changed or notified.")
    error: str | None = Field(default=None, description="Why the run failed, when it did.")
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
    job: JobName = Field(description="The job to run.")
    as_of: AwareDatetime = Field(description="Run as of this time (UTC); its JST day is the business day the run counts for.")
    force: bool = Field(
        default=False,
        description="Run again even if the day already ran, and accept an as_of in the future (otherwise refused: it would do that day's work now).",
    )


class JobInfo(Message):
    """A time-driven job: its schedule, its next run and its last run."""

    job: JobName = Field(description="The job.")
    schedule: str = Field(description="Cron expression, Asia/Tokyo.")
    next_run_at: AwareDatetime | None = Field(
        default=None, description="When its trigger fires next (UTC); absent when triggers are off."
    )
    last_run: JobRun | None = Field(default=None, description="Its latest run; absent if it never ran.")


class JobList(Reply):
    """Every time-driven job."""

    jobs: list[JobInfo] = Field(description="Every job, in a fixed order.")


class ListJobs(Command[JobList]):
    """Which time-driven jobs exist, when each runs next and how its last run ended (`ens jobs list`)."""

    SUBJECT: ClassVar[str] = s.system_command(SERVICE, "list_jobs")
    RETRY_SAFE: ClassVar[bool] = True  # only reads: a client may send it again


COMMANDS: tuple[type[Command[Any]], ...] = (RunJob, ListJobs)
EVENTS: tuple[type[Event], ...] = ()
