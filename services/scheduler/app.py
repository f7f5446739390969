"""Composition root of the scheduler service: builds it from the settings it is given; nothing
connects at import, nothing reads the environment."""

from __future__ import annotations

import asyncio
import logging

from contracts import scheduler as contract
from contracts.common import Command, JobResult
from contracts.scheduler import JobRun
from services.runtime.clock import Clock
from services.runtime.host import ServiceContext
from services.runtime.nats import ensure_kv
from services.runtime.pipeline import Principal
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings
from services.scheduler.adapters.runs_kv import KvRunStore
from services.scheduler.domain.jobs import job_table
from services.scheduler.entrypoints.triggers import CronTriggers, catch_up_when_ready
from services.scheduler.handlers import HANDLERS
from services.scheduler.ports import SchedulerDeps
from services.scheduler.runs import JobRunner
from services.scheduler.settings import SchedulerSettings

log = logging.getLogger("ens.scheduler")

BUCKETS = ("scheduler_runs",)


class SchedulerService(ServiceBase[SchedulerDeps, Principal]):
    name = contract.SERVICE
    events = contract.EVENTS

    def __init__(self, runtime: RuntimeSettings, settings: SchedulerSettings, clock: Clock) -> None:
        super().__init__(runtime, HANDLERS)
        self.settings = settings
        self.clock = clock
        self.jobs = job_table(settings, runtime.activation_time)
        self._triggers: CronTriggers | None = None
        self._catch_up: asyncio.Task[list[JobRun]] | None = None

    @property
    def triggers(self) -> CronTriggers | None:
        return self._triggers

    @property
    def runner(self) -> JobRunner:
        return self.deps.runner

    def owns(self) -> list[str]:
        return [f"kv:{b}" for b in BUCKETS]

    async def start(self, ctx: ServiceContext) -> None:
        await super().start(ctx)
        kv = await ensure_kv(ctx.js, BUCKETS[0], history=16, replicas=self.runtime.stream_replicas)
        timeout = self.settings.command_timeout_s

        async def send(command: Command[JobResult]) -> JobResult:
            return await ctx.client.call(command, timeout=timeout)

        runner = JobRunner(
            self.jobs, KvRunStore(kv), send, self.clock, self.settings, instance=ctx.instance, audit=self.auditor()
        )
        self.bind(SchedulerDeps(runner=runner))
        if self.settings.triggers:
            self._triggers = CronTriggers(runner, self.settings)
            self._triggers.start()
        self._catch_up = asyncio.create_task(
            catch_up_when_ready(ctx.client, self.name, runner, self.settings.catch_up_wait_s), name="scheduler-catch-up"
        )

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
        await super().stop()


def build(runtime: RuntimeSettings, settings: SchedulerSettings, clock: Clock) -> SchedulerService:
    return SchedulerService(runtime, settings, clock)
