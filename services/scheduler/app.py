"""Composition root of the scheduler service: builds it from settings; nothing connects at import."""

from __future__ import annotations

import asyncio
import logging

from contracts import scheduler as contract
from contracts.client import CommandRefused
from contracts.common import Command, Reply
from contracts.scheduler import JobRun
from services.runtime.audit import Auditor
from services.runtime.clock import Clock
from services.runtime.host import ServiceContext
from services.runtime.nats import ensure_kv
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings, load_settings
from services.scheduler import handlers
from services.scheduler.adapters.runs_kv import KvRunLedger
from services.scheduler.adapters.triggers import CronTriggers
from services.scheduler.jobs import job_table
from services.scheduler.runs import JobRunner
from services.scheduler.settings import SchedulerSettings

log = logging.getLogger("ens.scheduler")

BUCKETS = ("scheduler_runs",)
READY_WITHIN_S = 30.0


class SchedulerService(ServiceBase):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(self, runtime: RuntimeSettings, settings: SchedulerSettings, clock: Clock) -> None:
        super().__init__(runtime)
        self.runtime = runtime
        self.settings = settings
        self.clock = clock
        self.jobs = job_table(settings)
        self._runner: JobRunner | None = None
        self._triggers: CronTriggers | None = None
        self._catch_up: asyncio.Task[list[JobRun]] | None = None
        handlers.register(self.router, lambda: self.runner)

    @property
    def triggers(self) -> CronTriggers | None:
        return self._triggers

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            raise RuntimeError("scheduler used before start()")
        return self._runner

    def owns(self) -> list[str]:
        return [f"kv:{b}" for b in BUCKETS]

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        kv = await ensure_kv(ctx.js, BUCKETS[0], history=16, replicas=self.runtime.stream_replicas)
        timeout = self.settings.command_timeout_s

        async def send(command: Command) -> Reply:
            return await ctx.client.call(command, timeout=timeout)

        self._runner = JobRunner(
            self.jobs,
            KvRunLedger(kv),
            send,
            self.clock,
            self.settings,
            instance=ctx.instance,
            audit=Auditor(ctx.js, self.name, self.clock),
        )
        if self.settings.triggers:
            self._triggers = CronTriggers(self._runner, self.settings)
            self._triggers.start()
        self._catch_up = asyncio.create_task(self._catch_up_when_ready(ctx), name="scheduler-catch-up")

    async def _catch_up_when_ready(self, ctx: ServiceContext) -> list[JobRun]:
        """A scheduler that was down at a job's time runs the missed day once it answers itself
        (then the host's other services on the same broker answer too)."""
        deadline = asyncio.get_running_loop().time() + READY_WITHIN_S
        while True:
            try:
                await ctx.client.status(self.name, timeout=0.25)
                break
            except CommandRefused:
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("scheduler: not answering itself; catch-up left to the periodic tick")
                    return []
                await asyncio.sleep(0.05)  # "no responders" comes back at once; do not spin
        runs = await self.runner.tick()
        for run in runs:
            log.info("catch-up %s for %s: %s", run.job, run.business_day, run.status if run.ran else "already done")
        return runs

    async def caught_up(self) -> list[JobRun]:
        """The runs of the start-up catch-up, once it finished."""
        assert self._catch_up is not None
        return await self._catch_up

    async def stop(self) -> None:
        if self._triggers is not None:
            self._triggers.stop()
            self._triggers = None
        if self._catch_up is not None:
            if not self._catch_up.done():
                self._catch_up.cancel()
            try:
                await self._catch_up
            except asyncio.CancelledError:
                log.info("scheduler: catch-up cancelled by stop; its claim is taken over after the lease")
            except Exception:
                log.exception("scheduler: catch-up failed")
            self._catch_up = None
        self._runner = None
        await super().stop()


def build(runtime: RuntimeSettings, clock: Clock) -> SchedulerService:
    return SchedulerService(runtime, load_settings(SchedulerSettings), clock)
