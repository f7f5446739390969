"""The delivery ledger: one record per mail, claimed before sending, so a mail goes out once.

A record is keyed by (event id, mail type, recipient) (its mail id). Whoever creates it owns
the first attempt; a redelivered or duplicated event finds it and either stops (sent, failed),
waits (another replica holds a live claim) or takes over an expired claim (its holder died).
The record is also the delivery log the helpdesk reads. Pure: the rules any ledger store
(ports.Ledger) applies.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from contracts.notifier import (
    AddressBounced,
    DeliveryRecord,
    DeliveryStatus,
    MailResendRequested,
    MailStatus,
    MailStatusChanged,
    StatusNote,
)
from services.notifier.domain.routing import MailRequest
from services.runtime.outbox import EventDraft, draft

FINAL = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)

# What a delivery result is, as a delivery-status event says it.
RESULT_STATUS: dict[DeliveryStatus, MailStatus] = {
    DeliveryStatus.SENT: MailStatus.SENT,
    DeliveryStatus.RETRYING: MailStatus.DEFERRED,
    DeliveryStatus.FAILED: MailStatus.FAILED,
    DeliveryStatus.BOUNCED: MailStatus.BOUNCED,
}


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
    # The entry's recorded events (the outbox inside it), as read.
    events: tuple[dict[str, object], ...] = ()
    writes: int = 0  # the entry's write counter (which revision an event was recorded in)


@dataclass(frozen=True)
class Lease:
    owner: str
    until: datetime


def first_record(mail: MailRequest, now: datetime, *, flagged: bool = False) -> DeliveryRecord:
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
        address_flagged=flagged,
        history=[StatusNote(status=MailStatus.QUEUED, at=now, attempt=0)],
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


def status_event_id(mail_id: str, status: MailStatus, tag: int | str) -> str:
    """Deterministic: one id per change of one mail (the attempt, or the new mail's id for
    `resent`), so a replayed write or relay publishes it once (Nats-Msg-Id)."""
    return f"notifier.mail.{mail_id}.{status.value}.{tag}"


@dataclass(frozen=True)
class StatusChange:
    """An event a change of a mail causes, as the outbox records it: its fixed id, its subject
    and its fields (JSON-ready, without `meta`, which the ledger adds when it writes)."""

    event_id: str
    subject: str
    fields: dict[str, Any]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def status_change(
    record: DeliveryRecord,
    status: MailStatus,
    at: datetime,
    *,
    smtp_code: int | None = None,
    smtp_message: str | None = None,
    resent_as: str | None = None,
    tag: int | str | None = None,
) -> StatusChange:
    """MailStatusChanged for `record`: ids, type, account and filing, the state and the server's
    answer; never the body, the recipient or anything of the foreign nationals a filing names.

    Written as a dict, not through the model: this runs twice per mail on the hot path, and a
    unit test holds the dict to the contract (tests/unit/test_notifier_status_event_rules.py)."""
    fields = {
        "mail_id": record.mail_id,
        "mail_type": record.mail_type.value,
        "auth_id": record.auth_id,
        "reception_number": record.reception_number,
        "status": status.value,
        "attempt": record.attempts,
        "smtp_code": smtp_code,
        "smtp_message": smtp_message[:500] if smtp_message else smtp_message,
        "at": _iso(at),
        "resent_from": record.resent_from,
        "resent_as": resent_as,
    }
    eid = status_event_id(record.mail_id, status, record.attempts if tag is None else tag)
    return StatusChange(eid, MailStatusChanged.SUBJECT, fields)


def _drafted(event_id: str, made: EventDraft) -> StatusChange:
    return StatusChange(event_id, made.kind.SUBJECT, made.event.model_dump(mode="json", exclude={"meta"}))


def queued(record: DeliveryRecord) -> StatusChange:
    return status_change(record, MailStatus.QUEUED, record.queued_at)


def result(record: DeliveryRecord, at: datetime) -> tuple[DeliveryRecord, list[StatusChange]]:
    """The record of an attempt's result with its history note, and the event it causes."""
    status = RESULT_STATUS[record.status]
    note = StatusNote(status=status, at=at, attempt=record.attempts, smtp_code=record.smtp_code, smtp_message=record.smtp_message)
    change = status_change(record, status, at, smtp_code=record.smtp_code, smtp_message=record.smtp_message)
    return record.model_copy(update={"history": [*record.history, note]}), [change]


