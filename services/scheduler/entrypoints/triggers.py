"""The scheduler's time-driven entry points: APScheduler 3 as its alarm clock, and the catch-up
at start-up. They only say "now"; runs.py decides what happens.

Two replicas both fire at 09:00; the run store's claim makes one of them do the work. The
periodic tick retries a failed or abandoned run of today within the catch-up grace, and runs a
day missed past the grace (runs.py `_missed_slot`).
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


async def catch_up_when_ready(client: EnsClient, service: str, runner: JobRunner, wait_s: float) -> list[JobRun]:
    """A scheduler that was down at a job's time runs the missed day once it answers itself and
    the service that does each job's work answers too: started together, auth may not be up yet,
    and a catch-up sent into the void would fail once and leave the day to the next tick. Each
    service's jobs run as soon as it answers; one that does not answer within `wait_s` (not
    deployed here, or down) has its jobs left to the periodic tick, said once in the log."""
    if not await _answering(client, service, READY_WITHIN_S):
        log.warning("scheduler: not answering itself; catch-up left to the periodic tick")
        return []
    targets = sorted({spec.target for spec in runner.jobs.values()})

    async def catch_up(target: str) -> list[JobRun]:
        if not await _answering(client, target, wait_s):
            log.warning("scheduler: %s does not answer within %.0f s; its jobs are left to the periodic tick", target, wait_s)
            return []
        return await runner.tick(targets={target})

    runs = [run for batch in await asyncio.gather(*(catch_up(t) for t in targets)) for run in batch]
    for run in runs:
        log.info("catch-up %s for %s: %s", run.job, run.business_day, run.status if run.ran else "already done")
    return runs


async def _answering(client: EnsClient, service: str, within: float) -> bool:
    """Whether `service` answers its status subject within `within` seconds (asked again and again)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pause = 0.05
    while True:
        try:
            await client.status(service, timeout=0.25)
            return True
        except CommandRefused:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(pause)  # "no responders" comes back at once; do not spin
            pause = min(pause * 2, 1.0)
