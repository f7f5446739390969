"""The AsyncAPI 3.0 document of the whole suite, and one JSON Schema per message, made from the contracts.

Why our own generator and not FastStream's: FastStream documents what a broker subscribes to —
one receive operation per handler, with the handler's argument as payload. It cannot say what
the contract is about besides: the reply of a request (its result or the error envelope, as
alternatives), the error codes and which commands answer them, the event stream and the audit
stream, the `Nats-Msg-Id` header, which NATS identity may use which subject, and examples; it
writes `bindingVersion: "custom"` where the standard NATS binding (0.1.0, `queue`) exists, and a
`correlationId` pointing at a header nothing declares. Everything the document needs is already
code in `contracts/` — commands with SUBJECT and REPLY, events, `subjects.queue_group`, the error
tables (`contracts/errors.py`), the examples (`contracts/examples.py`) — and in the grants of
`services/runtime/identities.py`; so the document is made from those, with no broker built,
nothing connected, no settings read. A test checks that every contract command is mounted by
its service's `handlers.HANDLERS` table, so the document cannot promise a command no one answers.

Rules: a pydantic constraint (`max_length`, `ge`, ...) shows in the schema by itself. A rule a
service enforces with its own Japanese message (auth ID charset, password rules, the 300-person
limit) is stated in the schema through `json_schema_extra` on the field, which pydantic never
validates, so the service's refusal and message stay as they are. The edge's generic bounds
(services/runtime/limits.py: every string of a command at most 256 characters unless named)
and the nationality code list (services' data) are added here, where both sides are visible.
Every schema is a necessary condition: a request it refuses, the service refuses too; the rules
JSON Schema cannot say (a check digit, which filing kinds an organisation files, dates not in
the future) are in the field's description.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import contracts
from contracts import errors as contract_errors
from contracts import examples as contract_examples
from contracts import subjects
from contracts.common import AuditRecord, Command, ErrorCode, ErrorReply, Event, ServiceStatus, ServiceStatusRequest
from contracts.filing import Person
from services.filing.domain import nationalities
from services.runtime import identities, limits
from services.runtime.host import package_version

ASYNCAPI_VERSION: Final = "3.0.0"
NATS_BINDING_VERSION: Final = "0.1.0"
SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE: Final = "https://ens.example.jp/contracts/schemas/"
REF: Final = "#/components/schemas/"

# Identities whose grant is everything: named on an operation only when nobody else may use it.
BREAK_GLASS: Final = ("admin",)

# ---- messages ------------------------------------------------------------------------------


def commands() -> list[type[Command[Any]]]:
    return list(contracts.ALL_COMMANDS)


def events() -> list[type[Event]]:
    """Every service's domain events. The notifier's delivery-status events (issue 14, item 4)
    appear here as `contracts.notifier.EVENTS`, documented like any other event (channel
    `events.notifier.<name>`, stream ENS_EVENTS, Nats-Msg-Id): nothing special is needed."""
    return list(contracts.ALL_EVENTS)


def replies() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for command in commands():
        seen.setdefault(command.REPLY.__name__, command.REPLY)
    return list(seen.values())


def message_models() -> list[type[BaseModel]]:
    """Every model that travels on its own: commands, replies, events, the error envelope, the
    status request and reply, the audit record."""
    out: list[type[BaseModel]] = [*commands(), *replies(), ErrorReply, ServiceStatusRequest, ServiceStatus]
    out += [*events(), AuditRecord]
    names = [m.__name__ for m in out]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"two messages share a name: {sorted(duplicates)}")
    return out


def _first_sentence(text: str) -> str:
    line = " ".join(text.split())
    for stop in (". ", "。"):
        if stop in line:
            return line.split(stop, 1)[0] + stop.strip()
    return line


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _service_of(subject: str) -> str:
    return subject.split(".")[2]


def _channel_id(subject: str) -> str:
    """`ens.v1.auth.login` -> `auth.login`: the subject without its constant root."""
    return subject.removeprefix(subjects.ROOT + ".")


# ---- schemas -------------------------------------------------------------------------------


def _base_schemas(models: list[type[BaseModel]]) -> tuple[dict[str, str], dict[str, Any]]:
    """Pydantic's JSON Schemas of every model, flat under components/schemas, and each model's name there."""
    keys, top = models_json_schema([(m, "validation") for m in models], ref_template=REF + "{model}")
    names = {m.__name__: keys[(m, "validation")]["$ref"].removeprefix(REF) for m in models}
    return names, dict(top.get("$defs", {}))


def _refs(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            found.add(ref.removeprefix(REF))
        for value in schema.values():
            found |= _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _refs(value)
    return found


def _closure(schemas: dict[str, Any], roots: set[str]) -> set[str]:
    todo, seen = list(roots), set(roots)
    while todo:
        for ref in _refs(schemas[todo.pop()]) - seen:
            seen.add(ref)
            todo.append(ref)
    return seen


def _string_branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The plain-string schemas of a property (itself, its non-null alternative, its items)."""
    branches = [prop, *prop.get("anyOf", [])]
    branches += [b["items"] for b in list(branches) if isinstance(b.get("items"), dict)]
    return [b for b in branches if b.get("type") == "string" and "format" not in b and "enum" not in b]


