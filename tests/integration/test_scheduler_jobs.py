"""The scheduler over a real nats-server: its KV claims keep every (job, day) to one command,
across replicas, re-firings and restarts. auth's and filing's system commands are answered
here by a small responder that counts them (the real services: tests/e2e/test_scheduler_*)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from contracts import auth, filing
from contracts.common import ErrorCode, JobResult
from contracts.scheduler import JobList, JobName, JobRun, ListJobs, RunJob
from services.runtime.clock import JST, FakeClock, business_day
from services.runtime.service import ServiceBase
from services.runtime.settings import RuntimeSettings
from services.scheduler.app import SchedulerService
from services.scheduler.settings import SchedulerSettings
from tests.fakes.scheduler import answer_status_for
from tests.support.suite import running

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_COMMANDS = (
    auth.ActivateDueRegistrations,
    auth.SendPasswordExpiryWarnings,
    auth.ExpireIdleAccounts,
    filing.PurgeExpiredFilings,
)


def jst(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=JST)


class CountingWork(ServiceBase):
    """Answers the system commands of auth and filing, counting (command, business day)."""

    name = "testwork"
    identity = "admin"  # a test service: no role of the suite's is its own

    def __init__(self) -> None:
        super().__init__(RuntimeSettings())  # only its router is used: answers commands, owns nothing
        self.calls: Counter[tuple[str, date]] = Counter()
        self.hold: asyncio.Event | None = None
        for command in SYSTEM_COMMANDS:
            self._answer(command)
        answer_status_for(self.router, "auth", "filing")  # the scheduler's catch-up waits for them

    def _answer(self, command: type) -> None:
        @self.router.subscriber(command.SUBJECT, queue="ens-testwork")
        async def handle(body: dict) -> JobResult:
            cmd = command.model_validate(body)
            self.calls[(command.__name__, business_day(cmd.as_of))] += 1
            if self.hold is not None:
                await self.hold.wait()
            return JobResult(as_of=cmd.as_of, processed=3, changed=1)


def scheduler(nats_url: str, clock: FakeClock, **settings: object) -> SchedulerService:
    return SchedulerService(RuntimeSettings(nats_url=nats_url), SchedulerSettings(**settings), clock)


async def test_run_job_over_nats_does_a_day_once_and_list_jobs_shows_the_result(nats_url, client, clock):
    work = CountingWork()
    clock.set(jst(2027, 11, 27, 23))  # nothing due at start-up
    async with running(None, nats_url, clock, services=[work, scheduler(nats_url, clock)]):
        first = await client.call(RunJob(job=JobName.ACTIVATE_REGISTRATIONS, as_of=jst(2027, 11, 26)))
        again = await client.call(RunJob(job=JobName.ACTIVATE_REGISTRATIONS, as_of=jst(2027, 11, 26, 18)))
        forced = await client.call(RunJob(job=JobName.ACTIVATE_REGISTRATIONS, as_of=jst(2027, 11, 26), force=True))
        listing = await client.call(ListJobs())
    assert isinstance(first, JobRun) and first.ran and first.status == "done" and first.processed == 3
    assert not again.ran and forced.ran and forced.attempt == 2
    assert work.calls[("ActivateDueRegistrations", date(2027, 11, 26))] == 2  # once, plus the forced run
    assert isinstance(listing, JobList)
    info = {i.job: i for i in listing.jobs}[JobName.ACTIVATE_REGISTRATIONS]
    assert info.last_run.business_day == date(2027, 11, 26) and info.last_run.status == "done"
    assert info.next_run_at == jst(2027, 11, 28, 9)


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"job": "activate_registrations", "as_of": "2027-11-26T09:00:00"}, "as_of", "timezone_aware"),
        ({"job": "make_coffee", "as_of": "2027-11-26T09:00:00+09:00"}, "job", "enum"),
        ({"job": "activate_registrations"}, "as_of", "missing"),
    ],
)
async def test_a_bad_run_job_is_refused_naming_the_field_and_nothing_runs(nats_url, nc, clock, payload, field, code):
    work = CountingWork()
    clock.set(jst(2027, 11, 27, 23))  # nothing due at start-up
    async with running(None, nats_url, clock, services=[work, scheduler(nats_url, clock)]):
        reply = json.loads((await nc.request(RunJob.SUBJECT, json.dumps(payload).encode(), timeout=10)).data)
    assert reply["error"]["code"] == ErrorCode.VALIDATION
    (err,) = reply["error"]["fields"]
    assert err["field"] == field and err["code"] == code and err["message"]
    assert not work.calls


async def test_two_scheduler_replicas_over_five_days_send_each_days_commands_once(nats_url, clock):
    work = CountingWork()
    clock.set(jst(2027, 11, 25, 23))  # no job is due at start-up
    a, b = scheduler(nats_url, clock), scheduler(nats_url, clock)
    async with (
        running(None, nats_url, clock, services=[work]),
        running(None, nats_url, clock, services=[a]),
        running(None, nats_url, clock, services=[b]),
    ):
        await asyncio.gather(a.caught_up(), b.caught_up())
        for day in range(26, 31):
            clock.set(jst(2027, 11, day, 3))
            await asyncio.gather(a.runner.tick(), b.runner.tick())
            clock.set(jst(2027, 11, day, 9))
            runs = await asyncio.gather(a.runner.tick(), b.runner.tick(), a.runner.tick())
            assert sum(r.ran for batch in runs for r in batch) == 3  # three 09:00 jobs, each done once
            clock.advance(minutes=5)  # the periodic retry tick finds nothing left to do
            await asyncio.gather(a.runner.tick(), b.runner.tick())
    days = [date(2027, 11, d) for d in range(26, 31)]
    assert work.calls == Counter({(c.__name__, d): 1 for c in SYSTEM_COMMANDS for d in days})


async def test_a_scheduler_down_over_nine_and_back_at_ten_runs_the_days_work_once(nats_url, clock):
    work = CountingWork()
    async with running(None, nats_url, clock, services=[work]):
        clock.set(jst(2027, 11, 26, 8, 30))
        first = scheduler(nats_url, clock)
        async with running(None, nats_url, clock, services=[first]):
            assert [r.job for r in await first.caught_up()] == [JobName.PURGE_FILINGS]  # 03:00, within grace
        clock.set(jst(2027, 11, 26, 10))  # it was down at 09:00
        back = scheduler(nats_url, clock)
        async with running(None, nats_url, clock, services=[back]):
            runs = await back.caught_up()
        assert {r.job for r in runs if r.ran} == {
            JobName.ACTIVATE_REGISTRATIONS,
            JobName.PASSWORD_EXPIRY_WARNINGS,
            JobName.EXPIRE_ACCOUNTS,
        }
        clock.set(jst(2027, 11, 26, 11))  # restarted once more the same day
        again = scheduler(nats_url, clock)
        async with running(None, nats_url, clock, services=[again]):
            assert not any(r.ran for r in await again.caught_up())
    assert work.calls == Counter({(c.__name__, date(2027, 11, 26)): 1 for c in SYSTEM_COMMANDS})


async def test_a_run_whose_scheduler_stopped_mid_command_is_taken_over_after_the_lease(nats_url, client, clock):
    work = CountingWork()
    work.hold = asyncio.Event()
    clock.set(jst(2027, 11, 26, 9))
    async with running(None, nats_url, clock, services=[work]):
        dying = scheduler(nats_url, clock, lease_s=900, catch_up_grace_hours=1, filing_purge_time="00:00")
        async with running(None, nats_url, clock, services=[dying]):
            while not work.calls:  # the catch-up claimed the first job and is waiting for its reply
                await asyncio.sleep(0.02)
        work.hold.set()  # the stopped scheduler never records a result: its claim stays "started"
        survivor = scheduler(nats_url, clock, lease_s=900, catch_up_grace_hours=1, filing_purge_time="00:00")
        async with running(None, nats_url, clock, services=[survivor]):
            await survivor.caught_up()
            blocked = await client.call(RunJob(job=JobName.ACTIVATE_REGISTRATIONS, as_of=clock.now()))
            assert not blocked.ran and blocked.status == "running"
            clock.advance(minutes=16)
            runs = await survivor.runner.tick()
    taken = {r.job: r for r in runs}[JobName.ACTIVATE_REGISTRATIONS]
    assert taken.ran and taken.status == "done" and taken.attempt == 2
    assert work.calls[("ActivateDueRegistrations", date(2027, 11, 26))] == 2


async def _ens(nats_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "ENS_NATS_URL": nats_url, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ens",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_ens_jobs_run_and_list_as_an_operator_uses_them(nats_url, clock):
    work = CountingWork()
    clock.set(jst(2027, 11, 27, 23))  # nothing due at start-up
    async with running(None, nats_url, clock, services=[work, scheduler(nats_url, clock)]):
        code, out, _ = await _ens(nats_url, "jobs", "run", "password_expiry_warnings", "--as-of", "2027-11-26")
        assert code == 0 and "2027-11-26 を実行しました" in out and "09:00 JST" in out
        code, out, _ = await _ens(nats_url, "jobs", "run", "password_expiry_warnings", "--as-of", "2027-11-26T23:30", "--json")
        assert code == 0 and json.loads(out)["ran"] is False
        code, _, err = await _ens(nats_url, "jobs", "run", "password_expiry_warnings", "--as-of", "2027-13-01")
        assert code == 2 and "--as-of" in err and "存在しない日付" in err
        code, out, _ = await _ens(nats_url, "jobs", "list")
        assert code == 0 and "password_expiry_warnings" in out and "2027-11-26 完了" in out and "2027-11-28 09:00 JST" in out
        code, out, _ = await _ens(nats_url, "jobs", "list", "--json")
    assert code == 0 and len(json.loads(out)["jobs"]) == len(JobName)
    assert work.calls == Counter({("SendPasswordExpiryWarnings", date(2027, 11, 26)): 1})


async def test_the_cron_triggers_fire_each_job_at_its_japan_time(nats_url, clock):
    clock.set(jst(2027, 11, 27, 23))
    service = scheduler(nats_url, clock, filing_purge_time="03:30")
    async with running(None, nats_url, clock, services=[CountingWork(), service]):
        assert service.triggers is not None
        fires = service.triggers.next_fire_times()
    assert set(fires) == {j.value for j in JobName} | {"retry"}
    for name, at in fires.items():
        if name == "retry":
            continue
        local = at.astimezone(JST)
        assert (local.hour, local.minute) == ((3, 30) if name == "purge_filings" else (9, 0)), name


async def test_the_start_up_catch_up_waits_for_auth_and_filing_instead_of_failing_once(nats_url, client, clock):
    """Issue 15 item 4: started before auth, the catch-up used to fail once and leave the day to
    the next tick; it now waits until auth and filing answer, then runs the day."""
    clock.set(jst(2027, 11, 26, 10))  # down over 09:00
    sched = scheduler(nats_url, clock)
    async with running(None, nats_url, clock, services=[sched]):
        await client.status("scheduler")  # the scheduler is up; auth and filing are not
        assert sched._catch_up is not None and not sched._catch_up.done()
        work = CountingWork()
        async with running(None, nats_url, clock, services=[work]):
            runs = await sched.caught_up()
    assert {r.job for r in runs if r.ran} >= {JobName.ACTIVATE_REGISTRATIONS, JobName.PASSWORD_EXPIRY_WARNINGS}
    assert work.calls[("ActivateDueRegistrations", date(2027, 11, 26))] == 1
