"""Running a job once per (job, business day), on any number of replicas, without losing a day;
and the operators' two commands, RunJob and ListJobs.

A run is claimed before any work with a create of the store entry `<job>.<day>`: whoever
creates it runs the job, every other replica (or a second firing) sees the entry and does
nothing. The entry then moves by compare-and-set (domain/runs.py draws the states).

A replica that dies between its claim and the command's reply leaves `started` behind; after
the lease another tick takes it over, so a crash never loses the day. If the old run was in
fact still alive both send the command, which is harmless: auth and filing make each system
command idempotent for a business day. `force` re-runs a finished day on purpose (operators).

Runs the clock starts (triggers, retry ticks, catch-up) are not commands, so the runner writes
their audit record itself through its AuditSink; operators' commands are audited by the pipeline.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from contracts.client import CommandRefused
from contracts.scheduler import JobInfo, JobList, JobName, JobRun, ListJobs, RunJob
from services.runtime import metrics
from services.runtime.as_of import refuse_future
from services.runtime.clock import Clock, business_day
from services.runtime.errors import Conflict
from services.scheduler.domain import runs
from services.scheduler.domain.jobs import JobSpec
from services.scheduler.domain.runs import DONE, FAILED, STARTED, RunDoc, last_key, run_key, to_job_run
from services.scheduler.ports import AlreadyClaimed, AuditSink, Ctx, RunStore, Send
from services.scheduler.settings import SchedulerSettings

log = logging.getLogger("ens.scheduler")

CAS_ATTEMPTS = 8


class JobRunner:
    def __init__(
        self,
        jobs: dict[JobName, JobSpec],
        store: RunStore,
        send: Send,
        clock: Clock,
        settings: SchedulerSettings,
        *,
        instance: str,
        audit: AuditSink | None = None,
    ) -> None:
        self.jobs = jobs
        self._store = store
        self._send = send
        self._clock = clock
        self._instance = instance
        self._audit = audit
        self._lease = timedelta(seconds=settings.lease_s)
        self._grace = timedelta(hours=settings.catch_up_grace_hours)

    # ---- the clock's side ---------------------------------------------------------------

    async def tick(self, now: datetime | None = None, *, targets: set[str] | None = None) -> list[JobRun]:
        """Run every job whose time today has come (within the grace) and whose day is not done.

        Called by the cron triggers, periodically for retries, and once at start-up (catch-up)."""
        now = now or self._clock.now()
        done = []
        for spec in self.jobs.values():
            if targets is not None and spec.target not in targets:
                continue
            try:
                run = await self.run_if_due(spec.name, now)
            except Exception:
                log.exception("job %s: could not run; the next tick retries", spec.name)
                continue
            if run is not None:
                done.append(run)
        return done

    async def run_if_due(self, job: JobName, now: datetime | None = None) -> JobRun | None:
        now = now or self._clock.now()
        spec = self.jobs[job]
        slot = spec.due_slot(now, self._grace) or await self._missed_slot(job, now)
        if slot is None:
            return None
        as_of = spec.as_of_for(slot, now)
        run = await self.run(job, as_of)
        # A day found done already is not recorded: the periodic retry tick of every replica
        # would flood the trail.
        if run.ran and self._audit is not None:
            await self._audit.record(
                "RunJob",
                actor="system",
                target=run_key(job, business_day(as_of)),
                result=run.status or DONE,
                details=run_details(run),
            )
        return run

    async def _missed_slot(self, job: JobName, now: datetime) -> datetime | None:
        """The latest slot, however long ago, when the job has run before and not since: a day
        the scheduler was down past the grace runs at the next tick instead of slipping a day
        (a registration due at 09:00 must not wait for tomorrow's 09:00). A store without any
        run of the job (a new installation) catches up only within the grace."""
        last = await self._store.get(last_key(job))
        latest = self.jobs[job].latest_slot(now)
        if last is None or last[0]["day"] >= business_day(latest).isoformat():
            return None
        return latest

    # ---- one run --------------------------------------------------------------------------

    async def run(self, job: JobName, as_of: datetime, *, force: bool = False) -> JobRun:
        """Run `job` as of a moment, once for that moment's business day (JST) unless forced.
        A moment in the future is refused unless forced: it would do that day's work now."""
        refuse_future(as_of, self._clock.now(), force=force)
        spec = self.jobs[job]
        day = business_day(as_of)
        key = run_key(job, day)
        claimed = await self._claim(key, job, as_of, force)
        if isinstance(claimed, JobRun):
            return claimed
        doc, revision = claimed
        try:
            result = await self._send(spec.command(as_of, force))
        except CommandRefused as exc:
            log.warning("job %s for %s: %s refused: %s", job, day, spec.target, exc)
            doc = runs.ended(doc, FAILED, now=self._clock.now(), error=f"{exc.code}: {exc.error.message}")
        except Exception as exc:
            log.exception("job %s for %s failed", job, day)
            doc = runs.ended(doc, FAILED, now=self._clock.now(), error=f"internal: {exc.__class__.__name__}")
        else:
            doc = runs.ended(doc, DONE, now=self._clock.now(), result=result)
        await self._record(key, job, doc, revision)
        metrics.job_run(job.value, doc["status"], datetime.fromisoformat(doc["finished_at"]).timestamp())  # issue 18
        return to_job_run(doc, ran=True)

    async def _claim(self, key: str, job: JobName, as_of: datetime, force: bool) -> tuple[RunDoc, int] | JobRun:
        """The claimed entry and its revision, or the JobRun that says why nothing is done."""
        for _ in range(CAS_ATTEMPTS):
            now = self._clock.now()
            current = await self._store.get(key)
            if current is None:
                doc = runs.started(job, as_of, now=now, instance=self._instance, attempt=1)
                try:
                    return doc, await self._store.create(key, doc)
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
            doc = runs.started(job, as_of, now=now, instance=self._instance, attempt=existing.get("attempt", 1) + 1)
            try:
                return doc, await self._store.update(key, doc, revision)
            except AlreadyClaimed:
                continue
        raise Conflict("他のスケジューラと同時に実行されました。しばらくしてから再度お試しください。")

    async def _record(self, key: str, job: JobName, doc: RunDoc, revision: int) -> None:
        try:
            await self._store.update(key, doc, revision)
        except AlreadyClaimed:
            # Another replica took the run over after our lease ran out; its result stands.
            log.warning("job %s: %s was taken over while running; not recording this result", job, key)
            return
        await self._remember_last(job, doc)

    async def _remember_last(self, job: JobName, doc: RunDoc) -> None:
        """Keep the latest business day's result per job for ListJobs (an older day never wins)."""
        key = last_key(job)
        for _ in range(CAS_ATTEMPTS):
            current = await self._store.get(key)
            try:
                if current is None:
                    await self._store.create(key, doc)
                    return
                existing, revision = current
                if runs.is_later(existing, than=doc):
                    return
                await self._store.update(key, doc, revision)
                return
            except AlreadyClaimed:
                continue
        log.warning("job %s: could not record the last result after %d attempts", job, CAS_ATTEMPTS)

    # ---- what operators see ------------------------------------------------------------------

    async def list_jobs(self) -> JobList:
        now = self._clock.now()
        infos = []
        for spec in self.jobs.values():
            last = await self._store.get(last_key(spec.name))
            infos.append(
                JobInfo(
                    job=spec.name,
                    schedule=spec.cron,
                    next_run_at=spec.next_run_after(now),
                    last_run=to_job_run(last[0], ran=True) if last else None,
                )
            )
        return JobList(jobs=infos)


def run_details(run: JobRun) -> dict[str, int]:
    return {"processed": run.processed, "changed": run.changed, "ran": int(run.ran)}


# ---- the operators' commands ---------------------------------------------------------------


async def run_job(cmd: RunJob, ctx: Ctx) -> JobRun:
    ctx.trail.actor = "operator"
    ctx.trail.target = run_key(cmd.job, business_day(cmd.as_of))
    run = await ctx.deps.runner.run(cmd.job, cmd.as_of, force=cmd.force)
    # The audit result is the pipeline's `ok`; what the run came to (done, failed, running, or
    # skipped for a day done already) rides in the details.
    ctx.trail.details.update(run_details(run), status=run.status if run.ran else "skipped")
    return run


async def list_jobs(cmd: ListJobs, ctx: Ctx) -> JobList:
    ctx.trail.actor = "operator"
    return await ctx.deps.runner.list_jobs()