def address_bounced(record: DeliveryRecord, at: datetime) -> StatusChange:
    event = draft(
        AddressBounced,
        mail_id=record.mail_id,
        mail_type=record.mail_type,
        auth_id=record.auth_id,
        recipient=record.recipient,
        status_code=record.bounce_status_code,
        diagnostic=record.bounce_diagnostic,
        reporting_mta=record.bounce_reporting_mta,
        bounced_at=at,
    )
    return _drafted(f"notifier.mail.{record.mail_id}.address_bounced.{record.attempts}", event)


@dataclass(frozen=True)
class BounceReport:
    hard: bool
    status_code: str | None
    diagnostic: str | None
    reporting_mta: str | None


BOUNCEABLE = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.RETRYING, DeliveryStatus.QUEUED)


def bounce(record: DeliveryRecord, report: BounceReport, at: datetime) -> tuple[DeliveryRecord, list[StatusChange]] | None:
    """What a bounce report does to a mail's record; None when it changes nothing.

    Hard: the mail becomes `bounced` (from sent, failed, retrying), with the report's details and
    a history entry, and causes MailStatusChanged(bounced) and AddressBounced; a second hard
    bounce changes nothing. Soft: a history note only (`deferred`, note `soft bounce`): the mail
    may still arrive, so its state and the portals' view stay as they are."""
    note = StatusNote(
        status=MailStatus.BOUNCED if report.hard else MailStatus.DEFERRED,
        at=at,
        attempt=record.attempts,
        smtp_message=report.diagnostic[:500] if report.diagnostic else None,
        status_code=report.status_code,
        reporting_mta=report.reporting_mta,
        note=None if report.hard else "soft bounce",
    )
    if not report.hard:
        if len(record.history) >= MAX_HISTORY:
            return None  # a mailbox that keeps reporting delays must not grow the record without bound
        return record.model_copy(update={"history": [*record.history, note]}), []
    if record.status not in BOUNCEABLE:
        return None
    bounced = record.model_copy(
        update={
            "status": DeliveryStatus.BOUNCED,
            "next_attempt_at": None,
            "bounce_status_code": report.status_code,
            "bounce_diagnostic": report.diagnostic,
            "bounce_reporting_mta": report.reporting_mta,
            "bounced_at": at,
            "history": [*record.history, note],
        }
    )
    changed = status_change(bounced, MailStatus.BOUNCED, at, smtp_message=note.smtp_message)
    return bounced, [changed, address_bounced(bounced, at)]


MAX_HISTORY = 64
RESENDABLE = (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED, DeliveryStatus.SENT)


def resend_id(original: str, request: str) -> str:
    """The new mail's id: from the original's and the request's, so a repeat finds the same mail."""
    return hashlib.sha256(f"resend\x00{original}\x00{request}".encode()).hexdigest()[:32]


def resent_original(record: DeliveryRecord, new_id: str, reason: str, at: datetime) -> tuple[DeliveryRecord, list[StatusChange]]:
    note = StatusNote(status=MailStatus.RESENT, at=at, attempt=record.attempts, note=reason)
    updated = record.model_copy(update={"resent_as": new_id, "history": [*record.history, note]})
    return updated, [status_change(updated, MailStatus.RESENT, at, resent_as=new_id, tag=new_id)]


def resent_copy(
    original: DeliveryRecord,
    *,
    new_id: str,
    recipient: str,
    message_id: str,
    reason: str,
    at: datetime,
    flagged: bool,
) -> tuple[DeliveryRecord, list[StatusChange]]:
    """The new mail's first record: queued, linked to the original, same type, subject and template."""
    record = DeliveryRecord(
        mail_id=new_id,
        event_id=status_event_id(new_id, MailStatus.QUEUED, 0),
        mail_type=original.mail_type,
        recipient=recipient,
        subject=original.subject,
        status=DeliveryStatus.QUEUED,
        attempts=0,
        queued_at=at,
        message_id=message_id,
        auth_id=original.auth_id,
        reception_number=original.reception_number,
        template_version=original.template_version,
        resent_from=original.mail_id,
        address_flagged=flagged,
        history=[StatusNote(status=MailStatus.QUEUED, at=at, attempt=0, note=reason)],
    )
    request = draft(
        MailResendRequested,
        mail_id=new_id,
        resent_from=original.mail_id,
        mail_type=original.mail_type,
        auth_id=original.auth_id,
        reception_number=original.reception_number,
        recipient=recipient,
    )
    return record, [queued(record), _drafted(f"notifier.mail.{new_id}.resend_requested.0", request)]
