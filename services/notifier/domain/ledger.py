"""The delivery ledger: one record per mail, claimed before sending, so a mail goes out once.

A record is keyed by (event id, mail type, recipient) (its mail id). Whoever creates it owns
the first attempt; a redelivered or duplicated event finds it and either stops (sent, failed),
waits (another replica holds a live claim) or takes over an expired claim (its holder died).
The record is also the delivery log the helpdesk reads. Pure: the rules any ledger store
(ports.Ledger) applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.notifier import DeliveryRecord, DeliveryStatus
from services.notifier.domain.routing import MailRequest

FINAL = (DeliveryStatus.SENT, DeliveryStatus.FAILED)


class ClaimOutcome(StrEnum):
    NEW = "new"  # first time this mail is seen: send it
    RESUMED = "resumed"  # queued/retrying and nobody holds it: send it (again)
    DONE = "done"  # sent or failed already: a duplicate, send nothing
    BUSY = "busy"  # another worker holds a live claim: come back after it expires


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    record: DeliveryRecord
    revision: int  # of the ledger entry, for the compare-and-set that records the result
    busy_until: datetime | None = None


@dataclass(frozen=True)
class Lease:
    owner: str
    until: datetime


def first_record(mail: MailRequest, now: datetime) -> DeliveryRecord:
    return DeliveryRecord(
        mail_id=mail.mail_id,
        event_id=mail.event_id,
        mail_type=mail.mail_type,
        recipient=mail.recipient,
        status=DeliveryStatus.QUEUED,
        attempts=0,
        queued_at=now,
        auth_id=mail.auth_id,
        reception_number=mail.reception_number,
    )


def decide(record: DeliveryRecord, lease: Lease | None, now: datetime, owner: str) -> ClaimOutcome:
    """What a worker may do with a mail that is already in the ledger."""
    if record.status in FINAL:
        return ClaimOutcome.DONE
    if lease is not None and lease.owner != owner and lease.until > now:
        return ClaimOutcome.BUSY
    return ClaimOutcome.RESUMED


def lease_for(owner: str, now: datetime, length: timedelta) -> Lease:
    return Lease(owner=owner, until=now + length)
