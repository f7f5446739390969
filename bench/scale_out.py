"""Scaling out on this machine: the notifier with 1 and 2 replicas, auth with 1 and 2 processes.

    python bench/scale_out.py [--mails 6000] [--logins 600] [--rounds 2] [--metrics on|off]

Starts its own nats-server (free port, temporary store) and Postfix's `smtp-sink` (the aiosmtpd
sink when Postfix is missing; `sink` says which), stops everything by pid at the end. Each
replica is its own `python -m ens run SERVICE` process, as deployed, with its own metrics port
(or none with `--metrics off`). Rounds alternate 1 and 2 replicas, so a change in the machine's
load hits both alike; figures are the medians of the rounds.

- notifier: the replicas start, then `--mails` events of every type are published at once;
  mails/s from the ledger's own first and last 250 (bench/notifier.py's helpers); CPU per mail
  of the replicas from /proc, start-up left out.
- auth: `--logins` real logins (argon2id verify, account and session writes, audit) with 8 x
  cores in flight (bench/login.py's accounts and load); beside each round, the bare argon2id
  verify rate on as many threads as cores, the ceiling.

Last line: one JSON object with the figures, `notifier_2_over_1`, `auth_2_over_1`, cores and
versions. What they predict for more cores: docs/OPERATIONS.md, "Scaling".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import login as login_bench  # bench/login.py
import notifier as notifier_bench  # bench/notifier.py
from argon2 import PasswordHasher
from nats.aio.client import Client as Nats
from nats.js import JetStreamContext

from contracts import auth as a
from contracts import subjects
from contracts.client import EnsClient
from contracts.notifier import DeliveryStatus
from ens.embedded import NatsServerProcess, die_with_parent, free_port, secured_server, versions
from services.auth.settings import AuthSettings
from services.notifier.domain.routing import mails_for
from services.runtime import nats as ens_nats
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings


def event(i: int, tag: str):
    """bench/notifier.py's sample event, claiming the service that owns its subject as its source
    (the notifier mails nothing whose source is not the subject's owner)."""
    sample = notifier_bench.event(i, tag)
    return sample.model_copy(update={"meta": sample.meta.model_copy(update={"source": subjects.event_owner(sample.SUBJECT)})})


METRICS_PORTS: list[int] = []  # of the processes started with metrics on, for a scraper


def metrics_env(on: bool) -> dict[str, str]:
    """Each process its own metrics port (two on one machine cannot share 9464), or metrics off."""
    if not on:
        return {"ENS_METRICS": "false", "ENS_METRICS_PORT": "0"}
    METRICS_PORTS.append(free_port())
    return {"ENS_METRICS": "true", "ENS_METRICS_PORT": str(METRICS_PORTS[-1])}


# ---- notifier -------------------------------------------------------------------------------


async def start_notifier(url: str, port: int, log: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """bench/notifier.py's start_notifier with this process's own metrics settings: it copies
    os.environ before its first await, so replicas started together each get their own."""
    os.environ.update(env)
    return await notifier_bench.start_notifier(url, port, log)


async def notifier_round(js, url: str, sink, work: Path, replicas: int, mails_wanted: int, metrics: bool) -> dict:
    """The replicas first, then the backlog: their CPU is counted from the first event on, start-up
    left out (it would otherwise weigh as much as a few thousand mails)."""
    tag = f"{uuid.uuid4().hex[:8]}-{replicas}"
    backlog = [event(i, tag) for i in range(mails_wanted)]
    mails = sum(len(mails_for(e)) for e in backlog)
    procs = []
    try:
        # All at once, as bench/notifier.py starts them, so the measured span has every replica.
        envs = [metrics_env(metrics) for _ in range(replicas)]
        procs = list(
            await asyncio.gather(
                *(start_notifier(url, sink.port, work / f"notifier-{replicas}-{i}.log", env) for i, env in enumerate(envs))
            )
        )
        cpu0 = sum(notifier_bench.cpu_seconds(p.pid) for p in procs)
        await notifier_bench.publish_all(js, backlog)
        await notifier_bench.settled(js)
        cpu = sum(notifier_bench.cpu_seconds(p.pid) for p in procs) - cpu0
    finally:
        await notifier_bench.stop_all(procs)
    sent = [
        r
        for r in await notifier_bench.ledger_records(js)
        if r.event_id.startswith(f"bench.{tag}.") and r.status == DeliveryStatus.SENT
    ]
    assert len(sent) == mails, f"{len(sent)} of {mails} sent"
    span = (max(r.sent_at for r in sent) - min(r.sent_at for r in sent)).total_seconds()
    return {"replicas": replicas, "mails": mails, "mails_per_s": (mails - 1) / span, "cpu_ms_per_mail": cpu / mails * 1000}


# ---- auth -----------------------------------------------------------------------------------


def start_auth(url: str, n: int, data_dir: Path, metrics: bool) -> list[subprocess.Popen[bytes]]:
    """`ens run auth` n times (bench/login.py's environment), each with its own metrics port."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENS_")}
    base.update(
        ENS_NATS_URL=url,
        ENS_DATA_DIR=str(data_dir),
        ENS_NATS_CREDENTIALS_DIR=os.environ["ENS_NATS_CREDENTIALS_DIR"],
        ENS_AUTH_OPERATOR_TOKEN=login_bench.OPERATOR_TOKEN,
        ENS_AUTH_LOCKOUT_THRESHOLD=str(10**9),
        ENS_LOG_LEVEL="WARNING",
    )
    with open(data_dir / "auth.log", "ab") as log:
        return [
            subprocess.Popen(
                [sys.executable, "-m", "ens", "run", "auth"],
                env={**base, **metrics_env(metrics)},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
            for _ in range(n)
        ]


class _ForcedActivation:
    """bench/login.py's account set-up activates as of tomorrow 09:00 JST; auth refuses a future
    as_of unless the operator forces it, so force it."""

    def __init__(self, client: EnsClient) -> None:
        self._client = client

    async def call(self, cmd):  # type: ignore[no-untyped-def]
        if isinstance(cmd, a.ActivateDueRegistrations):
            cmd = cmd.model_copy(update={"force": True})
        return await self._client.call(cmd)


async def setup_accounts(client: EnsClient, n: int) -> list[str]:
    return await login_bench.setup_accounts(_ForcedActivation(client), n)  # type: ignore[arg-type]


async def until_all_answer(client: EnsClient, procs: list[subprocess.Popen[bytes]], instances: int) -> None:
    """Every replica answers: distinct instances seen on the status subject (a bound, not a sleep)."""
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while len(seen) < instances:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("an auth replica exited during start-up")
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(seen)} of {instances} auth replicas answered")
        try:
            seen.add((await client.status("auth", timeout=0.5)).instance)
        except Exception:
            await asyncio.sleep(0.05)


async def auth_round(client: EnsClient, url: str, work: Path, replicas: int, ids: list[str], logins: int, metrics: bool) -> dict:
    procs = start_auth(url, replicas, work, metrics)
    try:
        await until_all_answer(client, procs, replicas)
        cores = os.cpu_count() or 1
        in_flight = asyncio.Semaphore(login_bench.IN_FLIGHT_PER_CORE * cores)

        async def one(i: int) -> None:
            async with in_flight:
                reply = await client.call(a.Login(auth_id=ids[i % len(ids)], password=login_bench.PASSWORD))
                assert isinstance(reply, a.LoginResult)

        await asyncio.gather(*(one(i) for i in range(len(ids) * 2)))  # warm-up: every replica's threads and caches
        cpu0 = sum(notifier_bench.cpu_seconds(p.pid) for p in procs)
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(logins)))
        rate = logins / (time.perf_counter() - t0)
        cpu = sum(notifier_bench.cpu_seconds(p.pid) for p in procs) - cpu0
    finally:
        login_bench.stop_replicas(procs)
    return {"replicas": replicas, "logins_per_s": rate, "cpu_ms_per_login": cpu / logins * 1000}


@asynccontextmanager
async def bench_bus(work: Path) -> AsyncIterator[tuple[NatsServerProcess, notifier_bench.Sink, Nats, JetStreamContext]]:
    """A secured nats-server with the event streams, a local SMTP sink and an admin connection,
    all stopped on the way out (ENS_NATS_CREDENTIALS_DIR points the bench's processes at the seeds)."""
    server = secured_server(work)
    os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(work / "credentials")
    server.start()
    sink = notifier_bench.Sink()
    await sink.start()
    nc = await connect_as(RuntimeSettings(nats_url=server.url), "admin")
    try:
        js = nc.jetstream(timeout=30)
        await ens_nats.ensure_shared_streams(js, RuntimeSettings(nats_url=server.url))
        yield server, sink, nc, js
    finally:
        await nc.close()
        server.stop()
        await sink.stop()


async def accounts_and_hash(
    client: EnsClient, url: str, work: Path, accounts: int, metrics: bool
) -> tuple[list[str], PasswordHasher, str]:
    """The login accounts (made once, through one auth process), and a hasher and stored hash with
    auth's own parameters for the bare-verify baseline."""
    setup = start_auth(url, 1, work, metrics)
    try:
        await until_all_answer(client, setup, 1)
        ids = await setup_accounts(client, accounts)
    finally:
        login_bench.stop_replicas(setup)
    params = AuthSettings(operator_token=login_bench.OPERATOR_TOKEN).hash_parameters()
    hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism)
    return ids, hasher, hasher.hash(login_bench.PASSWORD)


async def main(args: argparse.Namespace) -> dict:
    started = time.monotonic()
    metrics = args.metrics == "on"
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ens-scale-out-") as tmp:
        work = Path(tmp)
        async with bench_bus(work) as (server, sink, nc, js):
            notifier_rounds = []
            for r in range(args.rounds):
                for replicas in (1, 2) if r % 2 == 0 else (2, 1):
                    result = await notifier_round(js, server.url, sink, work, replicas, args.mails, metrics)
                    notifier_rounds.append(result)
                    print(f"notifier x{replicas}: {result['mails_per_s']:.0f} mails/s", flush=True)

            # auth: the accounts once (with one replica), then the rounds
            client = EnsClient(nc, timeout=120)
            ids, hasher, stored = await accounts_and_hash(client, server.url, work, args.accounts, metrics)
            auth_rounds, verify_rates = [], []
            for r in range(args.rounds):
                verify_rates.append(
                    await asyncio.to_thread(login_bench.bare_verify_rate, hasher, stored, args.logins // 2, cores)
                )
                for replicas in (1, 2) if r % 2 == 0 else (2, 1):
                    result = await auth_round(client, server.url, work, replicas, ids, args.logins, metrics)
                    auth_rounds.append(result)
                    print(f"auth x{replicas}: {result['logins_per_s']:.1f} logins/s", flush=True)

    def median(rounds: list[dict], replicas: int, key: str) -> float:
        return statistics.median(x[key] for x in rounds if x["replicas"] == replicas)

    n1, n2 = median(notifier_rounds, 1, "mails_per_s"), median(notifier_rounds, 2, "mails_per_s")
    a1, a2 = median(auth_rounds, 1, "logins_per_s"), median(auth_rounds, 2, "logins_per_s")
    return {
        "bench": "scale_out",
        "metrics": args.metrics,
        "notifier_1_mails_per_s": round(n1, 1),
        "notifier_2_mails_per_s": round(n2, 1),
        "notifier_2_over_1": round(n2 / n1, 3),
        "notifier_cpu_ms_per_mail_1": round(median(notifier_rounds, 1, "cpu_ms_per_mail"), 3),
        "notifier_cpu_ms_per_mail_2": round(median(notifier_rounds, 2, "cpu_ms_per_mail"), 3),
        "auth_1_logins_per_s": round(a1, 1),
        "auth_2_logins_per_s": round(a2, 1),
        "auth_2_over_1": round(a2 / a1, 3),
        "hash_verify_per_s": round(statistics.median(verify_rates), 1),
        "auth_2_over_bare_verify": round(a2 / statistics.median(verify_rates), 3),
        "rounds": {"notifier": notifier_rounds, "auth": auth_rounds},
        "mails_per_round": notifier_rounds[0]["mails"],
        "logins_per_round": args.logins,
        "sink": sink.name,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "seconds": round(time.monotonic() - started, 1),
        "cores": cores,
        "versions": versions("nats-py", "faststream", "aiosmtplib", "argon2-cffi", "prometheus-client"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=6000, help="events in each notifier round's backlog")
    parser.add_argument("--logins", type=int, default=600, help="logins in each auth round")
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with 1 and 2 replicas (order alternating)")
    parser.add_argument("--metrics", choices=("on", "off"), default="on", help="off: ENS_METRICS=false, no metrics port")
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False, default=str))
