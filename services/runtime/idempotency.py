"""Exactly once from the caller's side: a command that changes state carries an idempotency key
(`request_id`), and a repeat with the same key gets the first reply without a second change.

The ledger: one KV bucket per service (`<service>_requests`). A command's key is made from
(caller, command, request_id); its record moves `pending` → `done` by compare-and-set:

1. `begin`: create the record `pending` (with a lease and the payload's fingerprint). If it
   exists: another payload → `IdempotencyKeyReused`; `done` → the stored reply (or refusal);
   `pending` and leased → wait for that copy to finish, then answer with its reply; `pending` and
   the lease run out (its replica died) → take it over, marked `recovering`.
2. the use case runs. Values it must not draw twice (a reception number) are `reserve`d in the
   record before the change is written, so a retry reuses them.
3. `finish`: store the reply (or a definitive refusal) — the record is `done`.

A crash between the change and `finish` must not make the retry a second change. The change's
own write records the request's key (a mark, kept in the entity's entry next to its events, by
the stores that commit changes: `runtime/outbox.py`), and any later copy of the request that
reads that entity — or tries to create it again, with the values `reserve`d in the claim — gets
`AlreadyApplied` instead of the entity: the pipeline then answers from the entity as stored
(the service's replay of that command), finishes the claim, and changes nothing. So the claim
and the change agree whatever step a crash interrupts: no record → the command never ran;
`pending` → the entity says whether the change happened; `done` → the reply.

Records older than the retention (on the injected clock) count as absent, so a key can be used
again after it; the bucket's TTL removes them a day later.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nats.js.errors
from nats.js.kv import KeyValue
from pydantic import BaseModel

from contracts.common import ErrorCode
from services.runtime.clock import Clock
from services.runtime.errors import DomainError

PENDING, DONE = "pending", "done"
# Refusals that may be transient are not the command's answer: the claim is released instead.
TRANSIENT = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL})


class IdempotencyKeyReused(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    default_message = "同じ request_id で内容の異なる操作が送られました。新しい操作には新しい request_id を指定してください。"


class StoredRefusal(DomainError):
    """The refusal the first copy of a command got, answered again to a repeat."""


def request_key(service: str, caller: str, command: str, request_id: str) -> str:
    raw = "\x1f".join((service, caller, command, request_id)).encode()
    return hashlib.sha256(raw).hexdigest()[:48]


def fingerprint(command: BaseModel) -> str:
    """The payload, without what may differ between copies of one action (session, key)."""
    body = command.model_dump(mode="json", exclude={"session_token", "request_id"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class InFlight:
    """The keyed request a command is running for; the stores that commit changes record its key
    in the entity's own write (a mark) and refuse to let it change an entity twice."""

    key: str
    retention: timedelta


IN_FLIGHT: contextvars.ContextVar[InFlight | None] = contextvars.ContextVar("ens_request_in_flight", default=None)


class AlreadyApplied(Exception):
    """The entity read carries this request's mark: its change happened already (a copy of the
    command that died before storing its reply made it). The pipeline answers from `state`."""

    def __init__(self, key: str, state: dict[str, Any], version: int) -> None:
        super().__init__(key)
        self.key = key
        self.state = state
        self.version = version


MARKS_KEPT = 32  # per entity: more keyed changes of one entity than this within a day is not a caller retrying


def mark_requests(recorded: tuple[dict[str, Any], ...], now: datetime) -> list[dict[str, Any]]:
    """The marks a write keeps: the younger ones already there, plus the running request's."""
    flight = IN_FLIGHT.get()
    if flight is None and not recorded:
        return []
    kept = [m for m in recorded if now - datetime.fromisoformat(m["at"]) < (flight.retention if flight else timedelta(hours=24))]
    if flight is not None and not any(m["key"] == flight.key for m in kept):
        kept.append({"key": flight.key, "at": now.isoformat()})
    return kept[-MARKS_KEPT:]


