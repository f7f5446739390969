"""What syncing every JetStream write costs: notifier mails/s and command latency with the
nats-server's default fsync policy (every 2 minutes) against `sync_interval: always`, in one run.

Each round starts two fresh secured nats-servers (one per policy) and, on each in turn:
1. command latency: 200 officer `PublishNotice` commands one after another (each a KV
   compare-and-set write and an audit record, both acknowledged by JetStream), p50/p99;
2. notifier throughput: a backlog of events, then one `ens run notifier` replica delivering them
   to a local SMTP sink (each mail: a ledger claim and a sent record, both KV writes).
Rounds alternate the policies so a change in the machine's load hits both alike; figures are
medians of the rounds. The last line is one JSON object.

    python bench/durability.py [--mails 3000] [--commands 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts import auth as a
from contracts.client import EnsClient
from contracts.notifier import DeliveryStatus
from ens.embedded import secured_server
from ens.suite import SuiteSettings, build_services
from services.auth.settings import AuthSettings
from services.notifier.domain.routing import mails_for
from services.runtime import nats as ens_nats
from services.runtime.clock import SystemClock
from services.runtime.host import Host
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

OPERATOR_TOKEN = "durability-bench-operator-token-0123456789"
PASSWORD = "Officer#2027x"


def notifier_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("notifier_bench", ROOT / "bench" / "notifier.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def command_latency(url: str, commands: int) -> list[float]:
    settings = RuntimeSettings(nats_url=url)
    clock = SystemClock()
    suite = SuiteSettings(auth=AuthSettings(operator_token=OPERATOR_TOKEN))
    host = Host(build_services(["auth"], settings, clock, suite), settings, clock)
    await host.start()
    nc = await connect_as(settings, "operator")
    try:
        client = EnsClient(nc, timeout=30)
        await client.call(
            a.CreateOfficer(
                operator_token=OPERATOR_TOKEN, auth_id="benchofficer", password=PASSWORD, name="ベンチ", email="o@example.go.jp"
            )
        )
        token = (await client.call(a.Login(auth_id="benchofficer", password=PASSWORD))).session_token
        timings = []
        for i in range(commands):
            started = time.perf_counter()
            await client.call(a.PublishNotice(session_token=token, title=f"保守のお知らせ {i}", body="計画停止"))
            timings.append((time.perf_counter() - started) * 1000)
        return timings
    finally:
        await nc.close()
        await host.stop()


async def notifier_throughput(nb, url: str, work: Path, mails: int) -> float:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    nc = await connect_as(RuntimeSettings(nats_url=url), "admin")
    sink = nb.Sink()
    await sink.start()
    try:
        js = nc.jetstream(timeout=30)
        await ens_nats.ensure_shared_streams(js, RuntimeSettings(nats_url=url))
        backlog, expected = [], 0
        while expected < mails:
            e = nb.event(len(backlog), tag)
            backlog.append(e)
            expected += len(mails_for(e))
        await nb.publish_all(js, backlog)
        proc = await nb.start_notifier(url, sink.port, work / "notifier.log")
        try:
            await nb.settled(js)
        finally:
            await nb.stop_all([proc])
        sent = [
            r for r in await nb.ledger_records(js) if r.event_id.startswith(f"bench.{tag}.") and r.status == DeliveryStatus.SENT
        ]
        assert len(sent) == expected, f"{len(sent)} of {expected} sent"
        span = (max(r.sent_at for r in sent) - min(r.sent_at for r in sent)).total_seconds()
        return (len(sent) - 1) / span
    finally:
        await nc.close()
        await sink.stop()


async def one(nb, policy: str | None, args: argparse.Namespace) -> dict[str, float]:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory(prefix="ens-durability-") as tmp:
        work = Path(tmp)
        server = secured_server(work, sync_interval=policy)
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(work / "credentials")
        server.start()
        try:
            latency = await command_latency(server.url, args.commands)
            mails_per_s = await notifier_throughput(nb, server.url, work, args.mails)
        finally:
            server.stop()
    return {"command_p50_ms": percentile(latency, 50), "command_p99_ms": percentile(latency, 99), "mails_per_s": mails_per_s}


async def main(args: argparse.Namespace) -> dict[str, object]:
    nb = notifier_bench()
    results: dict[str, list[dict[str, float]]] = {"default": [], "always": []}
    for r in range(args.rounds):
        for name, policy in (
            (("default", None), ("always", "always")) if r % 2 == 0 else (("always", "always"), ("default", None))
        ):
            results[name].append(await one(nb, policy, args))
            print(f"round {r + 1} {name}: {json.dumps(results[name][-1])}", flush=True)

    def median(name: str, key: str) -> float:
        return round(statistics.median(x[key] for x in results[name]), 2)

    summary = {name: {k: median(name, k) for k in ("command_p50_ms", "command_p99_ms", "mails_per_s")} for name in results}
    return {
        "bench": "durability",
        "sync_default": summary["default"],
        "sync_always": summary["always"],
        "mails_per_s_always_over_default": round(summary["always"]["mails_per_s"] / summary["default"]["mails_per_s"], 3),
        "command_p50_always_over_default": round(summary["always"]["command_p50_ms"] / summary["default"]["command_p50_ms"], 3),
        "rounds": args.rounds,
        "mails": args.mails,
        "commands": args.commands,
        "sink": nb.Sink().name or ("postfix smtp-sink" if Path(nb.SMTP_SINK).exists() else "aiosmtpd"),
        "cores": os.cpu_count(),
        "versions": nb.versions("nats-py", "faststream"),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=3000)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False))
