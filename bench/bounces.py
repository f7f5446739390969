"""Bounces through the intake: 1,000 mails of which 10% bounce, with auto-replies and spam mixed
in; recorded exactly for the mails that bounced, and the intake's messages/s against raw aiosmtpd.

    python bench/bounces.py [--mails 1000] [--bounce-every 10] [--connections 8] [--rounds 3]

Starts its own nats-server (free port, temporary store, the suite's authorization), an SMTP sink
for the notifier (ens.embedded.MailSink), the notifier (`python -m ens run notifier`, VERP on) and
the intake (`python -m ens run bounces`) as processes of their own; stops them all at the end by pid.

1. `--mails` events (one mail each) go out through the notifier to the sink, each with its VERP
   envelope sender and Message-ID.
2. Every `--bounce-every`th mail comes back as a hard bounce, cycling through the real formats of
   tests/fixtures/bounces (Postfix, Exim, Exchange Online, Gmail, Exchange 5.5 to the VERP address; a qmail
   plain-text bounce to the bare `bounce@` address, found by its Message-ID), each filled in with
   that mail's envelope sender, Message-ID and recipient. As many non-bounces (auto-reply,
   out-of-office, spam) go to the VERP addresses of mails that did not bounce: a misread one
   would mark a delivered mail bounced.
3. Rounds, alternating: all those messages to the intake over `--connections` SMTP connections
   (each answered only after the notifier recorded it; later rounds are redeliveries, recorded
   once), then the same messages to a raw aiosmtpd server answering 250 at once (the baseline:
   what the SMTP library alone accepts). Also the rate of recognising them without SMTP or NATS.
4. The delivery log of every mail, as operator: bounces_recorded (bounced mails that should be),
   false_bounces (bounced but should not be; must be 0), missed (should be, but are not; must be 0).

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosmtplib

from contracts.client import EnsClient
from contracts.notifier import DeliveryStatus, MailType, QueryDeliveryLog
from ens.embedded import MailSink, die_with_parent, free_port, nats_server_binary, port_open, secured_server
from services.bounces.recognition import Bounce, recognise
from services.notifier.domain import verp
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

FIXTURES = ROOT / "tests" / "fixtures" / "bounces"
DOMAIN = "bounces.bench.example.jp"
FIXTURE_DOMAIN = "bounces.ens.example.jp"
# Each fixture's own mail id, recipient and envelope recipient (VERP, or the bare address).
BOUNCE_FORMATS = {
    "postfix": ("3f2a9c41d0b7e8a65c14f0e2d9b3a871", "tanaka@example.co.jp", "verp"),
    "exim": ("c70d2e5a19f4b8e3a6d1027c5b9e4f18", "nguyen@example.org", "verp"),
    "outlook": ("0a4d7c2e9f1b3865d2c0e7a41f9b6c53", "yamada@contoso.co.jp", "verp"),
    "gmail": ("e41b7a9d03c25f68b1e9d4a7c0f3b2e6", "le.van.an.ssw@gmail.com", "verp"),
    "exchange_legacy": ("b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2", "kobayashi@example-corp.co.jp", "verp"),
    "qmail": ("5e6f0a1b2c3d4e5f60718293a4b5c6d7", "sato@example.net", "bare"),
}
NON_BOUNCES = {
    "autoreply": "7d3e1f0a5b9c2846e1d7a0b3c4f5e6a7",
    "out_of_office": "1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
    "spam": None,
}
RAW_SINK = """
import asyncio, sys
from aiosmtpd.smtp import SMTP
class H:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Accepted"
async def main():
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(H(), data_size_limit=10 * 1024 * 1024, enable_SMTPUTF8=True), "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await asyncio.Event().wait()
try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def bounce_for(fmt: str, mail_id: str, message_id: str, recipient: str) -> tuple[bytes, str]:
    """A fixture filled in with one mail of ours; the message and its envelope recipient."""
    old_id, old_recipient, rcpt_kind = BOUNCE_FORMATS[fmt]
    data = (FIXTURES / f"{fmt}.eml").read_text()
    data = data.replace(f"<{old_id}.a1b2c3d4@ens.example.jp>", message_id).replace(old_id, mail_id)
    data = data.replace(old_recipient, recipient).replace(FIXTURE_DOMAIN, DOMAIN)
    data = re.sub(r"(?im)^Message-Id: <[^>]+>", f"Message-Id: <{uuid.uuid4().hex}@mx.example.net>", data, count=1)
    rcpt = verp.envelope_sender(mail_id, DOMAIN) if rcpt_kind == "verp" else f"bounce@{DOMAIN}"
    return crlf(data.encode()), rcpt