def check_applied(recorded: tuple[dict[str, Any], ...], state: dict[str, Any], version: int, now: datetime) -> None:
    """Raise AlreadyApplied when this entity holds the running request's mark (within retention)."""
    flight = IN_FLIGHT.get()
    if flight is None:
        return
    for m in recorded:
        if m["key"] == flight.key and now - datetime.fromisoformat(m["at"]) < flight.retention:
            raise AlreadyApplied(flight.key, state, version)


@dataclass
class Claim:
    key: str
    revision: int
    doc: dict[str, Any]
    recovering: bool = False

    @property
    def reserved(self) -> dict[str, Any]:
        reserved: dict[str, Any] = self.doc.setdefault("reserved", {})
        return reserved


@dataclass(frozen=True)
class Replay:
    """The first copy's answer: a reply body, or a refusal envelope."""

    reply: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def refusal(self) -> StoredRefusal:
        assert self.error is not None
        err = self.error
        return StoredRefusal(
            err["message"], code=ErrorCode(err["code"]), fields=err.get("fields") or [], details=err.get("details") or {}
        )


@dataclass
class RequestLedger:
    kv: KeyValue
    clock: Clock
    retention: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(seconds=30)
    poll_s: float = 0.05
    owner: str = ""

    async def begin(self, key: str, print_: str) -> Claim | Replay:
        """Claim the key for this copy, or return the first copy's answer."""
        while True:
            now = self.clock.now()
            entry = await self._get(key)
            if entry is None or self._expired(entry[0], now):
                fresh: dict[str, Any] = {
                    "state": PENDING,
                    "fingerprint": print_,
                    "at": now.isoformat(),
                    "lease_until": (now + self.lease).isoformat(),
                    "owner": self.owner,
                }
                try:
                    if entry is None:
                        revision = await self.kv.create(key, _dump(fresh))
                    else:
                        revision = await self.kv.update(key, _dump(fresh), last=entry[1])
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue  # another copy claimed it first: look again
                return Claim(key, revision, fresh)
            doc, revision = entry
            if doc["fingerprint"] != print_:
                raise IdempotencyKeyReused()
            if doc["state"] == DONE:
                return Replay(reply=doc.get("reply"), error=doc.get("error"))
            if now < datetime.fromisoformat(doc["lease_until"]):
                await asyncio.sleep(self.poll_s)  # the first copy is running: its answer is ours
                continue
            taken = {**doc, "lease_until": (now + self.lease).isoformat(), "owner": self.owner}
            try:
                revision = await self.kv.update(key, _dump(taken), last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            return Claim(key, revision, taken, recovering=True)

    async def reserve(self, claim: Claim, name: str, value: Any) -> Any:
        """Keep `value` in the claim before the change uses it; a recovering copy gets the first one."""
        if name in claim.reserved:
            return claim.reserved[name]
        claim.reserved[name] = value
        claim.revision = await self.kv.update(claim.key, _dump(claim.doc), last=claim.revision)
        return value

    async def finish(self, claim: Claim, reply: dict[str, Any] | None = None, error: dict[str, Any] | None = None) -> None:
        done = {**claim.doc, "state": DONE, "reply": reply, "error": error}
        claim.revision = await self.kv.update(claim.key, _dump(done), last=claim.revision)

    async def release(self, claim: Claim) -> None:
        """The command failed in a way that is not its answer (unavailable, a bug): let a retry run it."""
        try:
            await self.kv.delete(claim.key, last=claim.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # taken over meanwhile; the taker decides

    def _expired(self, doc: dict[str, Any], now: datetime) -> bool:
        return now - datetime.fromisoformat(doc["at"]) >= self.retention

    async def _get(self, key: str) -> tuple[dict[str, Any], int] | None:
        try:
            raw = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        if raw.value is None or raw.revision is None or raw.operation in ("DEL", "PURGE"):
            return None
        return json.loads(raw.value), raw.revision


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()
