"""A scheduler process SIGKILLed between its claim and the command's reply loses no day: its
claim stays "started", another scheduler takes it over after the lease, and the day ends done.

Run as a script, this module is the scheduler process that gets killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))

from contracts.auth import ActivateDueRegistrations  # noqa: E402 - after the sys.path line above
from contracts.common import JobResult  # noqa: E402 - after the sys.path line above
from contracts.scheduler import JobName  # noqa: E402 - after the sys.path line above
from services.runtime.clock import JST, FakeClock, business_day  # noqa: E402 - after the sys.path line above
from services.runtime.service import ServiceBase  # noqa: E402 - after the sys.path line above
from services.runtime.settings import RuntimeSettings  # noqa: E402 - after the sys.path line above
from services.scheduler.app import SchedulerService  # noqa: E402 - after the sys.path line above
from services.scheduler.settings import SchedulerSettings  # noqa: E402 - after the sys.path line above
from tests.fakes.scheduler import answer_status_for  # noqa: E402 - after the sys.path line above

NINE = datetime(2027, 11, 26, 9, 0, tzinfo=JST)
ONLY_ACTIVATION = {  # the other jobs at times that are not due at 09:00
    "triggers": False,
    "lease_s": 900,
    "password_warning_time": "12:00",
    "account_expiry_time": "12:00",
    "filing_purge_time": "12:00",
}


def scheduler(nats_url: str, clock: FakeClock) -> SchedulerService:
    return SchedulerService(RuntimeSettings(nats_url=nats_url), SchedulerSettings(**ONLY_ACTIVATION), clock)


async def serve_until_killed(nats_url: str, now: str) -> None:
    from tests.support.suite import running

    clock = FakeClock(datetime.fromisoformat(now))
    async with running(None, nats_url, clock, services=[scheduler(nats_url, clock)]):
        print("started", flush=True)
        await asyncio.Event().wait()


class HeldActivation(ServiceBase):
    """auth's ActivateDueRegistrations, answered only once `release` is set; counts the calls."""

    name = "testwork"
    identity = "admin"  # a test service: no role of the suite's is its own

    def __init__(self) -> None:
        super().__init__(RuntimeSettings())  # only its router is used: answers commands, owns nothing
        self.calls: list[date] = []
        self.release = asyncio.Event()
        answer_status_for(self.router, "auth", "filing")  # the scheduler's catch-up waits for them

        @self.router.subscriber(ActivateDueRegistrations.SUBJECT, queue="ens-testwork")
        async def handle(body: dict) -> JobResult:
            cmd = ActivateDueRegistrations.model_validate(body)
            self.calls.append(business_day(cmd.as_of))
            await self.release.wait()
            return JobResult(as_of=cmd.as_of, processed=1, changed=1)


async def test_a_scheduler_killed_mid_run_leaves_a_claim_that_is_taken_over_after_the_lease(nats_url):
    from tests.support.suite import running

    work = HeldActivation()
    clock = FakeClock(NINE)
    async with running(None, nats_url, clock, services=[work]):
        proc = subprocess.Popen(
            [sys.executable, __file__, nats_url, NINE.isoformat()],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while not work.calls:  # its start-up catch-up claimed the day and sent the command
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert asyncio.get_running_loop().time() < deadline, "the scheduler process never sent the command"
                await asyncio.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        work.release.set()

        clock.set(NINE + timedelta(minutes=10))
        survivor = scheduler(nats_url, clock)
        async with running(None, nats_url, clock, services=[survivor]):
            (within_lease,) = await survivor.caught_up()
            assert not within_lease.ran and within_lease.status == "running"
            clock.set(NINE + timedelta(minutes=16))
            (taken,) = await survivor.runner.tick()
            clock.set(NINE + timedelta(minutes=20))
            (later,) = await survivor.runner.tick()
            listing = {i.job: i for i in (await survivor.runner.list_jobs()).jobs}

    assert taken.ran and taken.status == "done" and taken.attempt == 2 and taken.changed == 1
    assert not later.ran
    assert work.calls == [NINE.date(), NINE.date()]  # the dead one's and the takeover's; idempotent at auth
    assert listing[JobName.ACTIVATE_REGISTRATIONS].last_run.status == "done"


if __name__ == "__main__":
    asyncio.run(serve_until_killed(sys.argv[1], sys.argv[2]))
