"""Events published -> SMTP 250, with the ledger and rendering on, against a raw SMTP baseline.

    python bench/notifier.py [--mails 20000] [--rounds 3] [--latency-seconds 10] [--replicas 2]

Starts its own nats-server (free port, temporary store) and Postfix's `smtp-sink` (a C sink
that is not itself the bottleneck; falls back to the aiosmtpd sink and says so in `sink`), both
stopped at the end by pid. The notifier runs as real replicas, `python -m ens run notifier`,
`--replicas` times (default 2: one per core, sharing the durable consumer, as the suite scales
out), with the default ENS_SMTP_POOL_SIZE.

1. Throughput, `--rounds` times: `--mails` events of all nine types are published as fast as
   JetStream takes them, then the replicas start; mails/s = mails / (last 250 - first 250), from
   the ledger's own times; CPU per mail of the replicas (start-up included), of nats-server and
   of the sink (from /proc, so other load on the machine does not skew it).
2. Baseline after each throughput round: aiosmtplib sending the same number of prebuilt
   messages over the same number of connections (replicas x ENS_SMTP_POOL_SIZE) to the same
   sink, nothing else. The rounds alternate, so a change in the machine's load hits both alike;
   the figures are the medians of the rounds.
3. Latency at half that rate: events published at mails_per_s / 2 for `--latency-seconds`;
   latency = ledger's sent_at (after the 250) - the event's occurred_at (set when published).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosmtplib
import nats

from contracts.notifier import DeliveryRecord, DeliveryStatus, MailType
from ens.embedded import (
    MailSink,
    NatsServerProcess,
    die_with_parent,
    free_port,
    port_open,
    secured_server,
    versions,
)
from services.notifier.adapters.ledger_kv import BUCKET
from services.notifier.domain.rendering import Renderer
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from services.notifier.settings import NotifierSettings, SmtpSettings
from services.runtime import nats as ens_nats
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

POOL = SmtpSettings.model_fields["pool_size"].default  # the default a replica runs with
TYPES = [t for t in MailType if t is not MailType.EMAIL_CHANGED_NOTICE]
SMTP_SINK = "/usr/sbin/smtp-sink"


def event(i: int, run: str, at: datetime | None = None):
    sample = sample_event(TYPES[i % len(TYPES)])
    meta = sample.meta.model_copy(update={"event_id": f"bench.{run}.{i}", "occurred_at": at or datetime.now(UTC)})
    return sample.model_copy(update={"meta": meta})


class Sink:
    """smtp-sink by pid, or the aiosmtpd sink when Postfix is not installed."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.fallback: MailSink | None = None
        self.name = ""

    async def start(self) -> None:
        if Path(SMTP_SINK).exists() or shutil.which("smtp-sink"):
            binary = SMTP_SINK if Path(SMTP_SINK).exists() else str(shutil.which("smtp-sink"))
            user = ["-u", "nobody"] if os.geteuid() == 0 else []
            self.proc = subprocess.Popen(
                [binary, *user, f"127.0.0.1:{self.port}", "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for _ in range(200):
                if port_open("127.0.0.1", self.port):
                    break
                time.sleep(0.02)
            self.name = "postfix smtp-sink"
        else:
            self.fallback = MailSink(port=self.port)
            await self.fallback.start()
            self.name = "aiosmtpd (fallback: postfix smtp-sink not installed; the sink may be the bottleneck)"

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.fallback is not None:
            await self.fallback.stop()


async def publish_all(js, events: list) -> None:
    for i in range(0, len(events), 1000):
        await asyncio.gather(
            *(
                js.publish(e.SUBJECT, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.meta.event_id})
                for e in events[i : i + 1000]
            )
        )


async def settled(js, durable: str = "notifier", within: float = 600.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            info = await js.consumer_info("ENS_EVENTS", durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
        except nats.js.errors.NotFoundError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("notifier did not settle")


async def ledger_records(js) -> list[DeliveryRecord]:
    kv = await js.key_value(BUCKET)
    watcher = await kv.watch("m.>", ignore_deletes=True)
    out = []
    while (entry := await watcher.updates(timeout=10)) is not None:
        out.append(DeliveryRecord.model_validate(json.loads(entry.value)["record"]))
    await watcher.stop()
    return out


async def baseline(port: int, messages: list[tuple[str, bytes]], sender: str, connections: int) -> float:
    queue = list(messages)

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await smtp.connect()
        while queue:
            rcpt, data = queue.pop()
            await smtp.mail(sender)
            await smtp.rcpt(rcpt)
            await smtp.data(data)
        await smtp.quit()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return len(messages) / (time.perf_counter() - started), (time.process_time() - cpu) / len(messages)


async def start_notifier(nats_url: str, port: int, log: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ENS_NATS_URL": nats_url,
        "ENS_SMTP_HOST": "127.0.0.1",
        "ENS_SMTP_PORT": str(port),
        "ENS_SMTP_POOL_SIZE": str(POOL),
        "ENS_LOG_LEVEL": "WARNING",
    }
    env.setdefault("ENS_AUTH_OPERATOR_TOKEN", "notifier-bench-operator-token-0123456789")
    with open(log, "ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ens",
            "run",
            "notifier",
            cwd=str(ROOT),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            preexec_fn=die_with_parent,
        )
    assert proc.stdout is not None
    while b"ens: ready" not in (line := await asyncio.wait_for(proc.stdout.readline(), 60)):
        if not line:
            raise RuntimeError(f"notifier did not start; see {log}")
    return proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc): a figure the other load on the machine does not skew."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)


async def throughput_round(js, server: NatsServerProcess, sink: Sink, work: Path, tag: str, args: argparse.Namespace) -> dict:
    """A backlog first, then the replicas (the publisher's work is not the notifier's, and it
    would take CPU from the replicas on the same cores); mails/s from the ledger's own times."""
    backlog = [event(i, tag) for i in range(args.mails)]
    mails = sum(len(mails_for(e)) for e in backlog)
    await publish_all(js, backlog)
    others = {"nats_server": server.proc.pid, **({"sink": sink.proc.pid} if sink.proc else {})}
    others_before = {name: cpu_seconds(pid) for name, pid in others.items()}
    procs = list(
        await asyncio.gather(*(start_notifier(server.url, sink.port, work / f"notifier-{i}.log") for i in range(args.replicas)))
    )
    try:
        await settled(js)
        cpu_used = sum(cpu_seconds(p.pid) for p in procs)  # start-up included: an upper bound
        others_used = {name: cpu_seconds(pid) - others_before[name] for name, pid in others.items()}
    finally:
        await stop_all(procs)
    sent = [r for r in await ledger_records(js) if r.event_id.startswith(f"bench.{tag}.") and r.status == DeliveryStatus.SENT]
    assert len(sent) == mails, f"{len(sent)} of {mails} sent"
    span = (max(r.sent_at for r in sent) - min(r.sent_at for r in sent)).total_seconds()
    return {
        "mails": mails,
        "mails_per_s": (len(sent) - 1) / span,
        "cpu_ms_per_mail": cpu_used / mails * 1000,
        **{f"{name}_cpu_ms_per_mail": used / mails * 1000 for name, used in others_used.items()},
    }


async def main(args: argparse.Namespace) -> dict:
    run = uuid.uuid4().hex[:8]
    renderer = Renderer(NotifierSettings())
    sender = NotifierSettings().sender
    with tempfile.TemporaryDirectory(prefix="ens-notifier-bench-") as tmp:
        work = Path(tmp)
        server = secured_server(work)
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(work / "credentials")
        server.start()
        sink = Sink()
        await sink.start()
        procs: list[asyncio.subprocess.Process] = []
        nc = await connect_as(RuntimeSettings(nats_url=server.url), "admin")
        try:
            js = nc.jetstream(timeout=30)
            await ens_nats.ensure_shared_streams(js, RuntimeSettings(nats_url=server.url))

            # 1. throughput and the raw baseline, alternating in rounds: a change in the machine's
            # load hits both alike; the figures are the medians of the rounds.
            rounds = []
            for r in range(args.rounds):
                suite = await throughput_round(js, server, sink, work, f"{run}-{r}", args)
                prebuilt = [
                    (m.recipient, renderer.render(m, composed_at=datetime.now(UTC)).data)
                    for i in range(args.mails)
                    for m in mails_for(event(i, "baseline"))
                ]
                baseline_per_s, baseline_cpu = await baseline(sink.port, prebuilt, sender, POOL * args.replicas)
                rounds.append(
                    {
                        **suite,
                        "baseline_per_s": baseline_per_s,
                        "baseline_cpu_ms_per_mail": baseline_cpu * 1000,
                        "ratio": suite["mails_per_s"] / baseline_per_s,
                    }
                )
                print(
                    f"round {r + 1}: {suite['mails_per_s']:.0f} mails/s, baseline {baseline_per_s:.0f}/s, "
                    f"ratio {rounds[-1]['ratio']:.3f}",
                    flush=True,
                )

            def median(key: str) -> float:
                return statistics.median(x[key] for x in rounds)

            mails_per_s = median("mails_per_s")

            # 2. latency at half that rate, events published while the replicas run
            procs = list(
                await asyncio.gather(
                    *(start_notifier(server.url, sink.port, work / f"notifier-{i}.log") for i in range(args.replicas))
                )
            )
            rate = mails_per_s / 2
            per_event = rounds[0]["mails"] / args.mails
            count = int(rate / per_event * args.latency_seconds)
            published: dict[str, datetime] = {}
            pending = []
            start = time.perf_counter()
            for i in range(count):
                due = start + i * per_event / rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)  # pacing the publisher, not waiting for time to pass
                e = event(i, f"{run}-paced")
                published[e.meta.event_id] = e.meta.occurred_at
                pending.append(js.publish(e.SUBJECT, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.meta.event_id}))
                if len(pending) >= 20:
                    await asyncio.gather(*pending)
                    pending = []
            await asyncio.gather(*pending)
            await settled(js)
            paced = [
                r for r in await ledger_records(js) if r.event_id in published and r.status == DeliveryStatus.SENT and r.sent_at
            ]
            latency_ms = [(r.sent_at - published[r.event_id]).total_seconds() * 1000 for r in paced]
            # where the time goes: waiting to be picked up (stream -> claim) and claim -> 250 -> sent_at
            pickup_ms = [(r.queued_at - published[r.event_id]).total_seconds() * 1000 for r in paced]
            assert len(latency_ms) >= count, f"{len(latency_ms)} of {count} paced mails sent"
        finally:
            await stop_all(procs)
            await nc.close()
            server.stop()
            await sink.stop()
    cpu_keys = [k for k in rounds[0] if k.endswith("cpu_ms_per_mail")]
    return {
        "mails": rounds[0]["mails"],
        "rounds": [{k: round(v, 3) for k, v in x.items()} for x in rounds],
        "mails_per_s": round(mails_per_s, 1),
        "baseline_per_s": round(median("baseline_per_s"), 1),
        "ratio": round(median("ratio"), 3),
        "latency_rate_per_s": round(rate, 1),
        "latency_mails": len(latency_ms),
        "p50_ms": round(statistics.median(latency_ms), 1),
        "p99_ms": round(percentile(latency_ms, 99), 1),
        "pickup_p50_ms": round(statistics.median(pickup_ms), 1),
        "pickup_p99_ms": round(percentile(pickup_ms, 99), 1),
        **{k: round(median(k), 3) for k in cpu_keys},
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "replicas": args.replicas,
        "connections": POOL * args.replicas,
        "sink": sink.name,
        "cores": os.cpu_count(),
        "versions": versions("nats-py", "aiosmtplib", "jinja2", "faststream", "pydantic"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=20000, help="events in the throughput backlog")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, default=2, help="notifier processes sharing the durable consumer")
    parser.add_argument("--rounds", type=int, default=3, help="throughput and baseline rounds, alternating")
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False))
