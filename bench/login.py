"""Logins per second through the suite vs a bare argon2id verify loop, and the timing gap between
an unknown auth ID and a wrong password.

    python bench/login.py [--accounts 8] [--logins 2500] [--tries 200] [--replicas CORES]

Starts its own nats-server (free port, temporary store, stopped at the end) and the real auth
service as deployed: `ens run auth`, one process per core by default (--replicas), with the
production hash parameters (argon2id, OWASP: 19 MiB, t=2, p=1); stops them all at the end. Then:

- baseline: `PasswordHasher.verify` of the same kind of hash on as many threads as there are
  cores (what the hardware can verify at most);
- suite: Login requests over NATS with 8 × cores in flight (a saturating load: the queue group
  splits them at random, and fewer can leave a replica with no login to hash), each one a real login (hash verify,
  CAS write of the account, session write, audit record) answered with a session token;
- the two alternate in 5 rounds of --logins / 5 each (the machine may be shared); figures are
  the rounds' medians;
- timing: 200 tries each of an unknown ID and a wrong password for an existing account,
  alternating, one at a time; the median latency of each and their difference. (The bench runs
  the service with a lockout threshold it cannot reach, so every wrong password is verified.)

Last line: one JSON object with logins_per_s, hash_verify_per_s, ratio (target >= 0.8),
timing_gap_ms, cores and versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import time as dtime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher

from contracts import auth as a
from contracts.client import CommandRefused, EnsClient
from contracts.organisations import OrganisationKind
from ens.embedded import (
    die_with_parent,
    nats_server_binary,
    secured_server,
)
from services.auth.settings import AuthSettings
from services.runtime.clock import jst_at
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

OPERATOR_TOKEN = "bench-operator-token-0123456789"
OFFICER = ("benchofficer", "Officer#2027pw")
PASSWORD = "Bench#2027pass"
WRONG = "Wrong#2027pass"
ROUNDS = 5
IN_FLIGHT_PER_CORE = 8


def corporate_number(seed: int) -> str:
    """A 13-digit corporate number with a valid check digit."""
    body = f"{seed:012d}"
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(body), start=1))
    return f"{9 - total % 9}{body}"


def bare_verify_rate(hasher: PasswordHasher, stored: str, n: int, workers: int) -> float:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: hasher.verify(stored, PASSWORD), range(workers)))  # warm the threads
        t0 = time.perf_counter()
        list(pool.map(lambda _: hasher.verify(stored, PASSWORD), range(n)))
        return n / (time.perf_counter() - t0)


async def setup_accounts(client: EnsClient, n: int) -> list[str]:
    await client.call(
        a.CreateOfficer(
            operator_token=OPERATOR_TOKEN, auth_id=OFFICER[0], password=OFFICER[1], name="ベンチ職員", email="o@example.go.jp"
        )
    )
    officer = (await client.call(a.Login(auth_id=OFFICER[0], password=OFFICER[1]))).session_token
    ids = []
    effective = None
    for i in range(n):
        auth_id = f"bench-user{i:03d}"
        org = a.Organisation(
            organisation_id=corporate_number(1000 + i), kind=OrganisationKind.ACCEPTING_ORGANISATION, name=f"ベンチ{i}"
        )
        reg = await client.call(
            a.RegisterAccount(
                session_token=officer, organisation=org, auth_id=auth_id, initial_password=PASSWORD, email=f"b{i}@example.jp"
            )
        )
        effective = reg.effective_on
        ids.append(auth_id)
    assert effective is not None
    # The next-day batch, run as of its time (the command decides by as_of, not by the wall clock).
    # forced: the effective day is ahead of the wall clock this bench runs on
    done = await client.call(a.ActivateDueRegistrations(as_of=jst_at(effective, dtime(9, 0)), force=True))
    assert done.changed == n, done
    return ids


async def timed(coro) -> tuple[float, bytes | None]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    reply = await coro
    return time.perf_counter() - t0, reply


def start_replicas(url: str, n: int, data_dir: Path) -> list[subprocess.Popen[bytes]]:
    """`ens run auth` n times, as deployed: each replica its own process (its own GIL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENS_")}
    env.update(
        ENS_NATS_URL=url,
        ENS_DATA_DIR=str(data_dir),
        ENS_AUTH_OPERATOR_TOKEN=OPERATOR_TOKEN,
        ENS_AUTH_LOCKOUT_THRESHOLD=str(10**9),  # every wrong password of the timing part is verified
        ENS_LOG_LEVEL="WARNING",
    )
    log = open(data_dir / "auth.log", "ab")  # noqa: SIM115 - handed to the children
    try:
        return [
            subprocess.Popen(
                [sys.executable, "-m", "ens", "run", "auth"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
            for _ in range(n)
        ]
    finally:
        log.close()


def stop_replicas(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def until_answering(client: EnsClient, procs: list[subprocess.Popen[bytes]]) -> None:
    for _ in range(600):
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("an auth replica exited during start-up")
        try:
            await client.status("auth", timeout=0.5)
        except CommandRefused:
            await asyncio.sleep(0.05)
            continue
        return
    raise TimeoutError("auth did not answer")


async def run(url: str, accounts: int, logins: int, tries: int, replicas: int, data_dir: Path) -> dict:
    cores = os.cpu_count() or 1
    params = AuthSettings(operator_token=OPERATOR_TOKEN).hash_parameters()
    hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism)
    stored = hasher.hash(PASSWORD)

    procs = start_replicas(url, replicas, data_dir)
    nc = await connect_as(RuntimeSettings(nats_url=url), "operator")
    try:
        client = EnsClient(nc, timeout=120)
        await until_answering(client, procs)
        await asyncio.sleep(1.0)  # the other replicas finish starting (bounded; only affects warm-up)
        ids = await setup_accounts(client, accounts)
        for auth_id in ids:  # warm-up
            await client.call(a.Login(auth_id=auth_id, password=PASSWORD))

        in_flight = asyncio.Semaphore(IN_FLIGHT_PER_CORE * cores)

        async def one(i: int) -> None:
            async with in_flight:
                reply = await client.call(a.Login(auth_id=ids[i % len(ids)], password=PASSWORD))
                assert isinstance(reply, a.LoginResult)

        # Baseline and suite alternate in rounds, so a change in the machine's load (other
        # programs on the same cores) hits both alike; the figures are the medians of the rounds.
        per_round = max(1, logins // ROUNDS)
        rounds = []
        for r in range(ROUNDS):
            verify_rate = await asyncio.to_thread(bare_verify_rate, hasher, stored, per_round, cores)
            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(per_round)))
            login_rate = per_round / (time.perf_counter() - t0)
            rounds.append((login_rate, verify_rate))
            print(
                f"round {r + 1}: suite {login_rate:.1f} logins/s, bare verify {verify_rate:.1f}/s, ratio {login_rate / verify_rate:.2f}",
                flush=True,
            )
        logins_per_s = statistics.median(x for x, _ in rounds)
        hash_verify_per_s = statistics.median(y for _, y in rounds)
        ratio = statistics.median(x / y for x, y in rounds)

        async def raw(auth_id: str, password: str) -> bytes:
            payload = a.Login(auth_id=auth_id, password=password).model_dump_json().encode()
            return (await nc.request(a.Login.SUBJECT, payload, timeout=120)).data

        unknown_ms, wrong_ms = [], []
        replies = set()
        for i in range(tries):
            # Alternate which goes first so drift in machine load hits both equally.
            order = [("unknown", f"nobody{i:05d}"), ("wrong", ids[i % len(ids)])]
            for kind, auth_id in order if i % 2 == 0 else order[::-1]:
                elapsed, reply = await timed(raw(auth_id, WRONG))
                (unknown_ms if kind == "unknown" else wrong_ms).append(elapsed * 1000)
                replies.add(reply)
        identical = len(replies) == 1
        gap = statistics.median(unknown_ms) - statistics.median(wrong_ms)
        print(
            f"timing: median unknown {statistics.median(unknown_ms):.2f} ms, wrong password "
            f"{statistics.median(wrong_ms):.2f} ms, gap {gap:+.2f} ms; replies identical: {identical}",
            flush=True,
        )
    finally:
        await nc.close()
        stop_replicas(procs)

    return {
        "bench": "login",
        "logins": logins,
        "logins_per_s": round(logins_per_s, 1),
        "hash_verify_per_s": round(hash_verify_per_s, 1),
        "ratio": round(ratio, 3),
        "rounds": [{"logins_per_s": round(x, 1), "hash_verify_per_s": round(y, 1)} for x, y in rounds],
        "target_ratio": 0.8,
        "timing_gap_ms": round(gap, 3),
        "median_unknown_ms": round(statistics.median(unknown_ms), 3),
        "median_wrong_password_ms": round(statistics.median(wrong_ms), 3),
        "tries": tries,
        "replies_byte_identical": identical,
        "hash": {
            "algorithm": "argon2id",
            "memory_kib": params.memory_kib,
            "time_cost": params.time_cost,
            "parallelism": params.parallelism,
        },
        "in_flight": IN_FLIGHT_PER_CORE * cores,
        "auth_replicas": replicas,
        "cores": cores,
        "versions": versions(),
    }


def versions() -> dict:
    out = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "python": platform.python_version(),
        "nats-server": out.split()[-1].lstrip("v") if out else "?",
        **{p: version(p) for p in ("nats-py", "faststream", "argon2-cffi", "argon2-cffi-bindings", "pydantic")},
    }


async def main(accounts: int, logins: int, tries: int, replicas: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ens-bench-") as tmp:
        server = secured_server(Path(tmp))
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(Path(tmp) / "credentials")
        server.start()
        try:
            return await run(server.url, accounts, logins, tries, replicas, Path(tmp))
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--logins", type=int, default=2500)
    parser.add_argument("--tries", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=os.cpu_count() or 1, help="auth processes (default: one per core)")
    args = parser.parse_args()
    try:
        result = asyncio.run(main(args.accounts, args.logins, args.tries, args.replicas))
    except CommandRefused as exc:
        print(f"bench: refused: {exc.error.code}: {exc.error.message}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result, ensure_ascii=False))
