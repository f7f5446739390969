"""The filing service SIGKILLed again and again while organisations keep submitting: every
stored filing has its FilingSubmitted event exactly once, no event is without its filing,
and the history index, repaired by the daily retention pass, lists exactly the stored filings."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts import auth as a
from contracts import filing as f
from contracts.client import CommandRefused, EnsClient
from contracts.organisations import OrganisationKind
from ens.embedded import die_with_parent
from services.runtime.clock import FakeClock
from services.runtime.keys import decode_key
from tests.conftest import TEST_KEY_1, TEST_OPERATOR_TOKEN
from tests.support.suite import running

ENS = str(Path(sys.executable).with_name("ens"))
PASSWORD = "Secret#123abc"
SCHOOL = a.Organisation(organisation_id="SCHOOL-KILL", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="きる日本語学校")
KILLS = 4


def start_filing(nats_url: str, tmp_path: Path, n: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ENS_NATS_URL": nats_url, "ENS_FILING_KEYS": f"k1:{TEST_KEY_1}", "ENS_LOG_LEVEL": "WARNING"}
    log = (tmp_path / f"filing-{n}.log").open("wb")
    return subprocess.Popen(
        [ENS, "run", "filing"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )


async def until_up(client: EnsClient) -> None:
    for _ in range(150):
        try:
            await client.status("filing", timeout=0.2)
            return
        except CommandRefused:
            await asyncio.sleep(0.1)
    raise TimeoutError("filing did not come up")


@pytest.mark.slow
async def test_filings_and_their_events_never_come_apart_when_the_service_is_killed(nats_url, nc, client, tmp_path):
    clock = FakeClock(datetime(2027, 4, 1, 1, 0, tzinfo=UTC))
    rng = random.Random(4)
    async with running(["auth"], nats_url, clock=clock):
        await client.call(
            a.CreateOfficer(
                operator_token=TEST_OPERATOR_TOKEN,
                auth_id="officer01",
                password="Officer#2027x",
                name="審査",
                email="o@example.go.jp",
            )
        )
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        await client.call(
            a.RegisterAccount(
                session_token=officer, organisation=SCHOOL, auth_id="kill-user", initial_password=PASSWORD, email="k@example.jp"
            )
        )
        clock.set(datetime(2027, 4, 2, 0, 0, tzinfo=UTC))
        await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
        token = (await client.call(a.Login(auth_id="kill-user", password=PASSWORD))).session_token
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token

        fast = EnsClient(nc, timeout=2)
        accepted: set[str] = set()
        outcomes: Counter[str] = Counter()

        async def submit(i: int) -> None:
            p = f.Person(
                nationality="VNM",
                name_latin="KILL TEST",
                sex=f.Sex.MALE,
                date_of_birth=date(1990, 1, 1),
                residence_card_number=f"AB{i:08d}CD",
                event_date=date(2026, 4, 1),
            )
            try:
                reply = await fast.call(f.SubmitFiling(session_token=token, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[p]))
                accepted.add(reply.filing.reception_number)
                outcomes["accepted"] += 1
            except CommandRefused as exc:
                outcomes[exc.code.value] += 1

        proc = start_filing(nats_url, tmp_path, 0)
        try:
            await until_up(client)
            i = 0
            for k in range(KILLS):
                burst = [asyncio.create_task(submit(i + j)) for j in range(40)]
                i += 40
                await asyncio.sleep(rng.uniform(0.05, 0.4))  # let some of the burst be in flight
                proc.kill()
                proc.wait(timeout=10)
                await asyncio.gather(*burst)
                proc = start_filing(nats_url, tmp_path, k + 1)
                await until_up(client)
            await asyncio.gather(*(submit(i + j) for j in range(10)))

            js = nc.jetstream()
            kv = await js.key_value("filing_filings")
            stored = {decode_key(k) for k in await kv.keys()}
            assert accepted <= stored  # every accepted reply is a stored filing
            assert outcomes["accepted"] >= 10 and outcomes["unavailable"] >= 1, outcomes  # the kills really hit requests

            # Every stored filing's FilingSubmitted reaches the stream exactly once (the relay runs on).
            subject = f.FilingSubmitted.SUBJECT
            events: list[dict] = []
            for _ in range(50):
                info = await js.stream_info("ENS_EVENTS", subjects_filter=subject)
                if (info.state.subjects or {}).get(subject, 0) >= len(stored):
                    break
                await asyncio.sleep(0.2)
            sub = await js.pull_subscribe(subject, stream="ENS_EVENTS", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            while True:
                try:
                    msgs = await sub.fetch(200, timeout=1)
                except Exception:
                    break
                events.extend(json.loads(m.data) for m in msgs)
            numbers = Counter(e["filing"]["reception_number"] for e in events)
            assert set(numbers) == stored
            assert all(c == 1 for c in numbers.values()), numbers.most_common(3)
            assert len({e["meta"]["event_id"] for e in events}) == len(events)

            # The daily pass repairs any index row a kill left behind; the history then lists every filing.
            # forced: the filing process runs on the wall clock, and this as-of is ahead of it
            await client.call(f.PurgeExpiredFilings(as_of=clock.now() + timedelta(days=1), force=True))
            page = await client.call(f.ListFilings(session_token=officer, organisation_id="SCHOOL-KILL", page_size=200))
            assert page.total == len(stored)
            assert {s.reception_number for s in page.items} == stored
        finally:
            proc.kill()
            proc.wait(timeout=10)
