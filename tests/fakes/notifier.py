"""In-memory stand-ins for the notifier's ports (services/notifier/ports.py): the delivery
ledger and the mailer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.notifier import DeliveryRecord
from services.notifier.domain.ledger import Claim, ClaimOutcome, Lease, decide, first_record, lease_for
from services.notifier.domain.routing import MailRequest
from services.notifier.ports import SmtpAnswer


@dataclass
class MemoryLedger:
    """The Ledger port over a dict, applying the same claim rules as the KV ledger; revisions
    count like a KV entry's."""

    entries: dict[str, tuple[DeliveryRecord, Lease | None, int]] = field(default_factory=dict)

    async def claim(self, mail: MailRequest, *, now: datetime, owner: str, lease: timedelta) -> Claim:
        held = lease_for(owner, now, lease)
        if mail.mail_id not in self.entries:
            record = first_record(mail, now)
            self.entries[mail.mail_id] = (record, held, 1)
            return Claim(ClaimOutcome.NEW, record, 1)
        record, current, rev = self.entries[mail.mail_id]
        outcome = decide(record, current, now, owner)
        if outcome is ClaimOutcome.RESUMED:
            self.entries[mail.mail_id] = (record, held, rev + 1)
            return Claim(outcome, record, rev + 1)
        return Claim(outcome, record, rev, busy_until=current.until if current else None)

    async def record(self, mail: MailRequest, claim: Claim, record: DeliveryRecord) -> bool:
        _, _, rev = self.entries[mail.mail_id]
        if rev != claim.revision:
            return False
        self.entries[mail.mail_id] = (record, None, rev + 1)
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
