"""The run ledger's rules without NATS: once per job and business day, retries, takeovers, catch-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from contracts import auth, filing
from contracts.client import CommandRefused, ServiceUnavailable
from contracts.scheduler import JobName, ListJobs, RunJob
from services.runtime.clock import JST, FakeClock
from services.runtime.errors import Conflict, InvalidInput
from services.runtime.pipeline import CommandContext, Principal
from services.scheduler.domain.jobs import job_table
from services.scheduler.domain.runs import run_key
from services.scheduler.ports import SchedulerDeps
from services.scheduler.runs import JobRunner, list_jobs, run_job
from services.scheduler.settings import SchedulerSettings
from tests.fakes.scheduler import MemoryAudit, MemoryRunStore, RecordingServices

A = JobName.ACTIVATE_REGISTRATIONS


def jst(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=JST)


def runner(
    ledger: MemoryRunStore,
    services: RecordingServices,
    clock: FakeClock,
    instance: str = "r1",
    audit: MemoryAudit | None = None,
    **settings: Any,
) -> JobRunner:
    cfg = SchedulerSettings(**settings)
    return JobRunner(job_table(cfg, time(9, 0)), ledger, services.send, clock, cfg, instance=instance, audit=audit)


@pytest.fixture
def clock() -> FakeClock:
    """After every day these tests run jobs for: a run dated in the future is refused."""
    return FakeClock(jst(2027, 12, 1, 12))


@pytest.fixture
def ledger() -> MemoryRunStore:
    return MemoryRunStore()


@pytest.fixture
def services() -> RecordingServices:
    return RecordingServices()


async def test_a_job_run_twice_for_the_same_business_day_does_its_work_once(ledger, services, clock):
    r = runner(ledger, services, clock)
    first = await r.run(A, jst(2027, 11, 26, 9))
    second = await r.run(A, jst(2027, 11, 26, 23, 59))
    assert first.ran and first.status == "done" and first.changed == 2
    assert not second.ran and second.status == "done" and second.business_day == date(2027, 11, 26)
    assert len(services.sent) == 1


async def test_the_business_day_is_the_japan_date_of_as_of(ledger, services, clock):
    r = runner(ledger, services, clock)
    run = await r.run(A, datetime(2027, 11, 25, 15, 30, tzinfo=UTC))  # 00:30 JST on the 26th
    assert run.business_day == date(2027, 11, 26)
    assert run_key(A, date(2027, 11, 26)) in ledger.entries


async def test_two_replicas_firing_together_send_the_command_once(ledger, services, clock):
    replicas = [runner(ledger, services, clock, instance=f"r{i}") for i in range(3)]
    runs = await asyncio.gather(*(r.run(A, jst(2027, 11, 26)) for r in replicas))
    assert sorted(run.ran for run in runs) == [False, False, True]
    assert len(services.sent) == 1


async def test_a_failed_run_is_retried_by_the_next_tick_and_a_done_one_is_not(ledger, services, clock):
    r = runner(ledger, services, clock)
    clock.set(jst(2027, 11, 26, 9))
    services.fail_next = ServiceUnavailable(auth.ActivateDueRegistrations.SUBJECT)
    failed = await r.run_if_due(A)
    assert failed.ran and failed.status == "failed" and failed.error.startswith("unavailable")
    clock.advance(minutes=5)
    await r.tick()
    retried = services.of(auth.ActivateDueRegistrations)
    assert len(retried) == 2
    doc, _ = ledger.entries[run_key(A, date(2027, 11, 26))]
    assert doc["status"] == "done" and doc["attempt"] == 2
    clock.advance(minutes=5)
    await r.tick()
    assert len(services.of(auth.ActivateDueRegistrations)) == 2


async def test_a_run_claimed_by_a_replica_that_died_is_taken_over_after_the_lease(ledger, services, clock):
    clock.set(jst(2027, 11, 26, 9))
    services.hold = asyncio.Event()
    dying = runner(ledger, services, clock, instance="dies")
    task = asyncio.create_task(dying.run(A, clock.now()))
    while not services.sent:
        await asyncio.sleep(0)
    task.cancel()  # the replica is gone between its claim and the reply
    with pytest.raises(asyncio.CancelledError):
        await task
    services.hold = None

    other = runner(ledger, services, clock, instance="survivor", lease_s=900)
    clock.advance(minutes=10)
    still_leased = await other.run(A, clock.now())
    assert not still_leased.ran and still_leased.status == "running"
    clock.advance(minutes=6)
    taken = await other.run(A, clock.now())
    assert taken.ran and taken.status == "done" and taken.attempt == 2
    assert len(services.sent) == 2  # the command is idempotent per day at auth; asking twice is safe


async def test_force_runs_a_finished_day_again_but_not_one_that_is_running(ledger, services, clock):
    r = runner(ledger, services, clock)
    await r.run(A, jst(2027, 11, 26))
    again = await r.run(A, jst(2027, 11, 26), force=True)
    assert again.ran and again.attempt == 2 and len(services.sent) == 2

    services.hold = asyncio.Event()
    running = asyncio.create_task(r.run(JobName.EXPIRE_ACCOUNTS, jst(2027, 11, 26)))
    while len(services.sent) < 3:
        await asyncio.sleep(0)
    with pytest.raises(Conflict) as err:
        await r.run(JobName.EXPIRE_ACCOUNTS, jst(2027, 11, 26), force=True)
    assert "実行中" in err.value.message
    services.hold.set()
    assert (await running).status == "done"


async def test_a_tick_before_the_scheduled_time_does_nothing_and_at_it_runs_each_job(ledger, services, clock):
    r = runner(ledger, services, clock, filing_purge_time="02:00")  # its grace ends at 08:00
    clock.set(jst(2027, 11, 26, 8, 59))
    assert await r.tick() == []
    clock.set(jst(2027, 11, 26, 9, 0))
    runs = await r.tick()
    assert {run.job for run in runs} == {A, JobName.PASSWORD_EXPIRY_WARNINGS, JobName.EXPIRE_ACCOUNTS}
    assert all(run.ran for run in runs)
    (warn,) = services.of(auth.SendPasswordExpiryWarnings)
    assert warn.as_of == clock.now() and warn.days_before == [30, 7]


async def test_catch_up_runs_a_missed_day_within_the_grace_and_once_the_job_has_run_also_after_it(ledger, services, clock):
    r = runner(ledger, services, clock, catch_up_grace_hours=6, filing_purge_time="02:00")
    clock.set(jst(2027, 11, 26, 10))  # down over 09:00, back at 10:00
    assert {run.job for run in await r.tick()} == {A, JobName.PASSWORD_EXPIRY_WARNINGS, JobName.EXPIRE_ACCOUNTS}
    clock.set(jst(2027, 11, 26, 10, 30))  # a second start the same morning
    assert all(not run.ran for run in await r.tick())
    assert len(services.of(auth.ActivateDueRegistrations)) == 1
    # Issue 15: down over the next 09:00 and back only after the grace. The day is not skipped
    # (today's registrations would otherwise wait for tomorrow's 09:00): it runs at the next tick.
    clock.set(jst(2027, 11, 27, 15, 1))
    caught = {run.job: run for run in await r.tick()}
    # (the 02:00 purge never ran here: it was already past its grace on the first start)
    assert set(caught) == {A, JobName.PASSWORD_EXPIRY_WARNINGS, JobName.EXPIRE_ACCOUNTS}
    assert caught[A].business_day == date(2027, 11, 27) and caught[A].as_of == clock.now()
    assert all(not run.ran for run in await r.tick())  # once
    assert len(services.of(auth.ActivateDueRegistrations)) == 2


async def test_a_new_installation_catches_up_only_within_the_grace(ledger, services, clock):
    r = runner(ledger, services, clock, catch_up_grace_hours=6, filing_purge_time="02:00")
    clock.set(jst(2027, 11, 27, 15, 1))  # no job has ever run here: nothing is "missed"
    assert await r.tick() == []


async def test_a_day_missed_entirely_runs_as_of_its_own_slot_before_the_next_days_time(ledger, services, clock):
    r = runner(ledger, services, clock, catch_up_grace_hours=6, filing_purge_time="02:00")
    clock.set(jst(2027, 11, 25, 9))
    await r.tick()
    clock.set(jst(2027, 11, 27, 8))  # down from the 25th until before the 27th's 09:00
    caught = {run.job: run for run in await r.tick()}
    assert caught[A].business_day == date(2027, 11, 26) and caught[A].as_of == jst(2027, 11, 26, 9)


async def test_a_run_dated_in_the_future_is_refused_unless_forced_and_the_force_reaches_the_service(ledger, services, clock):
    r = runner(ledger, services, clock)
    clock.set(jst(2027, 11, 26, 10))
    with pytest.raises(InvalidInput) as refused:
        await r.run(A, jst(2027, 11, 27, 9))
    assert [f.field for f in refused.value.fields] == ["as_of"] and "未来" in refused.value.message
    assert services.of(auth.ActivateDueRegistrations) == []
    run = await r.run(A, jst(2027, 11, 27, 9), force=True)
    assert run.ran and [c.force for c in services.of(auth.ActivateDueRegistrations)] == [True]


async def test_the_purge_job_asks_filing_at_its_own_time(ledger, services, clock):
    r = runner(ledger, services, clock, filing_purge_time="03:30")
    clock.set(jst(2027, 11, 26, 3, 30))
    (run,) = await r.tick()
    assert run.job == JobName.PURGE_FILINGS
    (purge,) = services.of(filing.PurgeExpiredFilings)
    assert purge.as_of == clock.now()


async def test_warning_days_come_from_the_settings(ledger, services, clock):
    r = runner(ledger, services, clock, warning_days_before=[14, 60, 3])
    await r.run(JobName.PASSWORD_EXPIRY_WARNINGS, jst(2027, 11, 26))
    (warn,) = services.of(auth.SendPasswordExpiryWarnings)
    assert warn.days_before == [60, 14, 3]


async def test_list_jobs_shows_schedule_next_run_and_the_latest_days_result(ledger, services, clock):
    r = runner(ledger, services, clock)
    clock.set(jst(2027, 11, 26, 12))
    await r.run(A, jst(2027, 11, 26))
    services.fail_next = CommandRefused(ServiceUnavailable("x").error.model_copy(update={"message": "応答なし"}))
    await r.run(A, jst(2027, 11, 20))  # an operator catching up an older day does not hide today's result
    listing = {info.job: info for info in (await r.list_jobs()).jobs}
    assert set(listing) == set(JobName)
    info = listing[A]
    assert info.schedule == "0 9 * * *"
    assert info.next_run_at == jst(2027, 11, 27, 9)
    assert info.last_run.business_day == date(2027, 11, 26) and info.last_run.status == "done"
    assert info.last_run.details == {"warned_30": 1}
    assert listing[JobName.PURGE_FILINGS].next_run_at == jst(2027, 11, 27, 3)
    assert listing[JobName.PURGE_FILINGS].last_run is None


async def test_every_run_the_clock_starts_is_audited_but_not_idle_ticks(ledger, services, clock):
    audit = MemoryAudit()
    r = runner(ledger, services, clock, audit=audit)
    clock.set(jst(2027, 11, 26, 9))
    await r.run_if_due(A)
    await r.run_if_due(A)  # a retry tick finding the day done
    await r.run(A, jst(2027, 11, 26))  # an operator's run is audited by the pipeline, not here
    assert audit.records == [
        ("RunJob", "system", "activate_registrations.2027-11-26", "done", {"processed": 10, "changed": 2, "ran": 1})
    ]


async def test_an_operators_run_job_names_the_day_and_what_the_run_came_to_for_the_audit_record(ledger, services, clock):
    deps = SchedulerDeps(runner=runner(ledger, services, clock))
    first = CommandContext[SchedulerDeps, Principal](deps, None, None, "RunJob")
    await run_job(RunJob(job=A, as_of=jst(2027, 11, 26)), first)
    again = CommandContext[SchedulerDeps, Principal](deps, None, None, "RunJob")
    await run_job(RunJob(job=A, as_of=jst(2027, 11, 26)), again)
    assert (again.trail.actor, again.trail.target) == ("operator", "activate_registrations.2027-11-26")
    assert first.trail.details == {"processed": 10, "changed": 2, "ran": 1, "status": "done"}
    assert again.trail.details == {"processed": 10, "changed": 2, "ran": 0, "status": "skipped"}
    listing = CommandContext[SchedulerDeps, Principal](deps, None, None, "ListJobs")
    await list_jobs(ListJobs(), listing)
    assert listing.trail.actor == "operator"


def test_next_run_is_strictly_after_now_across_the_utc_date_line():
    spec = job_table(SchedulerSettings(), time(9, 0))[A]
    assert spec.next_run_after(jst(2027, 11, 26, 9)) == jst(2027, 11, 27, 9)
    assert spec.next_run_after(jst(2027, 11, 26, 8, 59)) == jst(2027, 11, 26, 9)
    assert spec.due(jst(2027, 11, 26, 9) + timedelta(hours=5), timedelta(hours=6))
    assert not spec.due(jst(2027, 11, 26, 9) - timedelta(seconds=1), timedelta(hours=6))


async def test_a_late_evening_job_caught_up_after_midnight_counts_for_its_own_day(ledger, services, clock):
    r = runner(ledger, services, clock, account_expiry_time="23:00", filing_purge_time="02:00")
    clock.set(jst(2027, 11, 27, 1, 30))  # down at 23:00 on the 26th, back at 01:30
    (run,) = await r.tick()
    assert run.job == JobName.EXPIRE_ACCOUNTS and run.business_day == date(2027, 11, 26)
    assert run.as_of == jst(2027, 11, 26, 23)
    clock.set(jst(2027, 11, 27, 2, 30))
    runs = {run.job: run for run in await r.tick()}
    assert not runs[JobName.EXPIRE_ACCOUNTS].ran  # the 26th's run is done; still within its grace
    purge = runs[JobName.PURGE_FILINGS]  # its own 02:00 slot of the 27th
    assert purge.ran and purge.job == JobName.PURGE_FILINGS and purge.business_day == date(2027, 11, 27)


async def test_one_job_that_cannot_be_claimed_does_not_stop_the_others(services, clock):
    class BrokenFor(MemoryRunStore):
        async def get(self, key):
            if key.startswith("activate_registrations."):
                raise ConnectionError("KV away")
            return await super().get(key)

    r = runner(BrokenFor(), services, clock, filing_purge_time="02:00")
    clock.set(jst(2027, 11, 26, 9))
    runs = await r.tick()
    assert {run.job for run in runs} == {JobName.PASSWORD_EXPIRY_WARNINGS, JobName.EXPIRE_ACCOUNTS}
