"""The filing service over a real nats-server, with the REAL auth service checking sessions:
transitions through the contracts, access control between organisations, stale versions, bulk
CSV in both encodings, events without personal data, the audit trail, retention, key rotation,
and a scan of the NATS store for plain personal data."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from contracts import auth as a
from contracts import filing as f
from contracts.client import CommandRefused, EnsClient
from contracts.common import ErrorCode
from contracts.organisations import OrganisationKind
from ens.suite import build_services
from services.filing.app import FilingService
from services.filing.settings import FilingSettings
from services.runtime.clock import FakeClock
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_KEY_1, TEST_KEY_2, TEST_OPERATOR_TOKEN
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 2027-04-01 10:00 JST
NEXT_DAY_0900_JST = datetime(2027, 4, 2, 0, 0, tzinfo=UTC)
PASSWORD = "Secret#123abc"

SCHOOL_A = a.Organisation(organisation_id="SCHOOL-A", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="さくら日本語学校")
SCHOOL_B = a.Organisation(organisation_id="SCHOOL-B", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="みどり日本語学院")
COMPANY = a.Organisation(organisation_id="COMPANY-C", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社みなと製作所")

NAMES = ["NGUYEN VAN AN", "SANTOS MARIA CLARA", "PUTRA BUDI SETIAWAN"]
CARDS = ["AB12345678CD", "EF87654321GH", "JK11223344LM"]
HEADER = "国籍・地域,氏名（英字）,性別,生年月日,在留カード番号,事由発生日,備考\r\n"


def person(i: int = 0, **over) -> f.Person:
    fields = {
        "nationality": "VNM",
        "name_latin": NAMES[i],
        "sex": f.Sex.MALE,
        "date_of_birth": date(1998, 4, 1),
        "residence_card_number": CARDS[i],
        "event_date": date(2027, 3, 1),
    }
    return f.Person(**{**fields, **over})


@dataclass
class World:
    client: EnsClient
    clock: FakeClock
    officer: str
    school_a: str
    school_b: str
    company: str


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def filing_service(runtime: RuntimeSettings, clock: FakeClock, keys: str, **settings) -> FilingService:
    return FilingService(runtime, FilingSettings(keys=keys, **settings), clock)


async def open_world(client: EnsClient, clock: FakeClock) -> World:
    """An officer and three organisations' accounts, registered, activated the next day at
    09:00 JST and logged in, all through auth's contracts."""
    await client.call(
        a.CreateOfficer(
            operator_token=TEST_OPERATOR_TOKEN,
            auth_id="officer01",
            password="Officer#2027x",
            name="審査 太郎",
            email="officer@example.go.jp",
        )
    )
    officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
    users = {"sakura-user": SCHOOL_A, "midori-user": SCHOOL_B, "minato-user": COMPANY}
    for auth_id, org in users.items():
        await client.call(
            a.RegisterAccount(
                session_token=officer, organisation=org, auth_id=auth_id, initial_password=PASSWORD, email=f"{auth_id}@example.jp"
            )
        )
    clock.set(NEXT_DAY_0900_JST)
    activated = await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
    assert activated.changed == 3
    tokens = {u: (await client.call(a.Login(auth_id=u, password=PASSWORD))).session_token for u in users}
    officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
    return World(client, clock, officer, tokens["sakura-user"], tokens["midori-user"], tokens["minato-user"])


def hosting(nats_url: str, clock: FakeClock, keys: str = f"k1:{TEST_KEY_1}", **settings):
    runtime = RuntimeSettings(nats_url=nats_url)
    services = [*build_services(["auth"], runtime, clock), filing_service(runtime, clock, keys, **settings)]
    return running(None, nats_url, clock=clock, services=services)


async def refused(coro) -> CommandRefused:
    with pytest.raises(CommandRefused) as err:
        await coro
    return err.value


