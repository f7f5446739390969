"""The daily jobs: when each runs (Japan time) and which system command it sends.

The scheduler owns no business state: each job is one system command of auth or filing, sent
with `as_of`; those services make the work idempotent for a day, the run ledger (runs.py)
makes sure the scheduler asks once per job and business day. Pure: times and commands only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from apscheduler.triggers.cron import CronTrigger

from contracts import auth, filing
from contracts.common import Command, JobResult
from contracts.scheduler import JobName
from services.runtime.clock import JST, business_day, jst_at
from services.scheduler.settings import SchedulerSettings, parse_hhmm


@dataclass(frozen=True)
class JobSpec:
    name: JobName
    at: time  # JST wall-clock time
    target: str  # the service that does the work
    command: Callable[[datetime, bool], Command[JobResult]]  # (as_of, force)

    @property
    def cron(self) -> str:
        return f"{self.at.minute} {self.at.hour} * * *"

    def trigger(self) -> CronTrigger:
        return CronTrigger(hour=self.at.hour, minute=self.at.minute, timezone=JST)

    def scheduled_on(self, day: date) -> datetime:
        return jst_at(day, self.at)

    def next_run_after(self, now: datetime) -> datetime:
        """The next firing strictly after `now` (UTC)."""
        fire: datetime | None = self.trigger().get_next_fire_time(None, now.astimezone(JST))
        assert fire is not None  # a daily trigger without an end date always fires again
        if fire <= now:
            fire = self.trigger().get_next_fire_time(None, (now + timedelta(seconds=1)).astimezone(JST))
            assert fire is not None
        return fire.astimezone(now.tzinfo)

    def due_slot(self, now: datetime, grace: timedelta) -> datetime | None:
        """The scheduled moment (today's, or yesterday's when the grace reaches past midnight)
        that has come and is not longer than `grace` ago; None when nothing is due."""
        today = business_day(now)
        for day in (today, today - timedelta(days=1)):
            scheduled = self.scheduled_on(day)
            if scheduled <= now <= scheduled + grace:
                return scheduled
        return None

    def latest_slot(self, now: datetime) -> datetime:
        """The last scheduled moment at or before `now` (today's, else yesterday's)."""
        today = self.scheduled_on(business_day(now))
        return today if today <= now else self.scheduled_on(business_day(now) - timedelta(days=1))

    def due(self, now: datetime, grace: timedelta) -> bool:
        return self.due_slot(now, grace) is not None

    def as_of_for(self, slot: datetime, now: datetime) -> datetime:
        """A run counts for its slot's business day: `now` on that day, else the slot itself
        (a 23:00 job caught up at 01:00 is still the previous day's run)."""
        return now if business_day(now) == business_day(slot) else slot


def job_table(settings: SchedulerSettings, activation_time: time) -> dict[JobName, JobSpec]:
    """Which job sends what, and when: the scheduler's whole routing on one screen. The
    activation time is the runtime's (ENS_ACTIVATION_TIME), the one auth activates by."""
    days = list(settings.warning_days_before)
    specs = [
        JobSpec(
            JobName.ACTIVATE_REGISTRATIONS,
            activation_time,
            auth.SERVICE,
            lambda as_of, force: auth.ActivateDueRegistrations(as_of=as_of, force=force),
        ),
        JobSpec(
            JobName.PASSWORD_EXPIRY_WARNINGS,
            parse_hhmm(settings.password_warning_time),
            auth.SERVICE,
            lambda as_of, force: auth.SendPasswordExpiryWarnings(as_of=as_of, days_before=days, force=force),
        ),
        JobSpec(
            JobName.EXPIRE_ACCOUNTS,
            parse_hhmm(settings.account_expiry_time),
            auth.SERVICE,
            lambda as_of, force: auth.ExpireIdleAccounts(as_of=as_of, force=force),
        ),
        JobSpec(
            JobName.PURGE_FILINGS,
            parse_hhmm(settings.filing_purge_time),
            filing.SERVICE,
            lambda as_of, force: filing.PurgeExpiredFilings(as_of=as_of, force=force),
        ),
    ]
    table = {spec.name: spec for spec in specs}
    assert set(table) == set(JobName), "every JobName needs a spec"
    return table