# The characters the edge refuses (services/runtime/limits.py `_CONTROL_SINGLE_LINE`, `_CONTROL`),
# as regex escapes both ECMAScript and Python read; lone surrogates cannot be said in a pattern.
SINGLE_LINE: Final = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"
MULTILINE: Final = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"


def _int_branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    branches = [prop, *prop.get("anyOf", [])]
    branches += [b["items"] for b in list(branches) if isinstance(b.get("items"), dict)]
    return [b for b in branches if b.get("type") == "integer"]


def _edge_bounds(schema: dict[str, Any]) -> None:
    """The edge's rules for every field of a command (services/runtime/limits.py): strings at most
    MAX_STRING characters unless TEXT_FIELDS names them, no control characters (line breaks only
    in MULTILINE_FIELDS), integers within ±(2^53-1). A field's own pattern already excludes them."""
    for name, prop in schema.get("properties", {}).items():
        bound = limits.TEXT_FIELDS.get(name, limits.MAX_STRING)
        for branch in _string_branches(prop):
            if bound is not None:
                branch["maxLength"] = min(branch.get("maxLength", bound), bound)
            branch.setdefault("pattern", MULTILINE if name in limits.MULTILINE_FIELDS else SINGLE_LINE)
        for branch in _int_branches(prop):
            branch["minimum"] = max(branch.get("minimum", -limits.MAX_INT), -limits.MAX_INT)
            branch["maximum"] = min(branch.get("maximum", limits.MAX_INT), limits.MAX_INT)


def _error_codes(schema: dict[str, Any]) -> None:
    """ErrorCode with each code's meaning and the commands that can answer it."""
    answered: dict[ErrorCode, list[str]] = {code: [] for code in ErrorCode}
    for command in commands():
        for code in contract_errors.answers(command):
            answered[code].append(command.__name__)
    schema["description"] = (
        "Stable error code of the error envelope: clients branch on it, never on the message text. "
        f"Every command can answer {', '.join(f'`{c}`' for c in contract_errors.GENERIC)}; "
        "every command that takes a session, `unauthenticated`. Each alternative below says what a code means "
        "and which commands answer it (`x-ens-answered-by`)."
    )
    schema["oneOf"] = [
        {
            "const": code.value,
            "title": code.name,
            "description": contract_errors.MEANINGS[code],
            "x-ens-answered-by": answered[code],
        }
        for code in ErrorCode
    ]


def schemas() -> tuple[dict[str, str], dict[str, Any]]:
    """Every message's schema, flat (components/schemas), with the rules added that only the
    services know: the edge's bounds on command strings, the nationality codes, the error codes."""
    models = message_models()
    names, flat = _base_schemas(models)
    for name in sorted(_closure(flat, {names[c.__name__] for c in commands()})):
        _edge_bounds(flat[name])
    person = flat[Person.__name__]["properties"]["nationality"]
    person["enum"] = sorted(nationalities.by_code())
    _error_codes(flat[ErrorCode.__name__])
    return names, dict(sorted(flat.items()))


