"""The committed AsyncAPI document and schemas are what the code generates, and the document is
complete: every command with its reply and the error envelope, every message with a summary, a
description and an example that fits its schema, every field described, every operation's roles."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import contracts
from contracts import errors as contract_errors
from contracts import examples, subjects
from contracts.common import ErrorCode
from ens import spec

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "asyncapi.json"
SCHEMAS = ROOT / "contracts" / "schemas"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(DOC_PATH.read_text())


def test_committed_asyncapi_document_is_current():
    assert DOC_PATH.read_text() == spec.generate(), "docs/asyncapi.json is stale: run `ens asyncapi` and commit it"


def test_committed_message_schemas_are_current():
    wanted = spec.message_schemas()
    present = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert present.keys() == wanted.keys(), "contracts/schemas/ is stale: run `ens asyncapi` and commit it"
    stale = [name for name, text in wanted.items() if present[name] != text]
    assert not stale, f"stale schemas (run `ens asyncapi`): {stale}"


def test_every_contract_command_is_mounted_by_its_services_handler_table():
    mounted = {}
    for service in subjects.SERVICES:
        for command in importlib.import_module(f"services.{service}.handlers").HANDLERS:
            mounted[command] = service
    missing = [c.__name__ for c in contracts.ALL_COMMANDS if c not in mounted]
    assert not missing, f"commands no service answers: {missing}"
    wrong = [c.__name__ for c, s in mounted.items() if c.SUBJECT.split(".")[2] != s]
    assert not wrong, f"commands mounted by a service their subject does not name: {wrong}"


def test_every_command_event_status_and_audit_subject_has_a_channel(doc):
    addresses = {c["address"] for c in doc["channels"].values()}
    expected = {c.SUBJECT for c in contracts.ALL_COMMANDS} | {e.SUBJECT for e in contracts.ALL_EVENTS}
    expected |= {subjects.status(s) for s in subjects.SERVICES} | {subjects.audit(s) for s in subjects.SERVICES}
    assert expected <= addresses, sorted(expected - addresses)


def test_every_receive_operation_has_a_reply_and_every_command_reply_offers_the_error_envelope(doc):
    by_subject = {c.SUBJECT: c for c in contracts.ALL_COMMANDS}
    for op_id, op in doc["operations"].items():
        address = _resolve(doc, op["channel"]["$ref"])["address"]
        if op["action"] != "receive":
            continue
        assert "reply" in op, f"{op_id} has no reply"
        names = [_resolve(doc, m["$ref"])["name"] for m in op["reply"]["messages"]]
        command = by_subject.get(address)
        if command is not None:
            assert names == [command.REPLY.__name__, "ErrorReply"], op_id
            assert op["x-ens-error-codes"] == [c.value for c in contract_errors.answers(command)]


def test_every_operation_has_a_description_roles_and_security(doc):
    for op_id, op in doc["operations"].items():
        assert op.get("description", "").strip(), f"{op_id} has no description"
        assert op.get("summary", "").strip(), f"{op_id} has no summary"
        assert op["x-ens-roles"], op_id
        assert [s["$ref"].rsplit("/", 1)[1] for s in op["security"]] == op["x-ens-roles"]


def test_command_operations_use_the_standard_nats_binding_with_the_services_queue_group(doc):
    for command in contracts.ALL_COMMANDS:
        op = doc["operations"][command.SUBJECT.removeprefix("ens.v1.")]
        service = command.SUBJECT.split(".")[2]
        assert op["bindings"] == {"nats": {"bindingVersion": "0.1.0", "queue": subjects.queue_group(service)}}
    assert '"custom"' not in DOC_PATH.read_text()


def test_roles_follow_the_nats_grants():
    from contracts import auth, filing

    assert spec.roles_to_send(auth.Login.SUBJECT) == ["client", "operator"]
    assert spec.roles_to_send(auth.CreateOfficer.SUBJECT) == ["scheduler", "operator"]
    assert spec.roles_to_send(auth.GetOrganisationContact.SUBJECT) == ["filing", "notifier"]
    assert "client" in spec.roles_to_send(filing.SubmitFiling.SUBJECT)
    assert spec.roles_to_read(subjects.EVENTS_STREAM) == ["auth", "notifier", "events-reader"]
    assert spec.roles_to_read(subjects.AUDIT_STREAM) == ["admin"]


def test_every_message_has_a_summary_a_description_and_an_example(doc):
    for name, message in doc["components"]["messages"].items():
        assert message.get("summary", "").strip(), f"message {name} has no summary"
        assert message.get("description", "").strip(), f"message {name} has no description"
        assert message.get("examples"), f"message {name} has no example"


def _undescribed(schema: dict[str, Any], path: str) -> list[str]:
    return [f"{path}.{name}" for name, prop in schema.get("properties", {}).items() if not prop.get("description", "").strip()]


def test_every_field_of_every_message_is_described(doc):
    missing = []
    for name, schema in doc["components"]["schemas"].items():
        missing += _undescribed(schema, name)
    for name, message in doc["components"]["messages"].items():
        missing += _undescribed(message.get("headers", {}), f"{name}(headers)")
    assert not missing, f"fields without a description: {missing}"


def test_event_messages_declare_the_nats_msg_id_header_and_channels_name_their_stream(doc):
    for event in contracts.ALL_EVENTS:
        message = doc["components"]["messages"][event.__name__]
        assert "Nats-Msg-Id" in message["headers"]["required"]
        assert message["correlationId"]["location"] == "$message.payload#/meta/event_id"
        channel = doc["channels"][event.SUBJECT.removeprefix("ens.v1.")]
        assert channel["x-ens-stream"]["name"] == subjects.EVENTS_STREAM
    for service in subjects.SERVICES:
        channel = doc["channels"][f"audit.{service}"]
        assert channel["x-ens-stream"]["name"] == subjects.AUDIT_STREAM
        assert channel["x-ens-stream"]["subjects"] == ["ens.v1.audit.>"]
    assert "correlation_id" not in DOC_PATH.read_text()


def test_every_error_code_is_listed_with_its_meaning_and_the_commands_that_answer_it(doc):
    schema = doc["components"]["schemas"]["ErrorCode"]
    listed = {alt["const"]: alt for alt in schema["oneOf"]}
    assert set(listed) == {c.value for c in ErrorCode}
    for code in ErrorCode:
        assert listed[code.value]["description"] == contract_errors.MEANINGS[code]
    assert listed["login_failed"]["x-ens-answered-by"] == ["Login"]
    assert len(listed["validation"]["x-ens-answered-by"]) == len(contracts.ALL_COMMANDS)


def test_every_command_states_its_own_refusals():
    missing = [c.__name__ for c in contracts.ALL_COMMANDS if c not in contract_errors.SPECIFIC]
    assert not missing, f"add these commands to contracts/errors.py SPECIFIC: {missing}"
    assert set(contract_errors.MEANINGS) == set(ErrorCode)


def test_every_example_fits_its_messages_json_schema_and_its_pydantic_model(doc):
    checked = 0
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        message = doc["components"]["messages"][path.stem]
        for example in message["examples"]:
            errors = sorted(validator.iter_errors(example["payload"]), key=str)
            assert not errors, f"{example['name']}: {[e.message for e in errors]}"
            if "headers" in message:
                jsonschema.validate(example.get("headers", {}), message["headers"])
            checked += 1
    for example in examples.EXAMPLES:
        type(example.message).model_validate_json(json.dumps(example.payload), strict=True)
    assert checked == len(examples.EXAMPLES)


def test_the_schemas_state_the_services_rules():
    person = json.loads((SCHEMAS / "SubmitFiling.json").read_text())
    assert person["properties"]["persons"]["maxItems"] == 300
    assert "VNM" in person["$defs"]["Person"]["properties"]["nationality"]["enum"]
    register = json.loads((SCHEMAS / "RegisterAccount.json").read_text())
    auth_id = register["properties"]["auth_id"]
    assert (auth_id["minLength"], auth_id["maxLength"]) == (6, 20)
    validator = jsonschema.Draft202012Validator(register)
    good = examples.examples_of(contracts.auth.RegisterAccount)[0].payload
    for field, value in [("auth_id", "abc"), ("auth_id", "sample corp"), ("initial_password", "onlyletters")]:
        assert not validator.is_valid({**good, field: value}), (field, value)
    # the edge's rules: a line break only where the edge allows one, no string over its bound
    forged = {**good, "organisation": {**good["organisation"], "name": "株式会社サンプル\nBcc: x@example.com"}}
    assert not validator.is_valid(forged)
    assert not validator.is_valid({**good, "email": "a" * 257 + "@example.jp"})
    returned = examples.examples_of(contracts.filing.ReturnFiling)[0].payload
    assert jsonschema.Draft202012Validator(json.loads((SCHEMAS / "ReturnFiling.json").read_text())).is_valid(
        {**returned, "reasons": ["一行目\n二行目"]}
    )


def _resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(doc, node["$ref"]) if "$ref" in node else node
