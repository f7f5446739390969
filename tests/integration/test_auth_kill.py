"""The auth service SIGKILLed in the middle of the next-day activation batch: after a restart
and a re-run, every account is active and its registration-complete event (mail 1) is in the
stream exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import time
from pathlib import Path

import pytest

from contracts import auth as c
from contracts.client import CommandRefused, EnsClient
from contracts.organisations import OrganisationKind
from ens.embedded import die_with_parent
from services.runtime.clock import jst_at
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_OPERATOR_TOKEN

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Secret#123abc"


def corporate_number(seed: int) -> str:
    body = f"{seed:012d}"
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(body), start=1))
    return f"{9 - total % 9}{body}"


def start_auth(nats_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENS_")}
    env.update(
        ENS_NATS_URL=nats_url,
        ENS_AUTH_OPERATOR_TOKEN=TEST_OPERATOR_TOKEN,
        ENS_DATA_DIR=str(log.parent / "data"),
        ENS_NATS_CREDENTIALS_DIR=str(RuntimeSettings().credentials_dir),  # the test server's seeds
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ens", "run", "auth"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )


async def until_up(client: EnsClient, proc: subprocess.Popen[bytes], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await client.status("auth", timeout=0.5)
            return
        except CommandRefused:
            assert proc.poll() is None, "auth exited during start-up"
            assert loop.time() < deadline, "auth did not come up"


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def activated_count(nc) -> int:
    info = await nc.jetstream().stream_info("ENS_EVENTS", subjects_filter=c.AccountActivated.SUBJECT)
    return (info.state.subjects or {}).get(c.AccountActivated.SUBJECT, 0)


async def activated_events(nc) -> Counter[str]:
    js = nc.jetstream()
    count = await activated_count(nc)
    if not count:
        return Counter()
    sub = await js.subscribe(c.AccountActivated.SUBJECT, stream="ENS_EVENTS", ordered_consumer=True)
    seen: Counter[str] = Counter()
    try:
        for _ in range(count):
            msg = await sub.next_msg(timeout=5)
            seen[json.loads(msg.data)["auth_id"]] += 1
    finally:
        await sub.unsubscribe()
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["once_sent", "first_event"])
async def test_activation_batch_survives_sigkill_and_mails_each_account_once(nats_url, nc, tmp_path, kill_at):
    client = EnsClient(nc, timeout=120)
    log = tmp_path / "auth.log"
    proc = start_auth(nats_url, log)
    try:
        await until_up(client, proc)
        await client.call(
            c.CreateOfficer(
                operator_token=TEST_OPERATOR_TOKEN,
                auth_id="officer01",
                password="Officer#2027x",
                name="職員",
                email="o@example.go.jp",
            )
        )
        officer = (await client.call(c.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        ids = [f"kill-user{i:03d}" for i in range(250)]
        regs = await asyncio.gather(
            *(
                client.call(
                    c.RegisterAccount(
                        session_token=officer,
                        organisation=c.Organisation(
                            organisation_id=corporate_number(5000 + i),
                            kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL,
                            name=f"学校{i}",
                        ),
                        auth_id=auth_id,
                        initial_password=PASSWORD,
                        email=f"{auth_id}@example.jp",
                    )
                )
                for i, auth_id in enumerate(ids)
            )
        )
        # Tomorrow's batch on the process's real clock: run now as an operator would, forced.
        as_of = jst_at(regs[0].effective_on, time(9, 0))
        batch = asyncio.ensure_future(
            nc.request(
                c.ActivateDueRegistrations.SUBJECT,
                c.ActivateDueRegistrations(as_of=as_of, force=True).model_dump_json().encode(),
                timeout=30,
            )
        )
        if kill_at == "first_event":
            # Bounded poll: the batch is underway once its first event is in the stream.
            for _ in range(1000):
                if await activated_count(nc):
                    break
                await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        batch.cancel()
        before_restart = sum((await activated_events(nc)).values())
        print(f"kill at {kill_at}: {before_restart} of {len(ids)} activation events before the restart")

        proc = start_auth(nats_url, log)
        await until_up(client, proc)
        await client.call(c.ActivateDueRegistrations(as_of=as_of, force=True))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while sum((seen := await activated_events(nc)).values()) < len(ids) and loop.time() < deadline:
            await asyncio.sleep(0.1)
        for auth_id in ids[:3]:
            await client.call(c.Login(auth_id=auth_id, password=PASSWORD))
    finally:
        stop(proc)
    assert seen == Counter(dict.fromkeys(ids, 1)), f"{before_restart} events before the restart"
