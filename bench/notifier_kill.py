"""A notifier replica killed with SIGKILL at random moments while events keep coming.

    python bench/notifier_kill.py [--events 2000] [--kills 50] [--seed 5]

Starts its own nats-server (free port, temporary store, stopped at the end) and an SMTP sink
on TCP (aiosmtpd, in this process), then runs `python -m ens run notifier` as a subprocess
and, `kills` times, lets it work for a random while (sometimes not even until it is ready),
SIGKILLs it and starts it again, while the events are published in slices throughout. After
the last restart it waits until every mail has arrived. Counted by Message-ID at the sink:
`lost` (expected mails that never arrived, must be 0) and `duplicates` (copies of a mail: the
documented window between the server's 250 and the ledger write, see docs/DELIVERY.md).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from contracts.notifier import MailType
from ens.embedded import MailSink, die_with_parent, free_port, secured_server
from ens.embedded import versions as embedded_versions
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from services.runtime import nats as ens_nats
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

# The mail id is the Message-ID's first part; the installation id follows it (docs/DELIVERY.md).
MESSAGE_ID = re.compile(rb"^Message-ID: <([0-9a-f]+)[.@]", re.MULTILINE)
TYPES = [t for t in MailType if t is not MailType.EMAIL_CHANGED_NOTICE]


def make_events(n: int, run: str) -> list:
    out = []
    for i in range(n):
        sample = sample_event(TYPES[i % len(TYPES)])
        meta = sample.meta.model_copy(update={"event_id": f"kill.{run}.{i}"})
        out.append(sample.model_copy(update={"meta": meta}))
    return out


def notifier_env(nats_url: str, sink: MailSink) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ENS_NATS_URL": nats_url,
        "ENS_SMTP_HOST": sink.host,
        "ENS_SMTP_PORT": str(sink.port),
        "ENS_SMTP_TIMEOUT_S": "2",
        "ENS_NOTIFIER_ACK_WAIT_S": "2",  # also the claim's lease: a killed replica's mails come back soon
        "ENS_NOTIFIER_RETRY_DELAYS_S": "0.2",
        "ENS_NOTIFIER_RETRY_EVERY_S": "0.5",
        "ENS_LOG_LEVEL": "ERROR",
    }
    env.setdefault("ENS_AUTH_OPERATOR_TOKEN", "kill-bench-operator-token-0123456789")
    return env


class Replica:
    """`python -m ens run notifier`, started and SIGKILLed by its pid."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with open(self.log, "ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ens",
                "run",
                "notifier",
                cwd=str(ROOT),
                env=self.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                preexec_fn=die_with_parent,
            )

    async def ready(self, within: float = 60.0) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(self.proc.stdout.readline(), max(deadline - time.monotonic(), 0.1))
            if not line:
                raise RuntimeError(f"notifier exited before it was ready; see {self.log}")
            if b"ens: ready" in line:
                return
        raise TimeoutError("notifier not ready")

    async def kill(self) -> bool:
        """SIGKILL; True if it was still running (a real kill, not a corpse)."""
        assert self.proc is not None
        alive = self.proc.returncode is None
        if alive:
            os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()
        return alive

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                os.kill(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()


async def run_trial(
    nats_url: str, sink: MailSink, work: Path, *, events: int, kills: int, seed: int, settle_within: float = 120.0
) -> dict:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    evs = make_events(events, run)
    expected = {m.mail_id for e in evs for m in mails_for(e)}

    nc = await connect_as(RuntimeSettings(nats_url=nats_url), "admin")
    js = nc.jetstream()
    await ens_nats.ensure_shared_streams(js, RuntimeSettings(nats_url=nats_url))
    slices = [evs[i * len(evs) // (kills + 1) : (i + 1) * len(evs) // (kills + 1)] for i in range(kills + 1)]

    async def publish(batch: list) -> None:
        await asyncio.gather(
            *(js.publish(e.SUBJECT, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.meta.event_id}) for e in batch)
        )

    replica = Replica(notifier_env(nats_url, sink), work / "notifier.log")
    real_kills = 0
    started = time.monotonic()
    try:
        for i in range(kills):
            await replica.start()
            await publish(slices[i])
            if rng.random() < 0.85:  # mostly while working; sometimes while it is still starting up
                await replica.ready()
            await asyncio.sleep(rng.uniform(0.05, 1.0))  # the random moment, not a wait for time to pass
            real_kills += await replica.kill()
        await replica.start()
        await publish(slices[-1])
        await replica.ready()
        deadline = time.monotonic() + settle_within
        while time.monotonic() < deadline:
            got = {m.group(1).decode() for mail in sink.mails if (m := MESSAGE_ID.search(mail.data))}
            if expected <= got:
                break
            await asyncio.sleep(0.2)
    finally:
        await replica.stop()
        await nc.close()
    ids = Counter(m.group(1).decode() for mail in sink.mails if (m := MESSAGE_ID.search(mail.data)))
    delivered = len(expected & set(ids))
    return {
        "events": events,
        "mails_expected": len(expected),
        "kills": real_kills,
        "delivered": delivered,
        "lost": len(expected) - delivered,
        "duplicates": sum(c - 1 for mid, c in ids.items() if mid in expected),
        "strangers": sum(c for mid, c in ids.items() if mid not in expected),
        "seconds": round(time.monotonic() - started, 1),
    }


def versions() -> dict:
    return embedded_versions("nats-py", "aiosmtplib", "aiosmtpd", "jinja2", "faststream")


async def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="ens-notifier-kill-") as tmp:
        work = Path(tmp)
        server = secured_server(work)
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(work / "credentials")
        server.start()
        sink = MailSink(port=free_port())
        await sink.start()
        try:
            result = await run_trial(server.url, sink, work, events=args.events, kills=args.kills, seed=args.seed)
        finally:
            await sink.stop()
            server.stop()
    return {**result, "sink": "aiosmtpd (in process, TCP)", "cores": os.cpu_count(), "versions": versions()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=5)
    out = asyncio.run(main(parser.parse_args()))
    print(json.dumps(out, ensure_ascii=False))
