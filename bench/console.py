"""Console page times with 10,000 mails in the delivery log: p95 per page and over all pages.

    python bench/console.py [--mails 10000] [--rounds 60]

Starts its own nats-server (free port, temporary store, the suite's authorization) and an SMTP
sink, hosts auth, filing and scheduler on a clock moved to the morning after a registration
(so an account can be activated and file), and the notifier on the system clock (as in
production: the console finds a mail's event by its queue time). `--mails` events of all nine
types for 1,000 accounts and 2,000 filings are published straight to ENS_EVENTS and delivered
by the notifier, so the ledger holds that many records. Then the console serves on a free port
(uvicorn over TCP, as `ens up` runs it) and one officer, signed in, requests in turn, each
round: a search by auth ID, by reception number and by recipient, a mail's detail (a different
mail each round: its record and the exact bytes the notifier kept, GetSentMail) and its HTML, an account, a filing,
the templates and the jobs. Each time is the whole request as the client sees it, including
the per-request session check. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ENS_FILING_KEYS", "b1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))
os.environ.setdefault("ENS_AUTH_OPERATOR_TOKEN", "bench-operator-token-0123456789")
os.environ["ENS_SCHEDULER_TRIGGERS"] = "false"

import httpx

from contracts import auth as a
from contracts import filing as f
from contracts.client import EnsClient
from contracts.notifier import MailType, QueryDeliveryLog
from contracts.organisations import OrganisationKind
from ens.embedded import MailSink, free_port, secured_server, versions
from ens.suite import build_services
from services.console.app import build as build_console
from services.console.settings import ConsoleSettings
from services.notifier.samples import sample_event
from services.runtime.clock import FakeClock, SystemClock, jst_at
from services.runtime.host import Host
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings

PASSWORD = "Bench#2027pass"
ACCOUNTS, FILINGS = 1000, 2000
TYPES = [t for t in MailType if t is not MailType.EMAIL_CHANGED_NOTICE]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class ShiftedClock(FakeClock):
    """System time plus an offset: auth and filing run 'tomorrow' after the next-day activation."""

    def __init__(self) -> None:
        super().__init__(datetime.now(UTC))
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def bench_event(i: int):
    sample = sample_event(TYPES[i % len(TYPES)])
    n = i % ACCOUNTS
    auth_id, email = f"bench-org{n:04d}", f"tanto{n:04d}@example.co.jp"
    # The notifier drops an event whose source is not the service of its subject.
    source = "filing" if hasattr(sample, "filing") else "auth"
    meta = sample.meta.model_copy(update={"event_id": f"bench.{i}", "occurred_at": datetime.now(UTC), "source": source})
    update: dict = {"meta": meta}
    if hasattr(sample, "filing"):
        update["filing"] = sample.filing.model_copy(
            update={"reception_number": f"20270401-{i % FILINGS:06d}", "filer_auth_id": auth_id, "filer_email": email}
        )
    else:
        update["auth_id"] = auth_id
        if isinstance(sample, a.EmailChanged):
            update |= {"new_email": email, "old_email": f"old-{email}"}
        else:
            update["email"] = email
    return sample.model_copy(update=update)


async def fill(nc, mails: int) -> None:
    js = nc.jetstream(timeout=30)
    for start in range(0, mails, 500):
        batch = [bench_event(i) for i in range(start, min(start + 500, mails))]
        await asyncio.gather(
            *(js.publish(e.SUBJECT, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.meta.event_id}) for e in batch)
        )
    deadline = time.monotonic() + 240
    while True:
        info = await js.consumer_info("ENS_EVENTS", "notifier")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the notifier did not deliver in time: {info.num_pending} pending")
        await asyncio.sleep(0.5)


async def run(url: str, mails: int, rounds: int) -> dict:
    settings = RuntimeSettings(nats_url=url)
    shifted = ShiftedClock()
    sink = MailSink(port=free_port())
    await sink.start()
    os.environ["ENS_SMTP_HOST"], os.environ["ENS_SMTP_PORT"] = sink.host, str(sink.port)
    domain = Host(build_services(["auth", "filing", "scheduler"], settings, shifted), settings, shifted)
    notifier = Host(build_services(["notifier"], settings, SystemClock()), settings, SystemClock())
    await domain.start()
    await notifier.start()
    nc = await connect_as(settings, "admin")
    client = EnsClient(nc, timeout=30)
    console = build_console(settings, ConsoleSettings(port=0, secure_cookie=False), shifted)
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
        effective = None
        for n in range(5):
            org = a.Organisation(
                organisation_id=f"BENCH-{n}", kind=OrganisationKind.ACCEPTING_ORGANISATION, name=f"ベンチ株式会社{n}"
            )
            registered = await client.call(
                a.RegisterAccount(
                    session_token=officer,
                    organisation=org,
                    auth_id=f"bench-org{n:04d}",
                    initial_password=PASSWORD,
                    email=f"tanto{n:04d}@example.co.jp",
                )
            )
            effective = registered.effective_on
        assert effective is not None
        shifted.offset = jst_at(effective, dtime(9, 5)) - datetime.now(UTC)
        await client.call(a.ActivateDueRegistrations(as_of=shifted.now()))
        org_session = (await client.call(a.Login(auth_id="bench-org0000", password=PASSWORD))).session_token
        person = f.Person(
            nationality="VNM",
            name_latin="NGUYEN VAN AN",
            sex=f.Sex.MALE,
            date_of_birth=date(1998, 4, 1),
            residence_card_number="AB12345678CD",
        )
        filing = (
            await client.call(
                f.SubmitFiling(session_token=org_session, kind=f.FilingKind.ACCEPTANCE_PERIODIC_REPORT, persons=[person])
            )
        ).filing
        started = time.monotonic()
        await fill(nc, mails)
        fill_s = time.monotonic() - started
        ids = [r.mail_id for r in (await client.call(QueryDeliveryLog(recipient="tanto0007@example.co.jp", limit=1000))).records]
        ids += [r.mail_id for r in (await client.call(QueryDeliveryLog(recipient="tanto0420@example.co.jp", limit=1000))).records]

        await console.start()
        times: dict[str, list[float]] = defaultdict(list)
        async with httpx.AsyncClient(base_url=console.url, timeout=30) as http:
            form = await http.get("/login")
            signed = await http.post(
                "/login", data={"csrf_token": CSRF.search(form.text).group(1), "auth_id": "benchofficer", "password": PASSWORD}
            )
            assert signed.status_code == 303, signed.text

            async def timed(name: str, path: str) -> None:
                t0 = time.perf_counter()
                response = await http.get(path)
                times[name].append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (path, response.status_code, response.text[:300])
                if name == "mail_detail":  # the mail's exact bytes were shown, not just its log line
                    assert 'id="mail-exact"' in response.text, path

            for r in range(rounds + 3):
                if r == 3:
                    times.clear()  # the first rounds warm up the template and connection caches
                n = (r * 37) % ACCOUNTS
                await timed("search_auth_id", f"/mail?auth_id=bench-org{n:04d}")
                await timed("search_reception", f"/mail?reception_number=20270401-{(r * 53) % FILINGS:06d}")
                await timed("search_recipient", f"/mail?recipient=tanto{(n + 1) % ACCOUNTS:04d}@example.co.jp&status=sent")
                mail_id = ids[r % len(ids)]
                await timed("mail_detail", f"/mail/{mail_id}")
                await timed("mail_html", f"/mail/{mail_id}/html")
                await timed("account", f"/accounts?auth_id=bench-org{r % 5:04d}")
                await timed("filing", f"/filings?reception_number={filing.reception_number}")
                await timed("jobs", "/jobs")
                await timed("templates", "/templates")
    finally:
        await console.stop()
        await nc.close()
        await notifier.stop()
        await domain.stop()
        await sink.stop()

    def p95(values: list[float]) -> float:
        return round(statistics.quantiles(values, n=20)[-1], 1) if len(values) > 1 else round(values[0], 1)

    every = [t for ts in times.values() for t in ts]
    return {
        "bench": "console",
        "mails": mails,
        "fill_s": round(fill_s, 1),
        "requests": len(every),
        "p50_ms": round(statistics.median(every), 1),
        "p95_ms": p95(every),
        "pages": {name: {"p50_ms": round(statistics.median(ts), 1), "p95_ms": p95(ts)} for name, ts in times.items()},
        "target_p95_ms": 200,
        "cores": os.cpu_count(),
        "versions": versions("nats-py", "starlette", "uvicorn", "jinja2", "pydantic"),
    }


async def main(mails: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ens-bench-console-") as tmp:
        server = secured_server(Path(tmp))
        os.environ["ENS_NATS_CREDENTIALS_DIR"] = str(Path(tmp) / "credentials")
        server.start()
        try:
            return await run(server.url, mails, rounds)
        finally:
            server.stop()


if __name__ == "__main__":
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.mails, args.rounds)), ensure_ascii=False))
