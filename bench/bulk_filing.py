"""Bulk filing and history listing, end to end over a real nats-server with the real auth and
filing services (in this process, on the system clock except for the next-day activation).

1. A 300-person CSV (CP932, as a spreadsheet writes it) from upload to the accepted reply,
   20 runs. Baseline: the same bytes as a request to a bare NATS responder (the transport
   floor), measured in the same run.
2. The first page (50) of the history of an organisation with 5,000 filings, 50 runs.
   Baseline: answering the same page by scanning every filing entry of the bucket (what the
   per-organisation index avoids), 3 runs.

    python bench/bulk_filing.py [--filings 5000] [--runs 20]

The last line is one JSON object with the figures (targets: csv300_median_ms <= 200,
list_p95_ms <= 100), `cores` and `versions`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("ENS_FILING_KEYS", "b1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))
os.environ.setdefault("ENS_AUTH_OPERATOR_TOKEN", "bench-operator-token-0123456789")


from contracts import auth as a
from contracts import filing as f
from contracts.client import EnsClient
from contracts.organisations import OrganisationKind
from ens.embedded import secured_server
from ens.embedded import versions as embedded_versions
from ens.suite import build_services
from services.runtime.clock import FakeClock, jst_at
from services.runtime.host import Host
from services.runtime.keys import decode_key
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

HEADER = "国籍・地域,氏名（英字）,性別,生年月日,在留カード番号,事由発生日,備考\r\n"
NATIONS = ["VNM", "ベトナム", "PHL", "IDN", "ﾈﾊﾟｰﾙ", "MMR", "CHN", "KHM"]
PASSWORD = "Bench#pw2027x"


class ShiftedClock(FakeClock):
    """System time plus an offset: the bench runs 'tomorrow' after the next-day activation."""

    def __init__(self) -> None:
        super().__init__(datetime.now(UTC))
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def csv300(seed: int) -> bytes:
    rows = [
        f"{NATIONS[i % len(NATIONS)]},BENCH PERSON {chr(65 + i % 26)}{chr(65 + (i // 26) % 26)},{'男' if i % 2 else '女'},"
        f"{1980 + i % 20}/{1 + i % 12:02d}/{1 + i % 28:02d},{chr(65 + seed % 26)}{chr(65 + seed // 26 % 26)}{i:08d}ＣＤ,"
        f"2026/04/{1 + i % 28:02d},ｺﾝﾋﾞﾆ勤務"
        for i in range(300)
    ]
    return (HEADER + "".join(r + "\r\n" for r in rows)).encode("cp932")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def login_org(client: EnsClient, officer: str, org_id: str, kind: OrganisationKind, auth_id: str) -> date:
    """Register an organisation's account; the day its registration takes effect."""
    org = a.Organisation(organisation_id=org_id, kind=kind, name=f"ベンチ機関 {org_id}")
    reg = await client.call(
        a.RegisterAccount(
            session_token=officer, organisation=org, auth_id=auth_id, initial_password=PASSWORD, email=f"{auth_id}@example.jp"
        )
    )
    return reg.effective_on  # type: ignore[union-attr]


