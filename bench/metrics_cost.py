"""What metrics cost: notifier mails/s and the login ratio with metrics on and off, in one run.

    python bench/metrics_cost.py [--mails 6000] [--logins 600] [--rounds 3] [--scrape-every 1.0]

The same processes as bench/scale_out.py (its helpers): 2 notifier replicas and 2 auth processes
(one per core, as deployed), each `python -m ens run SERVICE`. Each round is a pair, metrics on
(ENS_METRICS=true, each process its own metrics port, every one scraped every `--scrape-every`
seconds, far more often than Prometheus's usual 15-60 s, so the scrape's own cost is in the
figure) and off (ENS_METRICS=false, no port) back to back, in alternating order.

The login ratio is logins/s over ONE bare argon2id verify rate shared by both sides: the bare
verify is sampled before the first login round and after every login round (so between every
on and off round), and the baseline is the median of all those samples. On and off are thus
divided by the same number, and their ratio is that of their logins/s (the median over the
pairs, each pair's on over off, so a change in the machine's load between pairs cancels out);
a baseline measured per side would swing with the load of its own moment and move the on/off
ratio by itself. CPU per mail and per login (from /proc, start-up included) is the figure
least moved by other load on the machine.

Last line: one JSON object with `notifier_on_over_off` and `login_ratio_on_over_off` (target:
within 5%, i.e. >= 0.95), the CPU ratios, cores and versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx
import login as login_bench  # bench/login.py
import nats.errors
import scale_out  # bench/scale_out.py

from contracts.client import EnsClient
from ens.embedded import versions

REPLICAS = 2


async def scraper(every: float, stop: asyncio.Event) -> int:
    """Scrape every metrics port started so far, as Prometheus would (only much more often)."""
    scrapes = 0
    async with httpx.AsyncClient(timeout=5) as http:
        while not stop.is_set():
            for port in list(scale_out.METRICS_PORTS):
                try:
                    await http.get(f"http://127.0.0.1:{port}/metrics")
                    scrapes += 1
                except httpx.HTTPError:
                    pass  # a process of an earlier round, gone
            try:
                await asyncio.wait_for(stop.wait(), every)
            except TimeoutError:
                pass
    return scrapes


async def with_scraper(on: bool, every: float, work):  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    task = asyncio.create_task(scraper(every, stop)) if on else None
    try:
        return await work
    finally:
        stop.set()
        scrapes = await task if task else 0
        if on:
            print(f"  ({scrapes} scrapes)", flush=True)


async def main(args: argparse.Namespace) -> dict:
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ens-metrics-cost-") as tmp:
        work = Path(tmp)
        async with scale_out.bench_bus(work) as (server, sink, nc, js):
            client = EnsClient(nc, timeout=120)
            ids, hasher, stored = await scale_out.accounts_and_hash(client, server.url, work, args.accounts, False)

            def verify_sample() -> float:
                return login_bench.bare_verify_rate(hasher, stored, args.logins // 4, cores)

            verifies = [await asyncio.to_thread(verify_sample)]  # the shared baseline's samples
            rounds: list[dict] = []
            retried = 0
            for r in range(args.rounds):
                pair = {}
                for on in (True, False) if r % 2 == 0 else (False, True):
                    for attempt in (1, 2):
                        try:
                            mail = await with_scraper(
                                on,
                                args.scrape_every,
                                scale_out.notifier_round(js, server.url, sink, work, REPLICAS, args.mails, on),
                            )
                            break
                        except nats.errors.TimeoutError:
                            # Reading the delivery ledger back can stall past its 10 s on a loaded
                            # machine; the round (a new backlog) runs once more, said here.
                            if attempt == 2:
                                raise
                            retried += 1
                            print("  (the ledger read timed out; the round runs again)", flush=True)
                    login = await with_scraper(
                        on,
                        args.scrape_every,
                        scale_out.auth_round(client, server.url, work, REPLICAS, ids, args.logins, on),
                    )
                    verifies.append(await asyncio.to_thread(verify_sample))
                    pair[on] = {
                        "mails_per_s": mail["mails_per_s"],
                        "cpu_ms_per_mail": mail["cpu_ms_per_mail"],
                        "logins_per_s": login["logins_per_s"],
                        "cpu_ms_per_login": login["cpu_ms_per_login"],
                    }
                    print(
                        f"metrics {'on ' if on else 'off'}: {mail['mails_per_s']:.0f} mails/s "
                        f"({mail['cpu_ms_per_mail']:.3f} ms CPU each), {login['logins_per_s']:.1f} logins/s "
                        f"({login['cpu_ms_per_login']:.1f} ms CPU each); bare verify after it {verifies[-1]:.1f}/s",
                        flush=True,
                    )
                rounds.append({"on": pair[True], "off": pair[False], **{k: pair[True][k] / pair[False][k] for k in pair[True]}})
            await sink.stop()

    def median(key: str, side: str | None = None) -> float:
        return statistics.median(x[side][key] if side else x[key] for x in rounds)

    baseline = statistics.median(verifies)
    return {
        "bench": "metrics_cost",
        "notifier_mails_per_s_on": round(median("mails_per_s", "on"), 1),
        "notifier_mails_per_s_off": round(median("mails_per_s", "off"), 1),
        "notifier_on_over_off": round(median("mails_per_s"), 3),
        "notifier_cpu_per_mail_on_over_off": round(median("cpu_ms_per_mail"), 3),
        "login_ratio_on": round(median("logins_per_s", "on") / baseline, 3),
        "login_ratio_off": round(median("logins_per_s", "off") / baseline, 3),
        "login_ratio_on_over_off": round(median("logins_per_s"), 3),  # the shared baseline cancels out
        "logins_per_s_on_over_off": round(median("logins_per_s"), 3),
        "logins_per_s_on": round(median("logins_per_s", "on"), 1),
        "logins_per_s_off": round(median("logins_per_s", "off"), 1),
        "auth_cpu_per_login_on_over_off": round(median("cpu_ms_per_login"), 3),
        "bare_verify_per_s_shared": round(baseline, 1),
        "bare_verify_per_s_samples": [round(v, 1) for v in verifies],
        "target_on_over_off": 0.95,
        "rounds": rounds,
        "replicas": REPLICAS,
        "scrape_every_s": args.scrape_every,
        "sink": sink.name,
        "rounds_run_again": retried,
        "load_avg_1m_at_start": round(load_at_start, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "seconds": round(time.monotonic() - started, 1),
        "cores": cores,
        "versions": versions("nats-py", "faststream", "prometheus-client", "argon2-cffi"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=4000, help="events in each notifier round's backlog")
    parser.add_argument("--logins", type=int, default=400, help="logins in each auth round")
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="pairs of rounds, metrics on and off (order alternating)")
    parser.add_argument("--scrape-every", type=float, default=1.0, help="seconds between scrapes of each process")
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False, default=str))
