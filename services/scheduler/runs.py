"""Running a job once per (job, business day), on any number of replicas, without losing a day.

A run is claimed before any work with a create of the ledger entry `<job>.<day>`: whoever
creates it runs the job, every other replica (or a second firing) sees the entry and does
nothing. The entry then moves by compare-and-set:

    (none) --create--> started --> done           the day's work is finished; never again
                          |   \\--> failed         the command failed; the next tick retries it
                          \\-- lease expired -->   started again (attempt + 1), by CAS

A replica that dies between its claim and the command's reply leaves `started` behind; after
the lease another tick takes it over, so a crash never loses the day. If the old run was in
fact still alive both send the command, which is harmless: auth and filing make each system
command idempotent for a business day. `force` re-runs a finished day on purpose (operators).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from contracts.common import JobResult
from contracts.client import CommandRefused
from contracts.common import Command
from contracts.scheduler import JobInfo, JobList, JobName, JobRun
from services.runtime.clock import Clock, business_day
from services.runtime.errors import Conflict
from services.scheduler.jobs import JobSpec
from services.scheduler.settings import SchedulerSettings

log = logging.getLogger("ens.scheduler")

STARTED, DONE, FAILED = "started", "done", "failed"
CAS_ATTEMPTS = 8


class AlreadyClaimed(Exception):
    """The entry exists already (create) or changed since it was read (update)."""


class RunLedger(Protocol):
    """Where runs are claimed and their results kept (a KV bucket in production)."""

    async def get(self, key: str) -> tuple[dict[str, Any], int] | None: ...

    async def create(self, key: str, doc: dict[str, Any]) -> int: ...

    async def update(self, key: str, doc: dict[str, Any], revision: int) -> int: ...


class AuditTrail(Protocol):
    async def record(
        self, command: str, *, actor: str | None, target: str | None, result: str, details: dict[str, Any] | None = None
    ) -> None: ...


Send = Callable[[Command], Awaitable[Any]]


def run_key(job: JobName, day: Any) -> str:
    return f"{job.value}.{day.isoformat()}"


def last_key(job: JobName) -> str:
    return f"{job.value}.last"


def to_job_run(doc: dict[str, Any], *, ran: bool) -> JobRun:
    return JobRun(
        job=doc["job"],
        as_of=doc["as_of"],
        business_day=doc["day"],
        ran=ran,
        processed=doc.get("processed", 0),
        changed=doc.get("changed", 0),
        error=doc.get("error"),
        status={STARTED: "running"}.get(doc["status"], doc["status"]),
        details=doc.get("details", {}),
        attempt=doc.get("attempt"),
        finished_at=doc.get("finished_at"),
    )


class JobRunner:
    def __init__(
        self,
        jobs: dict[JobName, JobSpec],
        ledger: RunLedger,
        send: Send,
        clock: Clock,
        settings: SchedulerSettings,
        *,
        instance: str,
        audit: AuditTrail | None = None,
    ) -> None:
        self.jobs = jobs
        self._ledger = ledger
        self._send = send
        self._clock = clock
        self._settings = settings
        self._instance = instance
        self._audit = audit
        self._lease = timedelta(seconds=settings.lease_s)
        self._grace = timedelta(hours=settings.catch_up_grace_hours)

    # ---- the clock's side ---------------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> list[JobRun]:
        """Run every job whose time today has come (within the grace) and whose day is not done.

        Called by the cron triggers, periodically for retries, and once at start-up (catch-up)."""
        now = now or self._clock.now()
        runs = []
        for spec in self.jobs.values():
            try:
                run = await self.run_if_due(spec.name, now)
            except Exception:
                log.exception("job %s: could not run; the next tick retries", spec.name)
                continue
            if run is not None:
                runs.append(run)
        return runs

    async def run_if_due(self, job: JobName, now: datetime | None = None) -> JobRun | None:
        now = now or self._clock.now()
        spec = self.jobs[job]
        slot = spec.due_slot(now, self._grace)
        if slot is None:
            return None
        return await self.run(job, spec.as_of_for(slot, now), actor="system")

    # ---- one run --------------------------------------------------------------------------

    async def run(self, job: JobName, as_of: datetime, *, force: bool = False, actor: str = "operator") -> JobRun:
        """Run `job` as of a moment, once for that moment's business day (JST) unless forced."""
        spec = self.jobs[job]
        day = business_day(as_of)
        key = run_key(job, day)
        claimed = await self._claim(key, job, as_of, force)
        if isinstance(claimed, JobRun):
            if actor != "system":  # the periodic retry tick of every replica would flood the trail
                await self._audited(actor, key, "skipped", claimed)
            return claimed
        doc, revision = claimed
        try:
            result = await self._send(spec.command(as_of))
        except CommandRefused as exc:
            log.warning("job %s for %s: %s refused: %s", job, day, spec.target, exc)
            doc = self._ended(doc, FAILED, error=f"{exc.code}: {exc.error.message}")
        except Exception as exc:
            log.exception("job %s for %s failed", job, day)
            doc = self._ended(doc, FAILED, error=f"internal: {exc.__class__.__name__}")
        else:
            doc = self._ended(doc, DONE, result=result)
        await self._record(key, job, doc, revision)
        run = to_job_run(doc, ran=True)
        await self._audited(actor, key, run.status or DONE, run)
        return run

    async def _claim(self, key: str, job: JobName, as_of: datetime, force: bool) -> tuple[dict[str, Any], int] | JobRun:
        """The claimed entry and its revision, or the JobRun that says why nothing is done."""
        for _ in range(CAS_ATTEMPTS):
            now = self._clock.now()
            current = await self._ledger.get(key)
            if current is None:
                doc = self._started(job, as_of, attempt=1)
                try:
                    return doc, await self._ledger.create(key, doc)
                except AlreadyClaimed:
                    continue
            existing, revision = current
            status = existing["status"]
            if status == STARTED and now - datetime.fromisoformat(existing["started_at"]) < self._lease:
                if force:
                    raise Conflict("このジョブは同じ業務日について実行中です。終了してから再度実行してください。")
                return to_job_run(existing, ran=False)
            if status == DONE and not force:
                return to_job_run(existing, ran=False)
            if status == STARTED:
                log.warning(
                    "job %s: taking over %s, claimed by %s at %s", job, key, existing.get("instance"), existing["started_at"]
                )
            doc = self._started(job, as_of, attempt=existing.get("attempt", 1) + 1)
            try:
                return doc, await self._ledger.update(key, doc, revision)
            except AlreadyClaimed:
                continue
        raise Conflict("他のスケジューラと同時に実行されました。しばらくしてから再度お試しください。")

    def _started(self, job: JobName, as_of: datetime, *, attempt: int) -> dict[str, Any]:
        return {
            "job": job.value,
            "day": business_day(as_of).isoformat(),
            "as_of": as_of.isoformat(),
            "status": STARTED,
            "started_at": self._clock.now().isoformat(),
            "instance": self._instance,
            "attempt": attempt,
        }

    def _ended(self, doc: dict[str, Any], status: str, *, result: Any = None, error: str | None = None) -> dict[str, Any]:
        ended = {**doc, "status": status, "finished_at": self._clock.now().isoformat(), "error": error}
        if isinstance(result, JobResult):
            ended.update(processed=result.processed, changed=result.changed, details=dict(result.details))
        return ended

    async def _record(self, key: str, job: JobName, doc: dict[str, Any], revision: int) -> None:
        try:
            await self._ledger.update(key, doc, revision)
        except AlreadyClaimed:
            # Another replica took the run over after our lease ran out; its result stands.
            log.warning("job %s: %s was taken over while running; not recording this result", job, key)
            return
        await self._remember_last(job, doc)

    async def _remember_last(self, job: JobName, doc: dict[str, Any]) -> None:
        """Keep the latest business day's result per job for ListJobs (an older day never wins)."""
        key = last_key(job)
        for _ in range(CAS_ATTEMPTS):
            current = await self._ledger.get(key)
            try:
                if current is None:
                    await self._ledger.create(key, doc)
                    return
                existing, revision = current
                if (existing["day"], existing.get("finished_at") or "") > (doc["day"], doc["finished_at"]):
                    return
                await self._ledger.update(key, doc, revision)
                return
            except AlreadyClaimed:
                continue
        log.warning("job %s: could not record the last result after %d attempts", job, CAS_ATTEMPTS)

    async def _audited(self, actor: str, key: str, result: str, run: JobRun) -> None:
        if self._audit is not None:
            await self._audit.record(
                "RunJob",
                actor=actor,
                target=key,
                result=result,
                details={"processed": run.processed, "changed": run.changed, "ran": int(run.ran)},
            )

    # ---- what operators see ------------------------------------------------------------------

    async def list_jobs(self) -> JobList:
        if self._audit is not None:
            await self._audit.record("ListJobs", actor="operator", target=None, result="ok")
        now = self._clock.now()
        infos = []
        for spec in self.jobs.values():
            last = await self._ledger.get(last_key(spec.name))
            infos.append(
                JobInfo(
                    job=spec.name,
                    schedule=spec.cron,
                    next_run_at=spec.next_run_after(now),
                    last_run=to_job_run(last[0], ran=True) if last else None,
                )
            )
        return JobList(jobs=infos)