# ---- roles ---------------------------------------------------------------------------------


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def _who(allowed: Any) -> list[str]:
    roles = [i for i in identities.IDENTITIES if i not in BREAK_GLASS and allowed(identities.grant(i))]
    return roles or list(BREAK_GLASS)


def roles_to_send(subject: str) -> list[str]:
    """Identities whose NATS grant lets them publish `subject` (send the command)."""
    return _who(lambda g: any(_matches(p, subject) for p in g.publish))


def roles_to_read(stream: str) -> list[str]:
    """Identities whose NATS grant lets them create a consumer on `stream` (read its messages)."""
    return _who(lambda g: any(_matches(p, f"$JS.API.CONSUMER.CREATE.{stream}") for p in g.publish))


# ---- the document --------------------------------------------------------------------------

_TRACEPARENT = {
    "type": "string",
    "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
    "description": (
        "W3C trace context (`00-<trace id>-<span id>-01`). Optional: a command without one starts a trace; "
        "the events and mails it causes carry the same trace id, as do the services' log lines."
    ),
}

COMMAND_HEADERS: Final = {
    "type": "object",
    "description": "NATS headers a command may carry.",
    "properties": {"traceparent": _TRACEPARENT},
}

EVENT_HEADERS: Final = {
    "type": "object",
    "description": "NATS headers of every domain event in the stream.",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "minLength": 1,
            "description": (
                "JetStream message id: the event's `meta.event_id`, derived from the change that caused it. "
                "The stream drops a republish with the same id within its duplicate window, so each change's "
                "event is stored once; a consumer may also deduplicate on it."
            ),
        },
        "traceparent": _TRACEPARENT,
    },
    "required": ["Nats-Msg-Id"],
}


