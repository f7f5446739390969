"""The password-expiry warning scan over 100,000 accounts, as the scheduler runs it at 09:00.

    python bench/scheduler_scan.py [--accounts 100000]

Starts its own nats-server (free port, temporary store, stopped at the end), hosts the real
auth and scheduler services with a fake clock at 2027-11-26 09:00 JST, seeds the accounts
through auth's own store code (its outbox store and its due-date index, as registration and
activation leave them), then sends the scheduler's RunJob(password_expiry_warnings) and times
it until auth answers. Half the accounts are a launch cohort whose passwords expire in exactly
30 days (the peak day: every one of them gets mail 5); the other half set their passwords on
days spread over the year, as in steady state (the next day is timed too: an ordinary day, which
reads only the markers of the warning days since the last finished run, one per threshold).
The warnings expected are counted with auth's own rule (transitions.warn_password_expiry): the
first run catches up every warning whose day has come, the next day only that day's.

Baseline, measured in the same run: reading every account entry once (what any scan without
auth's due-date index would cost at least). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from contracts import auth as auth_contract
from contracts.client import EnsClient
from contracts.scheduler import JobName, JobRun, RunJob
from ens.embedded import secured_server
from ens.embedded import versions as embedded_versions
from ens.suite import build_services
from services.auth.adapters.kv import ACCOUNTS, INDEX, KvDueIndex
from services.auth.domain.account import Account, DueKind
from services.auth.domain.periods import password_expires_at
from services.auth.domain.transitions import warn_password_expiry
from services.runtime.clock import JST, FakeClock, business_day
from services.runtime.host import Host
from services.runtime.nats import connect_as
from services.runtime.outbox import OutboxStore
from services.runtime.settings import RuntimeSettings

AS_OF = datetime(2027, 11, 26, 9, 0, tzinfo=JST)
SEED_CONCURRENCY = 256
READ_CONCURRENCY = 64


def account_state(i: int, password_set_at: datetime) -> dict:
    """An active organisation account as auth's registration + activation leave it."""
    activated = password_set_at + timedelta(days=1)
    return {
        "auth_id": f"bench{i:07d}",
        "role": "organisation",
        "organisation": {"organisation_id": f"B{i:012d}", "kind": "accepting_organisation", "name": f"ベンチ機関{i}"},
        "name": None,
        "email": f"bench{i}@example.jp",
        "status": "active",
        "password_hash": "$scrypt$bench-not-a-real-hash",
        "registered_at": (password_set_at - timedelta(hours=1)).isoformat(),
        "effective_on": business_day(activated).isoformat(),
        "activated_at": activated.isoformat(),
        "last_used_at": (AS_OF - timedelta(days=1 + i % 200)).isoformat(),  # used recently: not expired
        "password_set_at": password_set_at.isoformat(),
        "failed_logins": 0,
        "locked_until": None,
        "warned": [],
    }


def password_set_at(i: int) -> datetime:
    at_ten = (AS_OF + timedelta(hours=1)).astimezone(JST)
    if i % 2 == 0:
        return at_ten - timedelta(days=335)  # launch cohort: expires in exactly 30 days
    return at_ten - timedelta(days=1 + i % 364)  # steady state: spread over the year


async def gather_bounded(coros, limit: int) -> None:
    batch = []
    for coro in coros:
        batch.append(coro)
        if len(batch) >= limit:
            await asyncio.gather(*batch)
            batch = []
    if batch:
        await asyncio.gather(*batch)


