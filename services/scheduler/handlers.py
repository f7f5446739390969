"""Which use case takes which command: the operators' RunJob and ListJobs. The daily runs
themselves are time-driven (entrypoints/triggers.py)."""

from __future__ import annotations

from contracts.scheduler import ListJobs, RunJob
from services.runtime.pipeline import HandlerTable, Principal
from services.scheduler import runs
from services.scheduler.ports import SchedulerDeps

HANDLERS: HandlerTable[SchedulerDeps, Principal] = {
    RunJob: runs.run_job,
    ListJobs: runs.list_jobs,
}