async def stream(nc, subject: str, stream_name: str, expect: int, wait: float = 5.0) -> list[dict]:
    """Messages on a subject, waiting (bounded) until `expect` have arrived from the relay."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(subject, stream=stream_name)
    out: list[dict] = []
    loop_deadline = datetime.now(UTC) + timedelta(seconds=wait)
    try:
        while len(out) < expect and datetime.now(UTC) < loop_deadline:
            try:
                msgs = await sub.fetch(256, timeout=0.5)
            except Exception:
                continue
            for m in msgs:
                out.append({"subject": m.subject, "raw": m.data.decode(), **json.loads(m.data)})
                await m.ack()
    finally:
        await sub.unsubscribe()
    return out


def csv_b64(rows: list[str], encoding: str) -> str:
    return base64.b64encode((HEADER + "".join(r + "\r\n" for r in rows)).encode(encoding)).decode()


# ---- the whole life of a filing --------------------------------------------------------


async def test_submit_change_withdraw_record_one_event_each_with_facts_and_no_personal_data(nats_url, nc, client, clock):
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        accepted = await client.call(
            f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[person(0), person(1)])
        )
        s = accepted.filing
        assert s.status == f.FilingStatus.PENDING and s.version == 1 and s.person_count == 2
        assert s.reception_number.startswith("20270402-")  # JST day of submission

        detail = await client.call(f.GetFiling(session_token=w.school_a, reception_number=s.reception_number))
        assert [p.name_latin for p in detail.persons] == NAMES[:2]

        changed = await client.call(
            f.ChangeFiling(session_token=w.school_a, reception_number=s.reception_number, based_on_version=1, persons=[person(2)])
        )
        assert changed.filing.version == 2 and changed.filing.person_count == 1

        stale = await refused(
            client.call(f.WithdrawFiling(session_token=w.school_a, reception_number=s.reception_number, based_on_version=1))
        )
        assert stale.code == ErrorCode.STALE and "不正な画面遷移" in stale.error.message

        withdrawn = await client.call(
            f.WithdrawFiling(session_token=w.school_a, reception_number=s.reception_number, based_on_version=2)
        )
        assert withdrawn.filing.status == f.FilingStatus.WITHDRAWN and withdrawn.filing.finalised_at == clock.now()

        final = await refused(
            client.call(
                f.ChangeFiling(
                    session_token=w.school_a, reception_number=s.reception_number, based_on_version=3, persons=[person(0)]
                )
            )
        )
        assert final.code == ErrorCode.INVALID_STATE

        events = await stream(nc, "ens.v1.events.filing.>", "ENS_EVENTS", expect=3)
        assert [e["subject"].rsplit(".", 1)[1] for e in events] == ["submitted", "changed", "withdrawn"]
        facts = events[0]["filing"]
        assert facts["reception_number"] == s.reception_number and facts["person_count"] == 2
        assert facts["filer_email"] == "sakura-user@example.jp" and facts["organisation"]["name"] == "さくら日本語学校"
        assert facts["kind_label"] == f.FilingKind.SCHOOL_ADHOC_REPORT.label
        assert events[1]["was_fix"] is False
        for e in events:
            assert not any(x in e["raw"] for x in NAMES + CARDS + ["1998-04-01"]), e["raw"]

        audit = await stream(nc, "ens.v1.audit.filing", "ENS_AUDIT", expect=6)
        trail = [(r["command"], r["result"]) for r in audit]
        assert trail == [
            ("SubmitFiling", "ok"),
            ("GetFiling", "ok"),
            ("ChangeFiling", "ok"),
            ("WithdrawFiling", "stale"),
            ("WithdrawFiling", "ok"),
            ("ChangeFiling", "invalid_state"),
        ]
        assert all(r["actor"] == "sakura-user" and r["target"] == s.reception_number for r in audit)
        assert not any(x in r["raw"] for r in audit for x in NAMES + CARDS)


async def test_an_officer_returns_a_school_report_the_filer_fixes_it_and_the_officer_completes_it(nats_url, nc, client, clock):
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        s = (
            await client.call(
                f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_PERIODIC_REPORT, persons=[person(0)])
            )
        ).filing
        n = s.reception_number

        by_filer = await refused(
            client.call(f.ReturnFiling(session_token=w.school_a, reception_number=n, based_on_version=1, reasons=["x"]))
        )
        assert by_filer.code == ErrorCode.FORBIDDEN

        returned = await client.call(
            f.ReturnFiling(session_token=w.officer, reception_number=n, based_on_version=1, reasons=["在籍者数の記載漏れ"])
        )
        assert returned.filing.status == f.FilingStatus.RETURNED and returned.filing.return_reasons == ["在籍者数の記載漏れ"]
        listed = await client.call(f.ListFilings(session_token=w.school_a))
        assert listed.items[0].status == f.FilingStatus.RETURNED and listed.items[0].return_reasons == ["在籍者数の記載漏れ"]

        not_pending = await refused(
            client.call(f.CompleteFiling(session_token=w.officer, reception_number=n, based_on_version=2))
        )
        assert not_pending.code == ErrorCode.INVALID_STATE

        fixed = await client.call(
            f.ChangeFiling(session_token=w.school_a, reception_number=n, based_on_version=2, persons=[person(0), person(1)])
        )
        assert fixed.filing.status == f.FilingStatus.PENDING and fixed.filing.version == 3

        done = await client.call(f.CompleteFiling(session_token=w.officer, reception_number=n, based_on_version=3))
        assert done.filing.status == f.FilingStatus.COMPLETED
        again = await refused(client.call(f.WithdrawFiling(session_token=w.school_a, reception_number=n, based_on_version=4)))
        assert again.code == ErrorCode.INVALID_STATE and "改めて届け出" in again.error.message

        company = (
            await client.call(f.SubmitFiling(session_token=w.company, kind=f.FilingKind.MISCONDUCT, persons=[person(2)]))
        ).filing
        not_school = await refused(
            client.call(
                f.ReturnFiling(
                    session_token=w.officer, reception_number=company.reception_number, based_on_version=1, reasons=["x"]
                )
            )
        )
        assert not_school.code == ErrorCode.INVALID_STATE

        events = await stream(nc, "ens.v1.events.filing.>", "ENS_EVENTS", expect=5)
        kinds = [e["subject"].rsplit(".", 1)[1] for e in events]
        assert kinds == ["submitted", "returned", "changed", "completed", "submitted"]
        assert events[1]["reasons"] == ["在籍者数の記載漏れ"] and events[1]["filing"]["filer_email"] == "sakura-user@example.jp"
        assert events[2]["was_fix"] is True


async def test_organisation_a_can_never_read_change_or_withdraw_organisation_b_filing(nats_url, client, clock):
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        s = (
            await client.call(
                f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[person(0)])
            )
        ).filing
        n = s.reception_number

        attempts = [
            f.GetFiling(session_token=w.school_b, reception_number=n),
            f.ChangeFiling(session_token=w.school_b, reception_number=n, based_on_version=1, persons=[person(1)]),
            f.WithdrawFiling(session_token=w.school_b, reception_number=n, based_on_version=1),
        ]
        for cmd in attempts:
            err = await refused(client.call(cmd))
            assert err.code == ErrorCode.NOT_FOUND, cmd  # the same answer as for a filing that does not exist
            assert "NGUYEN" not in err.error.model_dump_json()
        missing = await refused(client.call(f.GetFiling(session_token=w.school_b, reception_number="20270402-999999")))
        assert missing.error.message.replace("999999", "") == err.error.message.replace(n[-6:], "").replace(n[:8], "20270402")

        other = await refused(client.call(f.ListFilings(session_token=w.school_b, organisation_id="SCHOOL-A")))
        assert other.code == ErrorCode.FORBIDDEN
        assert (await client.call(f.ListFilings(session_token=w.school_b))).total == 0
        for cmd in (
            f.CompleteFiling(session_token=w.school_b, reception_number=n, based_on_version=1),
            f.ReturnFiling(session_token=w.school_b, reception_number=n, based_on_version=1, reasons=["x"]),
        ):
            assert (await refused(client.call(cmd))).code == ErrorCode.NOT_FOUND  # B cannot even see it

        # Untouched, and an officer may read any organisation's filings.
        seen = await client.call(f.GetFiling(session_token=w.officer, reception_number=n))
        assert seen.filing.version == 1 and seen.persons[0].name_latin == NAMES[0]
        assert (await client.call(f.ListFilings(session_token=w.officer, organisation_id="SCHOOL-A"))).total == 1

        wrong_kind = await refused(
            client.call(f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.MISCONDUCT, persons=[person(0)]))
        )
        assert wrong_kind.code == ErrorCode.VALIDATION and wrong_kind.error.fields[0].field == "kind"
        nobody = await refused(client.call(f.ListFilings(session_token="x" * 32)))
        assert nobody.code == ErrorCode.UNAUTHENTICATED


# ---- bulk CSV --------------------------------------------------------------------------


async def test_bulk_csv_in_cp932_and_utf8_with_bom_is_accepted_and_bad_files_store_nothing(nats_url, client, clock):
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        rows = [
            "ﾍﾞﾄﾅﾑ,NGUYEN VAN AN,男,１９９８/０４/０１,ＡＢ１２３４５６７８ＣＤ,2027/03/01,ｺﾝﾋﾞﾆ勤務",
            "PHL,SANTOS MARIA CLARA,女,2000-12-24,EF87654321GH,2027-03-02,",
        ]
        for encoding in ("cp932", "utf-8-sig", "utf-8"):
            accepted = await client.call(
                f.SubmitBulkFiling(
                    session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, csv_base64=csv_b64(rows, encoding)
                )
            )
            assert accepted.filing.person_count == 2
        detail = await client.call(f.GetFiling(session_token=w.school_a, reception_number=accepted.filing.reception_number))
        assert detail.persons[0].nationality == "VNM" and detail.persons[0].residence_card_number == "AB12345678CD"
        assert detail.persons[0].remarks == "ｺﾝﾋﾞﾆ勤務"  # 備考 as written (docs/BULK-TEMPLATE.md)

        bad = await refused(
            client.call(
                f.SubmitBulkFiling(
                    session_token=w.school_a,
                    kind=f.FilingKind.SCHOOL_ADHOC_REPORT,
                    csv_base64=csv_b64([rows[0], "XXX,山田,男,1998/02/30,AB1,,"], "cp932"),
                )
            )
        )
        assert bad.code == ErrorCode.VALIDATION
        assert {(e.row, e.column) for e in bad.error.fields} == {
            (2, "国籍・地域"),
            (2, "氏名（英字）"),
            (2, "生年月日"),
            (2, "在留カード番号"),
            (2, "事由発生日"),
        }

        many = [f"VNM,PERSON {chr(65 + i % 26)},男,1990-01-01,AB{i:08d}CD,2027-03-01," for i in range(301)]
        split = await refused(
            client.call(
                f.SubmitBulkFiling(
                    session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, csv_base64=csv_b64(many, "utf-8")
                )
            )
        )
        assert split.error.fields[0].code == "too_many" and "分けて" in split.error.fields[0].message

        big = base64.b64encode(b"x" * (2 * 1024 * 1024 + 1)).decode()
        too_large = await refused(
            client.call(f.SubmitBulkFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, csv_base64=big))
        )
        assert too_large.code == ErrorCode.TOO_LARGE

        assert (await client.call(f.ListFilings(session_token=w.school_a))).total == 3  # nothing from the refusals


# ---- history -----------------------------------------------------------------------------


async def test_history_lists_the_callers_filings_newest_first_filtered_and_paged_with_unique_reception_numbers(
    nats_url, client, clock
):
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        numbers = []
        for i, kind in enumerate([f.FilingKind.SCHOOL_ADHOC_REPORT, f.FilingKind.SCHOOL_PERIODIC_REPORT] * 3):
            clock.advance(minutes=1)
            numbers.append(
                (
                    await client.call(f.SubmitFiling(session_token=w.school_a, kind=kind, persons=[person(i % 3)]))
                ).filing.reception_number
            )
        await client.call(f.SubmitFiling(session_token=w.school_b, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[person(0)]))
        await client.call(f.WithdrawFiling(session_token=w.school_a, reception_number=numbers[0], based_on_version=1))

        assert len(set(numbers)) == 6 and all(n.startswith("20270402-") and len(n) == 15 for n in numbers)
        page1 = await client.call(f.ListFilings(session_token=w.school_a, page_size=4))
        page2 = await client.call(f.ListFilings(session_token=w.school_a, page_size=4, page=2))
        assert page1.total == 6 and [i.reception_number for i in page1.items + page2.items] == numbers[::-1]
        adhoc = await client.call(f.ListFilings(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT))
        assert [i.reception_number for i in adhoc.items] == [numbers[4], numbers[2], numbers[0]]
        withdrawn = await client.call(f.ListFilings(session_token=w.school_a, status=f.FilingStatus.WITHDRAWN))
        assert [i.reception_number for i in withdrawn.items] == [numbers[0]] and withdrawn.items[0].version == 2


# ---- retention -------------------------------------------------------------------------


async def test_retention_deletes_only_filings_final_for_longer_than_the_period_and_says_how_many(nats_url, client, clock):
    async with hosting(nats_url, clock, retention_days=365):
        w = await open_world(client, clock)
        n = [
            (
                await client.call(
                    f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[person(i)])
                )
            ).filing.reception_number
            for i in range(3)
        ]
        finalised = clock.now()
        await client.call(f.WithdrawFiling(session_token=w.school_a, reception_number=n[0], based_on_version=1))
        await client.call(f.CompleteFiling(session_token=w.officer, reception_number=n[1], based_on_version=1))

        early = await client.call(f.PurgeExpiredFilings(as_of=finalised + timedelta(days=365), force=True))
        assert (early.processed, early.changed) == (3, 0)
        due = await client.call(f.PurgeExpiredFilings(as_of=finalised + timedelta(days=365, minutes=1), force=True))
        assert (due.processed, due.changed) == (3, 2)

        clock.set(finalised + timedelta(minutes=5))  # sessions are still alive on auth's clock
        listed = await client.call(f.ListFilings(session_token=w.school_a))
        assert [i.reception_number for i in listed.items] == [n[2]]
        gone = await refused(client.call(f.GetFiling(session_token=w.officer, reception_number=n[0])))
        assert gone.code == ErrorCode.NOT_FOUND


# ---- protection --------------------------------------------------------------------------


async def test_the_nats_store_holds_no_persons_names_or_card_numbers_in_plain_text(
    nats_url, nats_server, client, clock, tmp_path: Path
):
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        await client.call(
            f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[person(0), person(1)])
        )
        rows = ["IDN,PUTRA BUDI SETIAWAN,M,1999/03/05,JK11223344LM,2027/03/01,"]
        bulk = await client.call(
            f.SubmitBulkFiling(session_token=w.company, kind=f.FilingKind.MISCONDUCT, csv_base64=csv_b64(rows, "cp932"))
        )
        await client.call(f.GetFiling(session_token=w.company, reception_number=bulk.filing.reception_number))
    nats_server.stop()  # flush everything to disk

    store = nats_server.store_dir
    blobs = [p.read_bytes() for p in Path(store).rglob("*") if p.is_file()]
    assert sum(len(b) for b in blobs) > 0
    everything = b"".join(blobs)
    assert "さくら日本語学校".encode() in everything  # the scan does read the filings' entries
    for secret in NAMES + CARDS:
        assert secret.encode() not in everything, secret
        assert secret.encode("utf-16-le") not in everything, secret


async def test_key_rotation_reads_old_data_reencrypts_it_and_a_flipped_byte_is_detected(nats_url, nc, client, clock):
    k1, both, k2 = f"k1:{TEST_KEY_1}", f"k1:{TEST_KEY_1},k2:{TEST_KEY_2}", f"k2:{TEST_KEY_2}"
    async with hosting(nats_url, clock, keys=k1):
        w = await open_world(client, clock)
        n = [
            (
                await client.call(
                    f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[person(i)])
                )
            ).filing.reception_number
            for i in range(2)
        ]

    async with hosting(nats_url, clock, keys=both):
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        assert (await client.call(f.GetFiling(session_token=officer, reception_number=n[0]))).persons[0].name_latin == NAMES[0]
        result = await client.call(f.ReencryptFilings(as_of=clock.now()))
        assert (result.processed, result.changed) == (2, 2)
        again = await client.call(f.ReencryptFilings(as_of=clock.now()))
        assert again.changed == 0
        detail = await client.call(f.GetFiling(session_token=officer, reception_number=n[1]))
        assert detail.filing.version == 1  # rotation is not a change anyone's view goes stale on

    async with hosting(nats_url, clock, keys=k2):
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        assert (await client.call(f.GetFiling(session_token=officer, reception_number=n[1]))).persons[0].name_latin == NAMES[1]

        # Flip one byte of a stored ciphertext: the read is refused, nothing leaks.
        kv = await nc.jetstream().key_value("filing_filings")
        from services.runtime.keys import encode_key

        entry = await kv.get(encode_key(n[0]))
        doc = json.loads(entry.value)
        token = doc["state"]["persons"][0]["name_latin"]
        head, ct = token.rsplit(":", 1)
        doc["state"]["persons"][0]["name_latin"] = f"{head}:{('B' if ct[0] != 'B' else 'C') + ct[1:]}"
        await kv.put(encode_key(n[0]), json.dumps(doc).encode())
        tampered = await refused(client.call(f.GetFiling(session_token=officer, reception_number=n[0])))
        assert tampered.code == ErrorCode.INTERNAL and "NGUYEN" not in tampered.error.model_dump_json()


async def test_the_daily_retention_pass_repairs_a_history_index_left_behind_by_a_crash(nats_url, nc, client, clock):
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        numbers = [
            (
                await client.call(
                    f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=[person(i)])
                )
            ).filing.reception_number
            for i in range(2)
        ]
        await client.call(f.WithdrawFiling(session_token=w.school_a, reception_number=numbers[0], based_on_version=1))
        # What a crash between the filing's write and its index row leaves: a row missing, one behind.
        from services.runtime.keys import encode_key

        index = await nc.jetstream().key_value("filing_index")
        rows = json.loads((await index.get(encode_key("SCHOOL-A"))).value)["rows"]
        stale_row = [*rows[0][:2], 0, 1, *rows[0][4:]]  # status pending, version 1
        await index.put(encode_key("SCHOOL-A"), json.dumps({"rows": [stale_row]}).encode())
        assert (await client.call(f.ListFilings(session_token=w.school_a))).total == 1

        result = await client.call(f.PurgeExpiredFilings(as_of=clock.now()))
        assert result.changed == 0 and result.details["repaired_indexes"] == 1
        page = await client.call(f.ListFilings(session_token=w.school_a))
        assert [(s.reception_number, s.status, s.version) for s in page.items] == [
            (numbers[1], f.FilingStatus.PENDING, 1),
            (numbers[0], f.FilingStatus.WITHDRAWN, 2),
        ]


async def test_a_fix_request_goes_to_the_address_registered_when_the_report_is_returned(nats_url, client, nc, clock):
    """Issue 15 item 1, through the real auth: submitted while the school's address was the first
    one, the address changed (by the user, then by an officer on request), then the report was
    returned: mail 9's event names the address registered at that moment."""
    async with hosting(nats_url, clock):
        w = await open_world(client, clock)
        n = (
            await client.call(
                f.SubmitFiling(session_token=w.school_a, kind=f.FilingKind.SCHOOL_PERIODIC_REPORT, persons=[person(0)])
            )
        ).filing.reception_number
        await client.call(a.ChangeEmail(session_token=w.school_a, new_email="sakura-new@example.jp"))
        request = a.RequestProvenance(channel=a.RequestChannel.POST, bureau="東京出入国在留管理局", form_reference="郵-2027-17")
        await client.call(
            a.ChangeAccountEmail(
                session_token=w.officer, auth_id="sakura-user", new_email="sakura-now@example.jp", request=request
            )
        )
        await client.call(f.ReturnFiling(session_token=w.officer, reception_number=n, based_on_version=1, reasons=["記載漏れ"]))
        events = await stream(nc, "ens.v1.events.filing.>", "ENS_EVENTS", expect=2)
        assert [e["filing"]["filer_email"] for e in events] == ["sakura-user@example.jp", "sakura-now@example.jp"]
