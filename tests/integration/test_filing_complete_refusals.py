"""Every refusal complete (issue 16), over a real nats-server with the real auth and filing
services: five rule errors in three persons plus a fourth person whose remark is over the
contract's 1,000 characters (a type error, refused before the use case runs) come back in one
reply, all six, for a JSON submission, a change, and a bulk CSV alike; nothing is stored."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from contracts import auth as a
from contracts import filing as f
from contracts.organisations import OrganisationKind
from ens.suite import build_services
from services.filing.app import FilingService
from services.filing.settings import FilingSettings
from services.runtime.clock import FakeClock
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_KEY_1, TEST_OPERATOR_TOKEN
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)
NEXT_DAY_0900_JST = datetime(2027, 4, 2, 0, 0, tzinfo=UTC)
PASSWORD = "Secret#123abc"
COMPANY = a.Organisation(organisation_id="COMPANY-R", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社みなと製作所")
KIND = f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE
GOOD = {
    "nationality": "VNM",
    "name_latin": "NGUYEN VAN AN",
    "sex": "male",
    "date_of_birth": "1998-04-01",
    "residence_card_number": "AB12345678CD",
    "event_date": "2027-03-01",
}
PERSONS = [
    {**GOOD, "nationality": "ZZZ", "date_of_birth": "2099-01-01"},  # unknown code, birth in the future
    {**GOOD, "name_latin": "グエン", "residence_card_number": "AB1234567CE"},  # not Latin, bad card
    {**GOOD, "residence_card_number": "AB12345678CF", "event_date": "2099-01-01"},  # event in the future
    {**GOOD, "residence_card_number": "AB12345678CG", "remarks": "x" * 1001},  # over the contract's limit
]
SIX = [
    ("persons.0.nationality", "unknown_code"),
    ("persons.0.date_of_birth", "in_future"),
    ("persons.1.name_latin", "not_latin"),
    ("persons.1.residence_card_number", "pattern"),
    ("persons.2.event_date", "in_future"),
    ("persons.3.remarks", "string_too_long"),
]


def hosting(nats_url: str, clock: FakeClock):
    runtime = RuntimeSettings(nats_url=nats_url)
    filing = FilingService(runtime, FilingSettings(keys=f"k1:{TEST_KEY_1}"), clock)
    return running(None, nats_url, clock=clock, services=[*build_services(["auth"], runtime, clock), filing])


async def company_session(client, clock: FakeClock) -> str:
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
            session_token=officer, organisation=COMPANY, auth_id="minato-user", initial_password=PASSWORD, email="m@example.jp"
        )
    )
    clock.set(NEXT_DAY_0900_JST)
    await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
    return (await client.call(a.Login(auth_id="minato-user", password=PASSWORD))).session_token


async def raw_call(nc, subject: str, body: dict) -> dict:
    msg = await nc.request(subject, json.dumps(body, ensure_ascii=False).encode(), timeout=10)
    return json.loads(msg.data)


async def test_a_json_submission_with_five_rule_errors_and_one_type_error_reports_all_six(nats_url, nc, client):
    clock = FakeClock(START)
    async with hosting(nats_url, clock):
        token = await company_session(client, clock)
        reply = await raw_call(nc, f.SubmitFiling.SUBJECT, {"session_token": token, "kind": KIND.value, "persons": PERSONS})
        error = reply["error"]
        assert error["code"] == "validation"
        assert [(e["field"], e["code"]) for e in error["fields"]] == SIX
        assert all(e["message"] and e["label"] for e in error["fields"])
        assert (await client.call(f.ListFilings(session_token=token))).total == 0  # nothing stored


async def test_a_change_with_the_same_mistakes_reports_all_six_too(nats_url, nc, client):
    clock = FakeClock(START)
    async with hosting(nats_url, clock):
        token = await company_session(client, clock)
        good = f.Person.model_validate(GOOD)
        number = (await client.call(f.SubmitFiling(session_token=token, kind=KIND, persons=[good]))).filing.reception_number
        reply = await raw_call(
            nc,
            f.ChangeFiling.SUBJECT,
            {"session_token": token, "reception_number": number, "based_on_version": 1, "persons": PERSONS},
        )
        assert [(e["field"], e["code"]) for e in reply["error"]["fields"]] == SIX
        detail = await client.call(f.GetFiling(session_token=token, reception_number=number))
        assert detail.filing.version == 1 and detail.persons == [good]


async def test_a_bulk_csv_with_five_rule_errors_and_one_unreadable_cell_reports_all_six(nats_url, nc, client):
    clock = FakeClock(START)
    async with hosting(nats_url, clock):
        token = await company_session(client, clock)
        rows = [
            "ZZZ,NGUYEN VAN AN,男,2099-01-01,AB12345678CD,2027-03-01,",
            "VNM,グエン,男,1998-04-01,AB1234567CE,2027-03-01,",
            "VNM,NGUYEN VAN AN,男,1998-04-01,AB12345678CF,2099-01-01,",
            "VNM,NGUYEN VAN AN,男,1998-04-01,AB12345678CG,2027-03-01," + "x" * 1001,
        ]
        text = ",".join(("国籍・地域", "氏名（英字）", "性別", "生年月日", "在留カード番号", "事由発生日", "備考")) + "\r\n"
        data = (text + "".join(r + "\r\n" for r in rows)).encode("cp932")
        reply = await raw_call(
            nc,
            f.SubmitBulkFiling.SUBJECT,
            {"session_token": token, "kind": KIND.value, "csv_base64": base64.b64encode(data).decode()},
        )
        got = [(e["field"], e["code"]) for e in reply["error"]["fields"]]
        assert got == [*SIX[:5], ("persons.3.remarks", "too_long")]
        assert [e["row"] for e in reply["error"]["fields"]] == [1, 1, 2, 2, 3, 4]
        assert (await client.call(f.ListFilings(session_token=token))).total == 0