def _message(model: type[BaseModel], schema_name: str, *, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = _doc(model)
    msg: dict[str, Any] = {
        "name": model.__name__,
        "title": model.__name__,
        "summary": _first_sentence(doc),
        "description": doc,
        "contentType": "application/json",
        "payload": {"$ref": REF + schema_name},
    }
    if headers is not None:
        msg["headers"] = headers
    if issubclass(model, Event):
        msg["correlationId"] = {
            "description": "The event's deterministic id, also its Nats-Msg-Id header.",
            "location": "$message.payload#/meta/event_id",
        }
    msg["examples"] = [
        {
            "name": f"{model.__name__}-{i + 1}",
            "summary": example.summary,
            **({"headers": example.headers} if example.headers else {}),
            "payload": example.payload,
        }
        for i, example in enumerate(contract_examples.examples_of(model))
    ]
    return msg


def _security(roles: list[str]) -> list[dict[str, str]]:
    return [{"$ref": f"#/components/securitySchemes/{role}"} for role in roles]


def _security_schemes() -> dict[str, Any]:
    what = {
        "client": "portals and other programs acting for organisations and officers: the public commands",
        "operator": "operators, `ens` on an operator's machine, the web console: the public and `.system.` commands",
        "events-reader": "programs that follow domain events: a durable consumer on ENS_EVENTS, nothing else",
        "bounces": "the bounce intake (an SMTP listener other mail servers reach): RecordBounce to the notifier, nothing else",
        "admin": "break-glass (stream inspection, repairs): everything; no service or program of the suite uses it",
    }
    out = {}
    for identity in identities.IDENTITIES:
        role = what.get(identity, f"the {identity} service (every replica): its own commands, events, audit and buckets")
        out[identity] = {
            "type": "asymmetricEncryption",
            "description": (
                f"NATS nkey user `{identity}` — {role}. The client signs the server's nonce with its Ed25519 seed; "
                f"the server holds only the public key. Replies come to the identity's own inbox "
                f"`{identities.inbox_prefix(identity)}.>` (nats-py `inbox_prefix`). docs/SECURITY.md."
            ),
        }
    return out


def _command_operation(command: type[Command[Any]], channels: dict[str, Any], operations: dict[str, Any]) -> None:
    subject = command.SUBJECT
    service = _service_of(subject)
    cid = _channel_id(subject)
    reply = command.REPLY
    codes = contract_errors.answers(command)
    roles = roles_to_send(subject)
    channels[cid] = {
        "address": subject,
        "title": command.__name__,
        "description": f"Requests of {command.__name__}, answered by one replica of the {service} service.",
        "messages": {command.__name__: {"$ref": f"#/components/messages/{command.__name__}"}},
    }
    channels[f"{cid}.reply"] = {
        "address": None,
        "title": f"{command.__name__} reply",
        "description": (
            "The request's NATS reply subject (the caller's inbox, `_INBOX_<identity>.…`): "
            f"{reply.__name__} on success, else the error envelope."
        ),
        "messages": {
            reply.__name__: {"$ref": f"#/components/messages/{reply.__name__}"},
            "ErrorReply": {"$ref": "#/components/messages/ErrorReply"},
        },
    }
    if command.RETRY_SAFE:
        retry = "Read-only: safe to send again after a timeout."
    elif "request_id" in command.model_fields:
        retry = "Changes state: after a timeout, resend it with the same `request_id` to get the first reply."
    else:
        retry = "Not resent blindly after a timeout: it may have been done."
    operations[cid] = {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{cid}"},
        "title": command.__name__,
        "summary": _first_sentence(_doc(command)),
        "description": (
            f"{_doc(command)} Request/reply on core NATS, answered by the {service} service in queue group "
            f"`{subjects.queue_group(service)}`. Reply: {reply.__name__}, or ErrorReply with one of "
            f"{', '.join(f'`{c}`' for c in codes)}. {retry} May be sent by: {', '.join(roles)}."
        ),
        "tags": [{"name": service}],
        "security": _security(roles),
        "bindings": {"nats": {"bindingVersion": NATS_BINDING_VERSION, "queue": subjects.queue_group(service)}},
        "messages": [{"$ref": f"#/channels/{cid}/messages/{command.__name__}"}],
        "reply": {
            "channel": {"$ref": f"#/channels/{cid}.reply"},
            "messages": [
                {"$ref": f"#/channels/{cid}.reply/messages/{reply.__name__}"},
                {"$ref": f"#/channels/{cid}.reply/messages/ErrorReply"},
            ],
        },
        "x-ens-roles": roles,
        "x-ens-error-codes": [c.value for c in codes],
        "x-ens-retry-safe": command.RETRY_SAFE,
    }


def _status_operation(service: str, channels: dict[str, Any], operations: dict[str, Any]) -> None:
    subject = subjects.status(service)
    cid = _channel_id(subject)
    roles = roles_to_send(subject)
    channels[cid] = {
        "address": subject,
        "title": f"{service} status",
        "description": f"Is the {service} service up? Answered by any one replica.",
        "messages": {"ServiceStatusRequest": {"$ref": "#/components/messages/ServiceStatusRequest"}},
    }
    channels[f"{cid}.reply"] = {
        "address": None,
        "title": f"{service} status reply",
        "description": "The request's NATS reply subject (the caller's inbox).",
        "messages": {"ServiceStatus": {"$ref": "#/components/messages/ServiceStatus"}},
    }
    operations[cid] = {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{cid}"},
        "title": f"{service} status",
        "summary": f"Whether the {service} service is up, and which replica answered.",
        "description": (
            f"Any one replica of the {service} service answers (queue group `{subjects.queue_group(service)}`) "
            f"with its identity, version, start time, what it owns and its readiness. No answer within the "
            f"caller's timeout means the service is down (`ens status`). May be sent by: {', '.join(roles)}."
        ),
        "tags": [{"name": service}],
        "security": _security(roles),
        "bindings": {"nats": {"bindingVersion": NATS_BINDING_VERSION, "queue": subjects.queue_group(service)}},
        "messages": [{"$ref": f"#/channels/{cid}/messages/ServiceStatusRequest"}],
        "reply": {
            "channel": {"$ref": f"#/channels/{cid}.reply"},
            "messages": [{"$ref": f"#/channels/{cid}.reply/messages/ServiceStatus"}],
        },
        "x-ens-roles": roles,
    }


EVENTS_STREAM_INFO: Final = {
    "name": subjects.EVENTS_STREAM,
    "subjects": list(subjects.EVENTS_SUBJECTS),
    "description": (
        "JetStream stream of every domain event (file storage, duplicate window ENS_EVENTS_DUPLICATE_WINDOW_S, "
        "kept ENS_EVENTS_MAX_AGE_DAYS). Read it with a durable pull consumer (explicit ack) as `events-reader`; "
        "each event is stored once per change (Nats-Msg-Id)."
    ),
}

AUDIT_STREAM_INFO: Final = {
    "name": subjects.AUDIT_STREAM,
    "subjects": list(subjects.AUDIT_SUBJECTS),
    "description": (
        "JetStream stream of the audit trail: one AuditRecord per command, successes and refusals alike, "
        "deletes and purges denied, kept ENS_AUDIT_MAX_AGE_DAYS (3 years) up to ENS_AUDIT_MAX_BYTES."
    ),
}


def _event_operation(event: type[Event], channels: dict[str, Any], operations: dict[str, Any]) -> None:
    subject = event.SUBJECT
    service = _service_of(subject)
    cid = _channel_id(subject)
    roles = roles_to_read(subjects.EVENTS_STREAM)
    channels[cid] = {
        "address": subject,
        "title": event.__name__,
        "description": (
            f"{event.__name__} events of the {service} service, in the JetStream stream `{subjects.EVENTS_STREAM}` "
            f"({', '.join(subjects.EVENTS_SUBJECTS)})."
        ),
        "messages": {event.__name__: {"$ref": f"#/components/messages/{event.__name__}"}},
        "x-ens-stream": EVENTS_STREAM_INFO,
    }
    operations[cid] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{cid}"},
        "title": event.__name__,
        "summary": _first_sentence(_doc(event)),
        "description": (
            f"{_doc(event)} Published by the {service} service's outbox relay to the stream "
            f"`{subjects.EVENTS_STREAM}` once per change, with `Nats-Msg-Id` = `meta.event_id`. "
            f"May be read (a consumer on {subjects.EVENTS_STREAM}) by: {', '.join(roles)}."
        ),
        "tags": [{"name": service}],
        "security": _security(roles),
        "messages": [{"$ref": f"#/channels/{cid}/messages/{event.__name__}"}],
        "x-ens-roles": roles,
        "x-ens-stream": subjects.EVENTS_STREAM,
    }


