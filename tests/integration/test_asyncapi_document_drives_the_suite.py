"""A stranger's program, written from docs/asyncapi.json alone, drives a registration, a login
and a filing: each request is built from its message's documented example and schema (never
from the contract classes), sent raw over NATS as the `operator` or `client` identity, and every
reply and every event in the stream is validated against the documented schema — 0 violations.
A refusal (a wrong password) is checked the same way: the documented error envelope, with a
code the operation says it can answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from services.runtime.clock import FakeClock
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support import bus
from tests.support.suite import running

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
DOC_URI = "urn:ens:asyncapi"
START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST


class Documented:
    """What a client knows from the document: where each message goes, what it looks like,
    and what may come back."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
        self.violations: list[str] = []

    def resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return self.resolve(node["$ref"]) if "$ref" in node else node

    def validator(self, schema_ref: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(
            {"$ref": DOC_URI + schema_ref},
            registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )

    def operation(self, message: str) -> tuple[str, dict[str, Any]]:
        """The address and operation that take `message` as their request."""
        for op in self.doc["operations"].values():
            if op["action"] == "receive" and self.resolve(op["messages"][0]["$ref"])["name"] == message:
                return self.resolve(op["channel"]["$ref"])["address"], op
        raise LookupError(message)

    def request(self, message: str, **values: Any) -> dict[str, Any]:
        """A request built from the message's documented example, with `values` put in; only
        fields the schema names are allowed, and the result must fit the schema."""
        documented = self.doc["components"]["messages"][message]
        properties = self.resolve(documented["payload"]["$ref"]).get("properties", {})
        unknown = set(values) - set(properties)
        assert not unknown, f"{message} has no fields {unknown}"
        body = {**documented["examples"][0]["payload"], **values}
        errors = [e.message for e in self.validator(documented["payload"]["$ref"]).iter_errors(body)]
        assert not errors, f"request {message} does not fit its schema: {errors}"
        return body

    def check(self, what: str, message: str, payload: Any, headers: dict[str, str] | None = None) -> None:
        documented = self.doc["components"]["messages"][message]
        for error in self.validator(documented["payload"]["$ref"]).iter_errors(payload):
            self.violations.append(f"{what}: {error.json_path}: {error.message}")
        if "headers" in documented and headers is not None:
            for error in jsonschema.Draft202012Validator(documented["headers"]).iter_errors(headers):
                self.violations.append(f"{what} headers: {error.message}")

    async def call(self, nc: Any, message: str, **values: Any) -> tuple[str, dict[str, Any]]:
        """Send `message`, validate the reply against the one the document says it is."""
        address, op = self.operation(message)
        body = self.request(message, **values)
        raw = await nc.request(address, json.dumps(body).encode(), timeout=10)
        reply = json.loads(raw.data)
        names = [self.resolve(m["$ref"])["name"] for m in op["reply"]["messages"]]
        name = "ErrorReply" if "error" in reply else names[0]
        assert name in names, f"{message}: {name} is not a documented reply ({names})"
        self.check(f"reply to {message}", name, reply)
        if name == "ErrorReply" and reply["error"]["code"] not in op["x-ens-error-codes"]:
            self.violations.append(f"{message}: answered {reply['error']['code']}, not in its x-ens-error-codes")
        return name, reply


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def _events(nats_url: str) -> list[Any]:
    """Everything in the event stream, read as the documented reader role."""
    reader = await bus.connect_as(nats_url, "events-reader")
    try:
        js = reader.jetstream()
        sub = await js.pull_subscribe("ens.v1.events.>", durable="asyncapi-drive", stream="ENS_EVENTS")
        out: list[Any] = []
        while True:
            try:
                batch = await sub.fetch(64, timeout=2 if not out else 0.5)
            except Exception:
                break
            for m in batch:
                out.append(m)
                await m.ack()
        return out
    finally:
        await reader.close()


async def test_a_client_written_from_the_document_alone_registers_logs_in_and_files_with_no_violation(nats_url, clock):
    doc = Documented(json.loads(DOC_PATH.read_text()))
    async with running(["auth", "filing"], nats_url, clock=clock):
        operator = await bus.connect_as(nats_url, "operator")
        client = await bus.connect_as(nats_url, "client")
        try:
            name, _ = await doc.call(
                operator,
                "CreateOfficer",
                operator_token=TEST_OPERATOR_TOKEN,
                auth_id="officer01",
                password="Officer#2027",
            )
            assert name == "Ack"
            name, officer = await doc.call(client, "Login", auth_id="officer01", password="Officer#2027")
            assert name == "LoginResult" and officer["role"] == "officer"

            name, registered = await doc.call(
                client,
                "RegisterAccount",
                session_token=officer["session_token"],
                auth_id="drive-corp01",
                initial_password="Drive#2027a",
                email="drive@example.jp",
            )
            assert name == "AccountRegistration", registered
            name, refused = await doc.call(client, "Login", auth_id="drive-corp01", password="Drive#2027a")
            assert (name, refused["error"]["code"]) == ("ErrorReply", "registration_pending")

            clock.set(datetime.fromisoformat(registered["effective_on"]).replace(tzinfo=UTC))  # 09:00 JST that day
            name, run = await doc.call(operator, "ActivateDueRegistrations", as_of=clock.now().isoformat())
            assert name == "JobResult" and run["changed"] == 1, run

            name, wrong = await doc.call(client, "Login", auth_id="drive-corp01", password="Wrong#2027a")
            assert (name, wrong["error"]["code"]) == ("ErrorReply", "login_failed")
            name, org = await doc.call(client, "Login", auth_id="drive-corp01", password="Drive#2027a")
            assert name == "LoginResult" and org["role"] == "organisation"

            person_schema = doc.resolve("#/components/schemas/Person")
            person = {
                **doc.doc["components"]["messages"]["SubmitFiling"]["examples"][0]["payload"]["persons"][0],
                "nationality": person_schema["properties"]["nationality"]["enum"][0],
                "name_latin": "TRAN THI BINH",
                "residence_card_number": "XY87654321ZW",
            }
            name, accepted = await doc.call(
                client,
                "SubmitFiling",
                session_token=org["session_token"],
                kind="employment_contract_change",
                persons=[person],
            )
            assert name == "FilingAccepted", accepted
            number = accepted["filing"]["reception_number"]
            name, detail = await doc.call(client, "GetFiling", session_token=org["session_token"], reception_number=number)
            assert name == "FilingDetail" and detail["persons"][0]["residence_card_number"] == "XY87654321ZW"
            name, page = await doc.call(client, "ListFilings", session_token=org["session_token"])
            assert name == "FilingPage" and page["total"] == 1
        finally:
            await operator.close()
            await client.close()

        messages = {c["address"]: c for c in doc.doc["channels"].values()}
        seen = []
        for m in await _events(nats_url):
            channel = messages.get(m.subject)
            assert channel is not None, f"an event on an undocumented subject: {m.subject}"
            (ref,) = channel["messages"].values()
            name = doc.resolve(ref["$ref"])["name"]
            payload = json.loads(m.data)
            doc.check(f"event {m.subject}", name, payload, dict(m.headers or {}))
            if (m.headers or {}).get("Nats-Msg-Id") != payload["meta"]["event_id"]:
                doc.violations.append(f"{m.subject}: Nats-Msg-Id is not meta.event_id")
            seen.append(name)
    assert {"AccountRegistered", "AccountActivated", "FilingSubmitted"} <= set(seen), seen
    assert doc.violations == []
