"""APScheduler 3 as the scheduler's alarm clock: it only says "now"; runs.py decides what happens.

Two replicas both fire at 09:00; the run ledger's claim makes one of them do the work. The
periodic tick retries a failed or abandoned run of today within the catch-up grace.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from services.runtime.clock import JST
from services.scheduler.runs import JobRunner
from services.scheduler.settings import SchedulerSettings


class CronTriggers:
    def __init__(self, runner: JobRunner, settings: SchedulerSettings) -> None:
        grace = int(timedelta(hours=settings.catch_up_grace_hours).total_seconds())
        self._scheduler = AsyncIOScheduler(timezone=JST)
        for spec in runner.jobs.values():
            self._scheduler.add_job(
                runner.run_if_due,
                spec.trigger(),
                args=[spec.name],
                id=spec.name.value,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=grace,
            )
        self._scheduler.add_job(
            runner.tick,
            IntervalTrigger(seconds=settings.retry_interval_s, timezone=JST),
            id="retry",
            coalesce=True,
            max_instances=1,
        )

    def next_fire_times(self) -> dict[str, datetime | None]:
        """When APScheduler will next fire each job (for status and tests)."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            # Cancels runs in flight; their claims stay `started` and are taken over after the lease.
            self._scheduler.shutdown(wait=False)