def _audit_operation(service: str, channels: dict[str, Any], operations: dict[str, Any]) -> None:
    subject = subjects.audit(service)
    cid = _channel_id(subject)
    roles = roles_to_read(subjects.AUDIT_STREAM)
    channels[cid] = {
        "address": subject,
        "title": f"{service} audit",
        "description": f"The {service} service's audit records, in the stream `{subjects.AUDIT_STREAM}`.",
        "messages": {"AuditRecord": {"$ref": "#/components/messages/AuditRecord"}},
        "x-ens-stream": AUDIT_STREAM_INFO,
    }
    operations[cid] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{cid}"},
        "title": f"{service} audit",
        "summary": f"One AuditRecord per command the {service} service answered or refused.",
        "description": (
            f"Written by the {service} service's command pipeline for every command, successes and refusals alike "
            f"(a body refused at the edge too, with no actor). Never holds a password or a foreign national's "
            f"personal data. May be read by: {', '.join(roles)} (no program of the suite reads it)."
        ),
        "tags": [{"name": service}],
        "security": _security(roles),
        "messages": [{"$ref": f"#/channels/{cid}/messages/AuditRecord"}],
        "x-ens-roles": roles,
        "x-ens-stream": subjects.AUDIT_STREAM,
    }


INFO_DESCRIPTION: Final = f"""Commands and events of the 電子届出システム (ENS) notification suite: auth, filing, notifier, scheduler.

* **Commands** are request/reply on core NATS at `{subjects.ROOT}.<service>.<command>` (`.system.` for operators and the scheduler, `.internal.` between services), answered by one replica of the service's queue group `ens-<service>`. The reply is the command's reply model or the one error envelope `ErrorReply` ({{"error": {{"code", "message", "fields", "details"}}}}); each operation lists the error codes it can answer, and the `ErrorCode` schema says what each means. A client never waits forever: time out and, for read-only commands or with the same `request_id`, retry.
* **Limits at the edge** (every command): the body at most 64 KiB (submissions more), every string at most 256 characters unless its schema says otherwise, no control characters (line breaks only in remarks, reasons and notice bodies), integers within ±(2^53−1), nesting at most 12 deep.
* **Domain events** go to the JetStream stream `{subjects.EVENTS_STREAM}` (`{subjects.EVENTS_PREFIX}.<service>.<event>`) with a `Nats-Msg-Id` header equal to `meta.event_id`; the audit trail to `{subjects.AUDIT_STREAM}` (`{subjects.AUDIT_PREFIX}.<service>`).
* **Who may do what**: every connection is a NATS nkey user (security schemes); each operation's `x-ens-roles` lists the identities whose NATS permissions allow it (services/runtime/identities.py). Officer commands also need an officer's session token.
* Contracts evolve by adding optional fields only: ignore fields you do not know. One JSON Schema per message is in contracts/schemas/.
"""