def non_bounce_for(kind: str, mail_id: str) -> tuple[bytes, str]:
    old_id = NON_BOUNCES[kind]
    data = (FIXTURES / f"{kind}.eml").read_text()
    if old_id:
        data = data.replace(old_id, mail_id)
    data = data.replace(FIXTURE_DOMAIN, DOMAIN)
    rcpt = verp.envelope_sender(mail_id, DOMAIN) if old_id else f"postmaster@{DOMAIN}"
    return crlf(data.encode()), rcpt


async def start(args: list[str], env: dict[str, str], log: Path, ready: bytes) -> asyncio.subprocess.Process:
    with open(log, "ab") as err:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE, stderr=err, preexec_fn=die_with_parent
        )
    assert proc.stdout is not None
    while ready not in (line := await asyncio.wait_for(proc.stdout.readline(), 60)):
        if not line:
            raise RuntimeError(f"{' '.join(args)} did not start; see {log}")
    return proc


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def push(port: int, messages: list[tuple[bytes, str]], connections: int) -> tuple[float, dict[int, int]]:
    """All messages over `connections` SMTP connections, one transaction after another on each;
    seconds taken and how many got each final answer."""
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)
    answers: dict[int, int] = {}

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await client.connect()
        await client.ehlo()
        try:
            while not queue.empty():
                data, rcpt = queue.get_nowait()
                await client.mail("")
                await client.rcpt(rcpt)
                try:
                    code = (await client.data(data)).code
                except aiosmtplib.SMTPResponseException as exc:
                    code = exc.code
                    await client.rset()
                answers[code] = answers.get(code, 0) + 1
        finally:
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started, answers


def parse_rate(messages: list[tuple[bytes, str]], repeat: int = 5) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for data, rcpt in messages:
            recognise(data, [rcpt], DOMAIN)
    return repeat * len(messages) / (time.perf_counter() - started)


