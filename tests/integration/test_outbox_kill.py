"""A state change and its event never come apart: SIGKILL the process between the steps,
restart it, and each change's event is in the stream exactly once and matches the state."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from nats.js.api import ConsumerConfig, DeliverPolicy

from services.runtime.keys import encode_key
from tests.support import bus

WORKER = Path(__file__).with_name("outbox_worker.py")
ROOT = Path(__file__).resolve().parents[2]
STEPS = ["before_put", "after_put", "before_publish", "after_publish", "after_ack"]
TARGET = 6


def run_worker(url: str, bucket: str, crash: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ENS_TEST_CRASH", None)
    if crash:
        env["ENS_TEST_CRASH"] = crash
    return subprocess.run(
        [sys.executable, str(WORKER), url, bucket, str(TARGET)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def events_in_stream(url: str, bucket: str) -> list[dict]:
    nc = await bus.connect_as(url, "admin")
    js = nc.jetstream()
    subject = f"ens.v1.events.test.{bucket}"
    info = await js.stream_info("ENS_EVENTS", subjects_filter=subject)
    total = (info.state.subjects or {}).get(subject, 0)
    sub = await js.pull_subscribe(subject, stream="ENS_EVENTS", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    out: list[dict] = []
    while len(out) < total:
        for m in await sub.fetch(100, timeout=2):
            out.append(json.loads(m.data))
            await m.ack()
    await nc.close()
    return out


async def stored_states(url: str, bucket: str) -> dict[str, int]:
    nc = await bus.connect_as(url, "admin")
    kv = await nc.jetstream().key_value(bucket)
    from tests.integration.outbox_worker import KEYS

    out = {}
    for key in KEYS:
        out[key] = json.loads((await kv.get(encode_key(key))).value)["state"]["n"]
    await nc.close()
    return out


def test_change_and_event_survive_sigkill_at_every_step_20_times_in_a_row(nats_url):
    rng = random.Random(20261126)
    outcomes = Counter()
    for i in range(20):
        bucket = f"kill{i}"
        step = STEPS[i % len(STEPS)]
        nth = rng.randint(1, 12)
        crashed = run_worker(nats_url, bucket, f"{step}:{nth}")
        outcomes["killed" if crashed.returncode == -9 else "finished"] += 1
        assert crashed.returncode in (-9, 0), crashed.stderr
        again = run_worker(nats_url, bucket, None)
        assert again.returncode == 0 and "done" in again.stdout, again.stderr

        events = asyncio.run(events_in_stream(nats_url, bucket))
        states = asyncio.run(stored_states(nats_url, bucket))
        ids = Counter(e["meta"]["event_id"] for e in events)
        assert all(c == 1 for c in ids.values()), f"duplicate events after {step}:{nth}"
        per_key = Counter((e["key"], e["n"]) for e in events)
        for key, n in states.items():
            assert n == TARGET
            assert sorted(v for (k, v) in per_key if k == key) == list(range(1, TARGET + 1)), (step, nth, key)
    assert outcomes["killed"] >= 15, outcomes  # the kills really happened