def document() -> dict[str, Any]:
    names, flat = schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for command in sorted(commands(), key=lambda c: c.SUBJECT):
        _command_operation(command, channels, operations)
    for service in subjects.SERVICES:
        _status_operation(service, channels, operations)
    # Every service's events, the notifier's delivery-status events included (see `events`).
    for event in sorted(events(), key=lambda e: e.SUBJECT):
        _event_operation(event, channels, operations)
    for service in subjects.SERVICES:
        _audit_operation(service, channels, operations)
    messages = {}
    for model in message_models():
        headers = EVENT_HEADERS if issubclass(model, Event) else COMMAND_HEADERS if issubclass(model, Command) else None
        messages[model.__name__] = _message(model, names[model.__name__], headers=headers)
    all_roles = list(identities.IDENTITIES)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:jp:example:ens:suite",
        "info": {
            "title": "ENS notification suite",
            "version": package_version(),
            "description": INFO_DESCRIPTION,
            "tags": [{"name": s, "description": f"The {s} service: its commands, events and audit."} for s in subjects.SERVICES],
        },
        "defaultContentType": "application/json",
        "servers": {
            "development": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": (
                    "The embedded nats-server of `ens up` (ENS_NATS_URL); a deployment's cluster the same way "
                    "(tls:// with ENS_NATS_TLS_CA_FILE). Anonymous connections are refused."
                ),
                "security": _security(all_roles),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": flat,
            "messages": messages,
            "securitySchemes": _security_schemes(),
        },
    }


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def generate() -> str:
    """docs/asyncapi.json."""
    return _dump(document())


def message_schemas() -> dict[str, str]:
    """contracts/schemas/<Message>.json: each message's schema on its own (JSON Schema 2020-12,
    what it refers to under $defs), the same schemas as the document's."""
    names, flat = schemas()
    out = {}
    for model in message_models():
        root = names[model.__name__]
        defs = {n: flat[n] for n in sorted(_closure(flat, {root}) - {root})}
        text = json.dumps({**copy.deepcopy(flat[root]), **({"$defs": defs} if defs else {})}, ensure_ascii=False)
        schema = json.loads(text.replace(f'"{REF}', '"#/$defs/'))
        out[f"{model.__name__}.json"] = _dump(
            {"$schema": SCHEMA_DIALECT, "$id": f"{SCHEMA_ID_BASE}{model.__name__}.json", **schema}
        )
    return out
