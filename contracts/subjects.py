"""Streams, buckets-independent names and subject prefixes shared by every service.

Each command and event class carries its own SUBJECT (defined once, next to its model);
this module holds what is shared: the version, the prefixes, the streams, the status
subjects. Subjects are versioned (`ens.v1...`). Commands under `.system.` are meant for
the scheduler and operators only; restrict them with NATS permissions in production.
"""

from __future__ import annotations

from typing import Final

VERSION: Final = "v1"
ROOT: Final = f"ens.{VERSION}"

SERVICES: Final = ("auth", "filing", "notifier", "scheduler")

# Domain events: one JetStream stream for all of them, file storage, duplicate window.
EVENTS_STREAM: Final = "ENS_EVENTS"
EVENTS_PREFIX: Final = f"{ROOT}.events"
EVENTS_SUBJECTS: Final = (f"{EVENTS_PREFIX}.>",)

# Audit trail: its own stream, deletes and purges denied.
AUDIT_STREAM: Final = "ENS_AUDIT"
AUDIT_PREFIX: Final = f"{ROOT}.audit"
AUDIT_SUBJECTS: Final = (f"{AUDIT_PREFIX}.>",)


def command(service: str, name: str) -> str:
    """Subject of a user- or officer-facing command of `service`."""
    return f"{ROOT}.{service}.{name}"


def system_command(service: str, name: str) -> str:
    """Subject of a command for the scheduler and operators only."""
    return f"{ROOT}.{service}.system.{name}"


def service_command(service: str, name: str) -> str:
    """Subject of a command one service calls on another (never a client or operator): one token
    deeper than `command`, so the outside roles' `ens.v1.<service>.*` grants do not reach it,
    and only the callers `services.runtime.identities.CALLS` names may publish it."""
    return f"{ROOT}.{service}.internal.{name}"


def event(service: str, name: str) -> str:
    return f"{EVENTS_PREFIX}.{service}.{name}"


def event_owner(subject: str) -> str | None:
    """The service an event subject belongs to (`ens.v1.events.<service>.<name>`), or None."""
    prefix = f"{EVENTS_PREFIX}."
    if not subject.startswith(prefix):
        return None
    owner, _, name = subject[len(prefix) :].partition(".")
    return owner if owner and name else None


def audit(service: str) -> str:
    return f"{AUDIT_PREFIX}.{service}"


def status(service: str) -> str:
    return f"{ROOT}.{service}.status"


def queue_group(service: str) -> str:
    """Queue group of a service's command subscribers: replicas share the load."""
    return f"ens-{service}"
