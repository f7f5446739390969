"""Contract in, runner out: the scheduler's two commands."""

from __future__ import annotations

from collections.abc import Callable

from faststream.nats import NatsRouter

from contracts.scheduler import SERVICE, JobList, JobRun, ListJobs, RunJob
from services.runtime.handlers import handles
from services.scheduler.runs import JobRunner


def register(router: NatsRouter, runner: Callable[[], JobRunner]) -> None:
    @handles(router, RunJob, SERVICE)
    async def run_job(cmd: RunJob) -> JobRun:
        return await runner().run(cmd.job, cmd.as_of, force=cmd.force, actor="operator")

    @handles(router, ListJobs, SERVICE)
    async def list_jobs(cmd: ListJobs) -> JobList:
        return await runner().list_jobs()
