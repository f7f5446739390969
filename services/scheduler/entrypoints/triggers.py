"""The scheduler's time-driven entry points: APScheduler 3 as its alarm clock, and the catch-up
at start-up. They only say "now"; runs.py decides what happens.

Two replicas both fire at 09:00; the run store's claim makes one of them do the work. The
periodic tick retries a failed or abandoned run of today within the catch-up grace.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from contracts.client import CommandRefused, EnsClient
from contracts.scheduler import JobRun
from services.runtime.clock import JST
from services.scheduler.runs import JobRunner
from services.scheduler.settings import SchedulerSettings

log = logging.getLogger("ens.scheduler")

READY_WITHIN_S = 30.0


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


async def catch_up_when_ready(client: EnsClient, service: str, runner: JobRunner) -> list[JobRun]:
    """A scheduler that was down at a job's time runs the missed day once it answers itself
    (then the host's other services on the same broker answer too)."""
    deadline = asyncio.get_running_loop().time() + READY_WITHIN_S
    while True:
        try:
            await client.status(service, timeout=0.25)
            break
        except CommandRefused:
            if asyncio.get_running_loop().time() > deadline:
                log.warning("scheduler: not answering itself; catch-up left to the periodic tick")
                return []
            await asyncio.sleep(0.05)  # "no responders" comes back at once; do not spin
    runs = await runner.tick()
    for run in runs:
        log.info("catch-up %s for %s: %s", run.job, run.business_day, run.status if run.ran else "already done")
    return runs
