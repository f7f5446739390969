"""What idempotency keys cost: commands per second with a `request_id` against the same commands
without one, in one run, on a secured nats-server with every write synced (the default).

A keyed command claims its key before it runs and stores the reply after it (two more KV
writes); `SubmitFiling` also reserves its reception number in the claim (a third), so it can
be found again after a crash. Each round submits `--commands` filings (and as many officer
`ChangeOrganisationDetails`) from `--concurrency` callers at once, first without keys then
with them, or the other way round on odd rounds, so the machine's load hits both alike.
Figures are medians of the rounds. Also logins/s (never keyed) in the same run, for the record.
The last line is one JSON object.

    python bench/idempotency.py [--commands 300] [--concurrency 8] [--rounds 4]
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
import uuid
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts import auth as a
from contracts import filing as f
from contracts.client import EnsClient
from contracts.organisations import OrganisationKind
from ens.embedded import secured_server
from ens.suite import SuiteSettings, build_services
from services.auth.settings import AuthSettings
from services.filing.settings import FilingSettings
from services.runtime.clock import FakeClock
from services.runtime.host import Host
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

OPERATOR_TOKEN = "idempotency-bench-operator-token-0123456789"
KEY = "k1:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
REQUEST = a.RequestProvenance(channel=a.RequestChannel.COUNTER, bureau="東京出入国在留管理局", form_reference="B-0001")
OFFICER_PW, ORG_PW = "Officer#2027x", "Secret#123abc"
ORG = a.Organisation(organisation_id="1000011000005", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社ベンチ")
PERSON = f.Person(
    nationality="VNM",
    name_latin="NGUYEN VAN AN",
    sex=f.Sex.MALE,
    date_of_birth=date(1998, 4, 1),
    residence_card_number="AB12345678CD",
)


async def at_once(n: int, concurrency: int, one) -> float:  # type: ignore[no-untyped-def]
    """Run `one(i)` n times from `concurrency` callers; commands per second."""
    queue = iter(range(n))

    async def caller() -> None:
        for i in queue:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def one_round(client: EnsClient, officer: str, org: str, keyed: bool, args: argparse.Namespace) -> dict[str, float]:
    tag = uuid.uuid4().hex[:12]

    def key(kind: str, i: int) -> str | None:
        return f"{kind}-{tag}-{i:06d}" if keyed else None

    async def submit(i: int) -> None:
        await client.call(
            f.SubmitFiling(
                session_token=org, kind=f.FilingKind.ACCEPTANCE_PERIODIC_REPORT, persons=[PERSON], request_id=key("s", i)
            )
        )

    async def rename(i: int) -> None:
        await client.call(
            a.ChangeOrganisationDetails(
                session_token=officer,
                organisation_id=ORG.organisation_id,
                name=f"株式会社ベンチ{tag}-{i}",
                request=REQUEST,
                request_id=key("r", i),
            )
        )

    return {
        "submit_per_s": await at_once(args.commands, args.concurrency, submit),
        "change_per_s": await at_once(args.commands, args.concurrency, rename),
    }


async def logins(client: EnsClient, n: int, concurrency: int) -> float:
    async def login(i: int) -> None:
        await client.call(a.Login(auth_id="benchcorp01", password=ORG_PW))

    return await at_once(n, concurrency, login)


async def main(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ens-idempotency-") as tmp:
        server = secured_server(Path(tmp))
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(Path(tmp) / "credentials")
        os.environ["ENS_FILING_KEYS"] = KEY
        server.start()
        try:
            settings = RuntimeSettings(nats_url=server.url)
            clock = FakeClock(datetime(2027, 4, 1, 1, 0, tzinfo=UTC))
            suite = SuiteSettings(auth=AuthSettings(operator_token=OPERATOR_TOKEN), filing=FilingSettings())
            host = Host(build_services(["auth", "filing"], settings, clock, suite), settings, clock)
            await host.start()
            nc = await connect_as(settings, "operator")
            try:
                client = EnsClient(nc, timeout=30)
                await client.call(
                    a.CreateOfficer(
                        operator_token=OPERATOR_TOKEN,
                        auth_id="benchofficer",
                        password=OFFICER_PW,
                        name="ベンチ",
                        email="o@example.go.jp",
                    )
                )
                officer = (await client.call(a.Login(auth_id="benchofficer", password=OFFICER_PW))).session_token
                await client.call(
                    a.RegisterAccount(
                        session_token=officer,
                        organisation=ORG,
                        auth_id="benchcorp01",
                        initial_password=ORG_PW,
                        email="t@example.jp",
                    )
                )
                clock.set(datetime(2027, 4, 2, 0, 0, tzinfo=UTC))
                await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
                officer = (await client.call(a.Login(auth_id="benchofficer", password=OFFICER_PW))).session_token
                org = (await client.call(a.Login(auth_id="benchcorp01", password=ORG_PW))).session_token
                await one_round(
                    client, officer, org, False, argparse.Namespace(commands=20, concurrency=args.concurrency)
                )  # warm-up
                rounds: dict[str, list[dict[str, float]]] = {"plain": [], "keyed": []}
                login_rates = []
                for r in range(args.rounds):
                    for keyed in (False, True) if r % 2 == 0 else (True, False):
                        name = "keyed" if keyed else "plain"
                        rounds[name].append(await one_round(client, officer, org, keyed, args))
                        print(f"round {r + 1} {name}: {json.dumps(rounds[name][-1])}", flush=True)
                    login_rates.append(await logins(client, 60, 4))
            finally:
                await nc.close()
                await host.stop()
        finally:
            server.stop()

    def median(name: str, k: str) -> float:
        return round(statistics.median(x[k] for x in rounds[name]), 1)

    plain = {k: median("plain", k) for k in ("submit_per_s", "change_per_s")}
    keyed = {k: median("keyed", k) for k in ("submit_per_s", "change_per_s")}
    return {
        "bench": "idempotency",
        "plain": plain,
        "keyed": keyed,
        "submit_keyed_over_plain": round(keyed["submit_per_s"] / plain["submit_per_s"], 3),
        "change_keyed_over_plain": round(keyed["change_per_s"] / plain["change_per_s"], 3),
        "logins_per_s": round(statistics.median(login_rates), 1),
        "commands": args.commands,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "sync": "always",
        "cores": os.cpu_count(),
        "versions": {p: version(p) for p in ("nats-py", "faststream", "pydantic")} | {"python": sys.version.split()[0]},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False))
