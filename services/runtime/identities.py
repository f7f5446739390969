"""Who may say what on the bus: one NATS identity per service and per kind of outside caller,
each allowed exactly what its role needs (docs/SECURITY.md has the table in prose).

Identities are NATS users authenticated by nkeys (an Ed25519 key pair: the server's
configuration holds only public keys; each process holds its own seed). The permissions are
NATS's own publish/subscribe allow lists, rendered into the server configuration by
`authorization_block`; nothing is checked by the suite on top of NATS.

Replies: every identity has its own inbox prefix (`_INBOX_<identity>.`), and may subscribe
only there, so no identity can read another's replies (session tokens travel in LoginResult).
Services answer requests through `allow_responses`: they may publish to a reply subject only
while answering a request they received.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from contracts import subjects

SERVICES: Final = subjects.SERVICES
OUTSIDE: Final = ("client", "events-reader", "operator", "admin")
# The bounce intake faces other mail servers (an SMTP listener the MTA relays bounces to), so it
# is its own identity that may say one thing: RecordBounce to the notifier.
INTAKE: Final = "bounces"
IDENTITIES: Final = (*SERVICES, INTAKE, *OUTSIDE)

# The buckets each service owns (a test compares them with what each service declares).
BUCKETS: Final[dict[str, tuple[str, ...]]] = {
    "auth": (
        "auth_accounts",
        "auth_orgs",
        "auth_sessions",
        "auth_notices",
        "auth_index",
        "auth_unknown_logins",
        "auth_requests",
    ),
    "filing": ("filing_filings", "filing_index", "filing_counters", "filing_requests"),
    "notifier": ("notifier_ledger", "notifier_mails", "notifier_flags", "notifier_requests"),
    "scheduler": ("scheduler_runs",),
}

# Commands of other services each service calls.
CALLS: Final[dict[str, tuple[str, ...]]] = {
    "auth": (),
    INTAKE: (f"{subjects.ROOT}.notifier.internal.record_bounce",),
    "filing": (
        f"{subjects.ROOT}.auth.introspect_session",
        f"{subjects.ROOT}.auth.internal.organisation_contact",  # where a filing's mails go (GetOrganisationContact)
    ),
    "notifier": (
        f"{subjects.ROOT}.auth.introspect_session",  # ResendMail is an officer's command
        f"{subjects.ROOT}.auth.internal.organisation_contact",  # a resent mail goes to the address registered now
    ),
    "scheduler": (
        f"{subjects.ROOT}.auth.system.>",
        f"{subjects.ROOT}.filing.system.>",
        f"{subjects.ROOT}.auth.status",
        f"{subjects.ROOT}.filing.status",
    ),
}


def inbox_prefix(identity: str) -> str:
    return "_INBOX_" + identity.replace("-", "_")


@dataclass(frozen=True)
class Grant:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


def _stream_declare(stream: str) -> list[str]:
    return [f"$JS.API.STREAM.{op}.{stream}" for op in ("CREATE", "UPDATE", "INFO")]


def _stream_consume(stream: str) -> list[str]:
    """Create, read, ack and delete consumers of one stream (pull, ordered and durable)."""
    api = "$JS.API.CONSUMER"
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"{api}.CREATE.{stream}",
        f"{api}.CREATE.{stream}.>",
        f"{api}.DURABLE.CREATE.{stream}.>",
        f"{api}.INFO.{stream}.>",
        f"{api}.MSG.NEXT.{stream}.>",
        f"{api}.DELETE.{stream}.>",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _bucket(bucket: str) -> list[str]:
    stream = f"KV_{bucket}"
    return [
        f"$KV.{bucket}.>",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.STREAM.PURGE.{stream}",
        *_stream_declare(stream),
        *_stream_consume(stream),
    ]


def service_api(identity: str) -> list[str]:
    """The NATS service API subjects (`$SRV.PING|INFO|STATS`, for all, for its kind, for one
    replica) a service answers, as `ens-<service>` (services/runtime/micro.py)."""
    return ["$SRV.PING", "$SRV.INFO", "$SRV.STATS", f"$SRV.*.ens-{identity}", f"$SRV.*.ens-{identity}.>"]


def public_commands() -> list[str]:
    """Every service's commands that are not `.system.`, and the status subjects."""
    return [f"{subjects.ROOT}.{service}.*" for service in SERVICES]


def grant(identity: str) -> Grant:
    inbox = f"{inbox_prefix(identity)}.>"
    if identity in SERVICES:
        publish = [
            f"{subjects.EVENTS_PREFIX}.{identity}.>",
            subjects.audit(identity),
            subjects.status(identity),  # start-up waits until its own subscriptions answer
            *_stream_declare(subjects.EVENTS_STREAM),
            *_stream_declare(subjects.AUDIT_STREAM),
            *(p for bucket in BUCKETS[identity] for p in _bucket(bucket)),
            *CALLS[identity],
        ]
        if identity in ("notifier", "auth"):  # auth follows the notifier's AddressBounced
            publish += _stream_consume(subjects.EVENTS_STREAM)
        return Grant(
            publish=tuple(publish),
            subscribe=(f"{subjects.ROOT}.{identity}.> {subjects.queue_group(identity)}", *service_api(identity), inbox),
            allow_responses=True,
        )
    if identity == INTAKE:
        return Grant(publish=CALLS[INTAKE], subscribe=(inbox,))
    if identity == "client":
        return Grant(publish=tuple(public_commands()), subscribe=(inbox,))
    if identity == "events-reader":
        return Grant(publish=tuple(_stream_consume(subjects.EVENTS_STREAM)), subscribe=(inbox,))
    if identity == "operator":
        system = [f"{subjects.ROOT}.{service}.system.>" for service in SERVICES]
        # `$SRV.>`: discovery (`nats micro ls/info/stats`), which shows endpoints and their counts:
        # the operator's, not an organisation's program's.
        return Grant(publish=(*public_commands(), *system, "$SRV.>"), subscribe=(inbox,))
    if identity == "admin":
        # Break-glass for an operator at the NATS level (stream inspection, repairs, tests that
        # read raw stores); no service or client program uses it.
        return Grant(publish=(">",), subscribe=(">",))
    raise ValueError(f"unknown identity {identity!r}; known: {', '.join(IDENTITIES)}")


def authorization_block(public_keys: dict[str, str]) -> str:
    """The nats-server `authorization` block: one nkey user per identity, with its grant.
    No `no_auth_user`: an anonymous connection is refused."""
    users = []
    for identity, key in public_keys.items():
        g = grant(identity)
        permissions: dict[str, object] = {
            "publish": {"allow": list(g.publish)},
            "subscribe": {"allow": list(g.subscribe)},
        }
        if g.allow_responses:
            permissions["allow_responses"] = True
        users.append(f"    # {identity}\n    {{ nkey: {json.dumps(key)}, permissions: {json.dumps(permissions)} }}")
    return "authorization {\n  users: [\n" + ",\n".join(users) + "\n  ]\n}\n"