async def events_on(js, subject: str) -> int:
    info = await js.stream_info("ENS_EVENTS", subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def main(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ens-bench-") as tmp:
        server = secured_server(Path(tmp))
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(Path(tmp) / "credentials")  # every process here connects as itself
        server.start()
        try:
            return await run(server.url, n)
        finally:
            server.stop()


async def run(url: str, n: int) -> dict:
    os.environ.setdefault("ENS_AUTH_OPERATOR_TOKEN", "bench-operator-token-0123456789")
    os.environ.setdefault("ENS_SCHEDULER_TRIGGERS", "false")  # the bench drives the run itself
    clock = FakeClock(AS_OF - timedelta(hours=12))  # nothing due at start-up (no catch-up run)
    settings = RuntimeSettings(nats_url=url, request_timeout_s=600)
    host = Host(build_services(["auth", "scheduler"], settings, clock), settings, clock)
    await host.start()
    nc = await connect_as(RuntimeSettings(nats_url=url), "admin")
    try:
        js = nc.jetstream(timeout=30)
        accounts = OutboxStore(await js.key_value(ACCOUNTS), source="auth", bucket=ACCOUNTS, clock=clock)
        index = KvDueIndex(await js.key_value(INDEX))

        t0 = time.perf_counter()

        async def seed(i: int) -> None:
            set_at = password_set_at(i)
            await index.mark(DueKind.PASSWORD_EXPIRY, business_day(password_expires_at(set_at)), f"bench{i:07d}")
            await accounts.put(f"bench{i:07d}", account_state(i, set_at), expected=None)

        await gather_bounded((seed(i) for i in range(n)), SEED_CONCURRENCY)
        seed_s = time.perf_counter() - t0
        print(f"seeded {n} accounts in {seed_s:.1f} s", flush=True)

        expected, expected_next_day = expected_warnings(n)

        kv = accounts.kv
        t0 = time.perf_counter()
        await gather_bounded((kv.get(f"{k}") for k in [_enc(f"bench{i:07d}") for i in range(n)]), READ_CONCURRENCY)
        full_read_s = time.perf_counter() - t0
        print(f"baseline: read every account once in {full_read_s:.1f} s", flush=True)

        clock.set(AS_OF)
        client = EnsClient(nc, timeout=600)
        t0 = time.perf_counter()
        run_ = await client.call(RunJob(job=JobName.PASSWORD_EXPIRY_WARNINGS, as_of=AS_OF))
        scan_s = time.perf_counter() - t0
        assert isinstance(run_, JobRun) and run_.ran and run_.status == "done", run_
        print(f"scan: {run_.changed} warnings ({run_.details}) in {scan_s:.1f} s", flush=True)

        subject = auth_contract.PasswordExpiryWarned.SUBJECT
        deadline = time.perf_counter() + 180
        while (published := await events_on(js, subject)) < run_.changed and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        relayed_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        clock.set(AS_OF + timedelta(hours=3))  # later the same day (a job's as-of is never ahead of the clock)
        again = await client.call(RunJob(job=JobName.PASSWORD_EXPIRY_WARNINGS, as_of=AS_OF + timedelta(hours=3)))
        again_s = time.perf_counter() - t1
        assert isinstance(again, JobRun) and not again.ran
        forced = await client.call(RunJob(job=JobName.PASSWORD_EXPIRY_WARNINGS, as_of=AS_OF, force=True))
        assert isinstance(forced, JobRun) and forced.changed == 0, forced  # auth warns once per password and day

        # An ordinary day: the next one, when only the accounts spread over the year are due.
        next_day = AS_OF + timedelta(days=1)
        clock.set(next_day)
        t1 = time.perf_counter()
        ordinary = await client.call(RunJob(job=JobName.PASSWORD_EXPIRY_WARNINGS, as_of=next_day))
        ordinary_s = time.perf_counter() - t1
        assert isinstance(ordinary, JobRun) and ordinary.ran and ordinary.status == "done", ordinary
        print(f"ordinary day: {ordinary.changed} warnings in {ordinary_s:.2f} s", flush=True)
    finally:
        await nc.close()
        await host.stop()

    return {
        "bench": "scheduler_scan",
        "accounts": n,
        "seconds": round(scan_s, 2),
        "warnings": run_.changed,
        "warnings_expected": expected,
        "warnings_per_s": round(run_.changed / scan_s, 1) if scan_s else None,
        "processed": run_.processed,
        "events_published": published,
        "seconds_until_events_published": round(relayed_s, 2),
        "baseline_full_read_seconds": round(full_read_s, 2),
        "scan_vs_full_read": round(scan_s / full_read_s, 2) if full_read_s else None,
        "second_run_same_day_seconds": round(again_s, 3),
        "forced_rerun_warnings": forced.changed,
        "ordinary_day_seconds": round(ordinary_s, 3),
        "ordinary_day_warnings": ordinary.changed,
        "ordinary_day_warnings_expected": expected_next_day,
        "ordinary_day_markers_read": ordinary.processed,
        "seed_seconds": round(seed_s, 1),
        "target_seconds": 30,
        "cores": os.cpu_count(),
        "versions": versions(),
    }


def expected_warnings(n: int, days: tuple[int, ...] = (30, 7)) -> tuple[int, int]:
    """The warnings auth's own rule owes: at AS_OF (the first run, which catches up every warning
    whose day has come), and the next day after it (only those whose day is that day)."""
    at_peak = next_day = 0
    for i in range(n):
        account = Account.model_validate(account_state(i, password_set_at(i)))
        decided = warn_password_expiry(account, days, AS_OF)
        if decided is not None:
            at_peak += 1
            account = decided[0]
        next_day += warn_password_expiry(account, days, AS_OF + timedelta(days=1)) is not None
    return at_peak, next_day


def _enc(key: str) -> str:
    from services.runtime.keys import encode_key

    return encode_key(key)


def versions() -> dict:
    return embedded_versions("nats-py", "faststream", "APScheduler", "pydantic")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    result = asyncio.run(main(args.accounts))
    print(json.dumps(result, ensure_ascii=False))
