"""Scale-out under a node loss: a 3-node NATS cluster on local ports, two of each service as
separate processes (`ens run`), an SMTP sink; officers keep reissuing auth IDs (one mail each)
while one NATS node is killed and later restarted. Every event in the stream must produce
exactly one mail.

    python bench/cluster_fault.py [--accounts 20] [--rounds 15]

The last line is one JSON object: events, delivered, lost (must be 0), duplicates, and the
same figures for a baseline run of the same load with no fault.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import time as dtime
from email.header import decode_header, make_header
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nats
import nats.errors
import nats.js.errors

from contracts import auth
from contracts.client import CommandRefused, EnsClient, new_request_id
from contracts.organisations import OrganisationKind
from ens.embedded import MailSink, NatsCluster, die_with_parent, free_port, versions
from services.runtime.clock import jst_at
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

OPERATOR_TOKEN = "bench-operator-token-0123456789"
FILING_KEYS = "b1:" + "A" * 43
OFFICER = ("benchofficer", "Officer#2027pw")
SERVICES = ["auth", "auth", "filing", "filing", "notifier", "notifier", "scheduler", "scheduler"]


def corporate_number(seed: int) -> str:
    """A 13-digit corporate number with a valid check digit (法人番号の検査用数字)."""
    body = f"{seed:012d}"
    digits = [int(d) for d in reversed(body)]
    total = sum(d * (1 if i % 2 == 0 else 2) for i, d in enumerate(digits))
    return f"{9 - total % 9}{body}"


def keyed(command):  # type: ignore[no-untyped-def]
    """The command with one idempotency key for all its tries, as a careful client sends it: a
    retry of a command that did run is answered with its first reply, not run again."""
    if "request_id" in type(command).model_fields and command.request_id is None:
        return command.model_copy(update={"request_id": new_request_id()})
    return command


async def retry(fn, attempts: int = 60):  # type: ignore[no-untyped-def]
    """A command or a JetStream API call during a node loss may time out: try again. Commands are
    sent with one idempotency key for all their tries (`keyed`); stream_info only reads."""
    for i in range(attempts):
        try:
            return await fn()
        except CommandRefused as exc:
            if exc.code not in ("unavailable", "internal") or i == attempts - 1:
                raise
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
            if i == attempts - 1:
                raise
        await asyncio.sleep(0.5)


class Suite:
    def __init__(self, base: Path, cluster: NatsCluster, sink: MailSink) -> None:
        self.base = base
        self.cluster = cluster
        self.sink = sink
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENS_")}
        env.update(
            ENS_NATS_URL=self.cluster.url,
            ENS_STREAM_REPLICAS="3",
            ENS_SMTP_HOST=self.sink.host,
            ENS_SMTP_PORT=str(self.sink.port),
            ENS_AUTH_OPERATOR_TOKEN=OPERATOR_TOKEN,
            ENS_FILING_KEYS=FILING_KEYS,
            ENS_LOG_LEVEL="WARNING",
            ENS_DATA_DIR=str(self.base / "data"),
            ENS_NATS_CREDENTIALS_DIR=str(self.cluster.base_dir / "credentials"),
        )
        for i, name in enumerate(SERVICES):
            log = open(self.base / f"{name}-{i}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ens", "run", name],
                    env=env,
                    stdout=log,
                    stderr=log,
                    cwd=ROOT,
                    preexec_fn=die_with_parent,
                )
            )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def run(accounts: int, rounds: int, fault: bool, say) -> dict[str, int | float]:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory(prefix="ens-cluster-") as tmp:
        base = Path(tmp)
        cluster = NatsCluster(base / "nats")
        cluster.start()
        sink = MailSink(port=free_port())
        await sink.start()
        suite = Suite(base, cluster, sink)
        nc = None
        try:
            suite.start()
            settings = RuntimeSettings(nats_url=cluster.url, nats_credentials_dir=cluster.base_dir / "credentials")
            nc = await connect_as(settings, "admin", max_reconnect_attempts=-1, reconnect_time_wait=0.2)
            client = EnsClient(nc, timeout=5)
            for name in ("auth", "filing", "notifier", "scheduler"):
                await retry(lambda name=name: client.status(name, timeout=2), attempts=120)
            await retry(
                lambda: client.call(
                    auth.CreateOfficer(
                        operator_token=OPERATOR_TOKEN,
                        auth_id=OFFICER[0],
                        password=OFFICER[1],
                        name="bench",
                        email="o@bench.example.jp",
                    )
                )
            )
            login = await retry(lambda: client.call(auth.Login(auth_id=OFFICER[0], password=OFFICER[1])))
            token = login.session_token  # type: ignore[union-attr]
            orgs = [corporate_number(100000 + i) for i in range(accounts)]
            effective = None
            for i, org in enumerate(orgs):
                reg = await retry(
                    lambda i=i, org=org: client.call(
                        auth.RegisterAccount(
                            session_token=token,
                            organisation=auth.Organisation(
                                organisation_id=org, kind=OrganisationKind.ACCEPTING_ORGANISATION, name=f"bench {i}"
                            ),
                            auth_id=f"bench-acct{i:04d}",
                            initial_password="Bench#Pass2027",
                            email=f"acct{i}@bench.example.jp",
                        )
                    )
                )
                effective = reg.effective_on  # type: ignore[union-attr]
            assert effective is not None
            # The next-day batch as of the day the registrations take effect: "tomorrow" by the
            # wall clock is a Saturday on a Friday (JST), and registrations wait for a business day.
            # forced: the effective day is ahead of the wall clock the services run on
            await retry(lambda: client.call(auth.ActivateDueRegistrations(as_of=jst_at(effective, dtime(9, 0)), force=True)))
            started = time.monotonic()
            answered = 0  # commands answered ok: each made one event at least (a retried timeout may have made two)
            for r in range(rounds):
                if fault and r == rounds // 3:
                    say(f"round {r}: killing NATS node 2 (SIGKILL)")
                    cluster.nodes[1].kill()
                if fault and r == 2 * rounds // 3:
                    say(f"round {r}: restarting NATS node 2")
                    cluster.nodes[1].start()
                commands = [keyed(auth.ReissueAuthId(session_token=token, organisation_id=org)) for org in orgs]
                replies = await asyncio.gather(*[retry(lambda cmd=cmd: client.call(cmd, retries=0)) for cmd in commands])
                answered += len(replies)
            # Truth: the AuthIdReissued events in the stream; each must become exactly one mail.
            # The outbox relay publishes a moment after a command's reply, so count until the
            # number of events and of mails both hold still.
            js = nc.jetstream()
            subject = auth.AuthIdReissued.SUBJECT

            async def count_events() -> int:
                info = await retry(lambda: js.stream_info("ENS_EVENTS", subjects_filter=subject))
                return (info.state.subjects or {}).get(subject, 0)  # type: ignore[union-attr]

            deadline = time.monotonic() + 120
            events, seen = await count_events(), (-1, -1)
            while time.monotonic() < deadline:
                now_seen = (events, _reissue_mails(sink))
                # A node that has just come back may answer stream_info from a stale copy: a count
                # below the commands answered is not the truth yet.
                if events >= answered and now_seen[1] >= events and now_seen == seen:
                    break
                seen = now_seen
                await asyncio.sleep(0.5)
                events = await count_events()
            elapsed = time.monotonic() - started
            per_event = Counter(m.parsed().get("Message-ID") for m in sink.mails if _is_reissue(m))
            delivered = len(per_event)
            if delivered < events:
                for log in sorted(base.glob("*.log")):
                    say(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
            duplicates = sum(c - 1 for c in per_event.values())
            return {
                "answered": answered,
                "events": events,
                "events_missing": max(0, answered - events),
                # events beyond the commands answered: a retried command that had run made a second change
                "extra_events": max(0, events - answered),
                "delivered": delivered,
                "lost": max(0, events - delivered),
                "duplicates": duplicates,
                "seconds": round(elapsed, 2),
            }
        finally:
            if nc is not None:
                await nc.close()
            suite.stop()
            await sink.stop()
            cluster.stop()


def _is_reissue(mail) -> bool:  # type: ignore[no-untyped-def]
    """Mail 2 is recognised by its subject, which names the event (SPEC §3)."""
    subject = str(make_header(decode_header(mail.parsed().get("Subject", ""))))
    return "認証ID" in subject and "再通知" in subject


def _reissue_mails(sink: MailSink) -> int:
    return sum(1 for m in sink.mails if _is_reissue(m))


async def _quiet(_: Exception) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    baseline = asyncio.run(run(args.accounts, args.rounds, fault=False, say=say))
    say(f"baseline (no fault): {baseline}")
    faulted = asyncio.run(run(args.accounts, args.rounds, fault=True, say=say))
    say(f"with node loss: {faulted}")
    print(
        json.dumps(
            {
                **faulted,
                "baseline": baseline,
                "services": "2x auth, 2x filing, 2x notifier, 2x scheduler",
                "cores": os.cpu_count(),
                "versions": versions("nats-py", "faststream"),
            }
        )
    )


if __name__ == "__main__":
    main()
