"""In-memory stand-ins for the notifier's ports (services/notifier/ports.py): the delivery
ledger and the mailer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts.notifier import DeliveryRecord
from services.notifier.domain.ledger import Claim, ClaimOutcome, Lease, StatusChange, decide, first_record, lease_for, queued
from services.notifier.domain.routing import MailRequest
from services.notifier.ports import LedgerEntry, SmtpAnswer


def _as_dict(change: StatusChange) -> dict[str, Any]:
    return {"id": change.event_id, "subject": change.subject, "data": change.fields}


@dataclass
class MemoryLedger:
    """The Ledger port over a dict, applying the same claim rules as the KV ledger; revisions
    count like a KV entry's."""

    entries: dict[str, tuple[DeliveryRecord, Lease | None, int]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # every status event recorded, in order

    async def claim(self, mail: MailRequest, *, now: datetime, owner: str, lease: timedelta, flagged: bool = False) -> Claim:
        held = lease_for(owner, now, lease)
        if mail.mail_id not in self.entries:
            record = first_record(mail, now, flagged=flagged)
            self.entries[mail.mail_id] = (record, held, 1)
            self.events.append(_as_dict(queued(record)))
            return Claim(ClaimOutcome.NEW, record, 1)
        record, current, rev = self.entries[mail.mail_id]
        outcome = decide(record, current, now, owner)
        if outcome is ClaimOutcome.RESUMED:
            self.entries[mail.mail_id] = (record, held, rev + 1)
            return Claim(outcome, record, rev + 1)
        return Claim(outcome, record, rev, busy_until=current.until if current else None)

    async def record(
        self,
        mail: MailRequest,
        claim: Claim,
        record: DeliveryRecord,
        changes: Sequence[StatusChange] = (),
    ) -> bool:
        _, _, rev = self.entries[mail.mail_id]
        if rev != claim.revision:
            return False
        self.entries[mail.mail_id] = (record, None, rev + 1)
        self.events.extend(_as_dict(c) for c in changes)
        return True

    async def find(self, mail_id: str) -> LedgerEntry | None:
        if mail_id not in self.entries:
            return None
        record, lease, rev = self.entries[mail_id]
        return LedgerEntry(mail_id, rev, record, (), lease)

    async def write(
        self,
        entry: LedgerEntry | None,
        record: DeliveryRecord,
        changes: Sequence[StatusChange],
        *,
        at: datetime,
    ) -> bool:
        if entry is None:
            if record.mail_id in self.entries:
                return False
            self.entries[record.mail_id] = (record, None, 1)
        else:
            _, lease, rev = self.entries[entry.key]
            if rev != entry.revision:
                return False
            self.entries[entry.key] = (record, lease, rev + 1)
        self.events.extend(_as_dict(c) for c in changes)
        return True

    async def query(
        self,
        *,
        auth_id: str | None = None,
        reception_number: str | None = None,
        recipient: str | None = None,
        mail_id: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        wanted = {"auth_id": auth_id, "reception_number": reception_number, "recipient": recipient, "mail_id": mail_id}
        found = [
            r
            for r, _, _ in self.entries.values()
            if all(value is None or getattr(r, name) == value for name, value in wanted.items())
        ]
        return sorted(found, key=lambda r: r.queued_at, reverse=True)[:limit]


@dataclass
class ScriptedMailer:
    """The Mailer port: raises the scripted failures in turn, then accepts every mail."""

    script: list[Exception] = field(default_factory=list)
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    attempts: int = 0

    async def send(self, sender: str, recipient: str, data: bytes) -> SmtpAnswer:
        self.attempts += 1
        if self.script:
            raise self.script.pop(0)
        self.sent.append((recipient, data))
        return SmtpAnswer(250, "2.0.0 OK")


@dataclass
class MemoryFlags:
    """The Flags port over a set."""

    flagged: set[str] = field(default_factory=set)

    def is_flagged(self, address: str) -> bool:
        return address.lower() in self.flagged

    async def flag(self, address: str) -> None:
        self.flagged.add(address.lower())

    async def clear(self, address: str) -> None:
        self.flagged.discard(address.lower())


@dataclass
class MemoryMails:
    """The MailStore port over a dict."""

    data: dict[str, bytes] = field(default_factory=dict)

    async def put(self, mail_id: str, data: bytes) -> None:
        self.data[mail_id] = data

    async def get(self, mail_id: str) -> bytes | None:
        return self.data.get(mail_id)