async def run(base: Path, url: str, args: argparse.Namespace) -> dict:
    env = {
        **os.environ,
        "ENS_NATS_URL": url,
        "ENS_NOTIFIER_BOUNCE_DOMAIN": DOMAIN,
        "ENS_LOG_LEVEL": "WARNING",
        "ENS_AUTH_OPERATOR_TOKEN": "bounce-bench-operator-token-0123456789",
        "ENS_FILING_KEYS": "k1:" + "A" * 43,
    }
    settings = RuntimeSettings(nats_url=url)
    admin = await connect_as(settings, "admin")
    operator = await connect_as(settings, "operator")
    sink = MailSink(port=free_port())
    await sink.start()
    procs: list[asyncio.subprocess.Process] = []
    recorded: set[str] = set()
    try:
        events = []
        for i in range(args.mails):
            e = sample_event(MailType.PASSWORD_CHANGED)
            events.append(
                e.model_copy(
                    update={
                        "email": f"user{i:05d}@example.jp",
                        "meta": e.meta.model_copy(update={"event_id": f"bench.bounces.{uuid.uuid4().hex[:8]}.{i}"}),
                    }
                )
            )
        mails = [mails_for(e)[0] for e in events]
        procs.append(
            await start(
                [sys.executable, "-m", "ens", "run", "notifier"],
                {**env, "ENS_SMTP_HOST": sink.host, "ENS_SMTP_PORT": str(sink.port)},
                base / "notifier.log",
                b"ens: ready",
            )
        )
        js = admin.jetstream()
        for i in range(0, len(events), 500):
            await asyncio.gather(
                *(
                    js.publish(e.SUBJECT, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.meta.event_id})
                    for e in events[i : i + 500]
                )
            )
        received = await sink.wait_for(len(mails), timeout=180)
        sent = {m.mail_from: m.parsed()["Message-ID"] for m in received}
        intake_port = free_port()
        procs.append(
            await start(
                [sys.executable, "-m", "ens", "run", "bounces"],
                {**env, "ENS_BOUNCES_PORT": str(intake_port)},
                base / "bounces.log",
                b"ens: ready",
            )
        )
        raw_port = free_port()
        procs.append(await start([sys.executable, "-c", RAW_SINK, str(raw_port)], env, base / "raw.log", b"ready"))
        assert port_open("127.0.0.1", intake_port) and port_open("127.0.0.1", raw_port)

        bounced = {m.mail_id for i, m in enumerate(mails) if i % args.bounce_every == 0}
        formats, others = list(BOUNCE_FORMATS), list(NON_BOUNCES)
        messages: list[tuple[bytes, str]] = []
        for n, mail in enumerate(m for m in mails if m.mail_id in bounced):
            message_id = sent[verp.envelope_sender(mail.mail_id, DOMAIN)]
            messages.append(bounce_for(formats[n % len(formats)], mail.mail_id, message_id, mail.recipient))
        for n, mail in enumerate([m for m in mails if m.mail_id not in bounced][: len(bounced)]):
            messages.append(non_bounce_for(others[n % len(others)], mail.mail_id))
        # Check that each is what it is meant to be (the recognition alone), before timing anything.
        misread = sum(isinstance(recognise(d, [r], DOMAIN), Bounce) != (i < len(bounced)) for i, (d, r) in enumerate(messages))

        intake_rates, raw_rates, answers = [], [], {}
        for _ in range(args.rounds):
            seconds, got = await push(intake_port, messages, args.connections)
            intake_rates.append(len(messages) / seconds)
            for code, count in got.items():
                answers[code] = answers.get(code, 0) + count
            seconds, _ = await push(raw_port, messages, args.connections)
            raw_rates.append(len(messages) / seconds)
        parse_per_s = parse_rate(messages)

        client = EnsClient(operator, timeout=10)
        for mail in mails:
            records = (await client.call(QueryDeliveryLog(mail_id=mail.mail_id))).records
            if records and records[0].status == DeliveryStatus.BOUNCED:
                recorded.add(mail.mail_id)
    finally:
        await stop_all(procs)
        await sink.stop()
        await admin.close()
        await operator.close()
    intake_per_s, raw_per_s = statistics.median(intake_rates), statistics.median(raw_rates)
    return {
        "mails": len(mails),
        "bounces_sent": len(bounced),
        "non_bounces_sent": len(messages) - len(bounced),
        "bounces_recorded": len(recorded & bounced),
        "false_bounces": len(recorded - bounced),
        "missed": len(bounced - recorded),
        "misread_by_recognition": misread,
        "smtp_answers": {str(k): v for k, v in sorted(answers.items())},
        "intake_messages_per_s": round(intake_per_s, 1),
        "baseline_raw_aiosmtpd_messages_per_s": round(raw_per_s, 1),
        "ratio": round(intake_per_s / raw_per_s, 3),
        "recognise_only_messages_per_s": round(parse_per_s, 1),
        "rounds": args.rounds,
        "connections": args.connections,
        "notifier": "ens run notifier (its RecordBounce handler and delivery log)",
        "cores": os.cpu_count(),
        "versions": versions(),
    }


def versions() -> dict:
    out = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "python": platform.python_version(),
        "nats-server": out.split()[-1].lstrip("v") if out else "?",
        **{p: version(p) for p in ("flufl.bounce", "aiosmtpd", "aiosmtplib", "nats-py")},
    }


async def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="ens-bench-") as tmp:
        server = secured_server(Path(tmp))
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(Path(tmp) / "credentials")
        server.start()
        try:
            return await run(Path(tmp), server.url, args)
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--bounce-every", type=int, default=10, help="every Nth mail bounces (10: 10%%)")
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections the MTA side uses at once")
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False))