async def main(filings: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ens-bench-filing-") as tmp:
        server = secured_server(Path(tmp))
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(Path(tmp) / "credentials")  # every process here connects as itself
        server.start()
        try:
            return await run(server.url, filings, runs)
        finally:
            server.stop()


async def run(url: str, filings: int, runs: int) -> dict:
    clock = ShiftedClock()
    settings = RuntimeSettings(nats_url=url)
    host = Host(build_services(["auth", "filing"], settings, clock), settings, clock)
    await host.start()
    nc = await connect_as(RuntimeSettings(nats_url=url), "admin")
    client = EnsClient(nc, timeout=30)
    try:
        await client.call(
            a.CreateOfficer(
                operator_token=os.environ["ENS_AUTH_OPERATOR_TOKEN"],
                auth_id="benchofficer",
                password=PASSWORD,
                name="ベンチ",
                email="o@example.go.jp",
            )
        )
        officer = (await client.call(a.Login(auth_id="benchofficer", password=PASSWORD))).session_token
        await login_org(client, officer, "BENCH-SCHOOL", OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, "bench-school")
        effective = await login_org(client, officer, "BENCH-COMPANY", OrganisationKind.ACCEPTING_ORGANISATION, "bench-company")
        # Run from the next-day batch's time on the day the registrations take effect (09:00 JST),
        # not "now + 1 day", which is still before 09:00 when the bench starts at night in Japan.
        clock.offset = jst_at(effective, dtime(9, 5)) - datetime.now(UTC)
        await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
        school = (await client.call(a.Login(auth_id="bench-school", password=PASSWORD))).session_token
        company = (await client.call(a.Login(auth_id="bench-company", password=PASSWORD))).session_token

        # ---- 1. a 300-person CSV, upload to accepted reply ----
        files = [csv300(i) for i in range(runs + 1)]

        async def echo(msg) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(b'{"ok":true}')

        await nc.subscribe("bench.echo", cb=echo)
        baseline: list[float] = []
        for data in files:
            t0 = time.perf_counter()
            await nc.request(
                "bench.echo",
                json.dumps({"session_token": company, "csv_base64": base64.b64encode(data).decode()}).encode(),
                timeout=10,
            )
            baseline.append((time.perf_counter() - t0) * 1000)
        csv_ms: list[float] = []
        for i, data in enumerate(files):
            t0 = time.perf_counter()
            cmd = f.SubmitBulkFiling(
                session_token=company,
                kind=f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE,
                filename="bench.csv",
                csv_base64=base64.b64encode(data).decode(),
            )
            reply = await client.call(cmd)
            elapsed = (time.perf_counter() - t0) * 1000
            assert reply.filing.person_count == 300
            if i > 0:  # the first one warms caches (session, code paths)
                csv_ms.append(elapsed)

        # ---- 2. the first page of an organisation with 5,000 filings ----
        t_fill = time.perf_counter()
        person = f.Person(
            nationality="VNM",
            name_latin="BENCH PERSON",
            sex=f.Sex.FEMALE,
            date_of_birth=date(1999, 1, 1),
            residence_card_number="AB00000000CD",
        )
        sem = asyncio.Semaphore(4)

        async def one(i: int) -> None:
            async with sem:
                kind = f.FilingKind.SCHOOL_PERIODIC_REPORT if i % 3 else f.FilingKind.SCHOOL_ADHOC_REPORT
                p = person.model_copy(update={"residence_card_number": f"AB{i:08d}CD", "event_date": date(2026, 4, 1)})
                await client.call(f.SubmitFiling(session_token=school, kind=kind, persons=[p]))

        await asyncio.gather(*(one(i) for i in range(filings)))
        fill_s = time.perf_counter() - t_fill

        list_ms: list[float] = []
        for _ in range(50):
            t0 = time.perf_counter()
            page = await client.call(f.ListFilings(session_token=school, page=1, page_size=50))
            list_ms.append((time.perf_counter() - t0) * 1000)
            assert page.total == filings and len(page.items) == 50
        filtered_ms: list[float] = []
        for _ in range(20):
            t0 = time.perf_counter()
            await client.call(
                f.ListFilings(session_token=school, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, status=f.FilingStatus.PENDING)
            )
            filtered_ms.append((time.perf_counter() - t0) * 1000)

        # Baseline: the same page by reading every filing entry (no index).
        kv = await nc.jetstream().key_value("filing_filings")
        scan_ms: list[float] = []
        for _ in range(3):
            t0 = time.perf_counter()
            docs = []
            for key in await kv.keys():
                entry = await kv.get(key)
                doc = json.loads(entry.value)["state"]
                if doc["organisation"]["organisation_id"] == "BENCH-SCHOOL":
                    docs.append((doc["submitted_at"], decode_key(key)))
            docs.sort(reverse=True)
            _first = docs[:50]
            scan_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        await nc.close()
        await host.stop()

    return {
        "csv300_median_ms": round(statistics.median(csv_ms), 1),
        "csv300_p95_ms": round(pct(csv_ms, 95), 1),
        "csv300_runs": len(csv_ms),
        "csv300_baseline_transport_median_ms": round(statistics.median(baseline), 2),
        "list_median_ms": round(statistics.median(list_ms), 1),
        "list_p95_ms": round(pct(list_ms, 95), 1),
        "list_filtered_p95_ms": round(pct(filtered_ms, 95), 1),
        "list_baseline_scan_median_ms": round(statistics.median(scan_ms), 1),
        "organisation_filings": filings,
        "fill_filings_per_s": round(filings / fill_s, 1),
        "targets": {"csv300_median_ms": 200, "list_p95_ms": 100},
        "cores": os.cpu_count(),
        "versions": versions(),
    }


def versions() -> dict:
    return embedded_versions("nats-py", "faststream", "pydantic", "cryptography")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filings", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(main(args.filings, args.runs))
    print(json.dumps(result, ensure_ascii=False))
