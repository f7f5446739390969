"""Delivery-status events as the ledger records them: the contract's shape, deterministic ids,
and each event published from exactly one revision while the bucket's history keeps it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from contracts.notifier import DeliveryStatus, MailStatus, MailStatusChanged, MailType
from services.notifier.adapters.ledger_kv import HISTORY, KvLedger, recorded
from services.notifier.domain.ledger import first_record, queued, result, status_change
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event

NOW = datetime(2027, 4, 1, 0, 0, tzinfo=UTC)


def a_record():
    return first_record(mails_for(sample_event(MailType.FILING_SUBMITTED))[0], NOW)


def test_a_status_event_as_recorded_is_a_valid_mail_status_changed_with_no_address_or_body():
    record = a_record().model_copy(update={"status": DeliveryStatus.SENT, "attempts": 1, "smtp_code": 250, "smtp_message": "ok"})
    _, (change,) = result(record, NOW)
    event = MailStatusChanged.model_validate(recorded(change, NOW)["data"])
    assert event.status is MailStatus.SENT and event.attempt == 1 and event.smtp_code == 250
    assert event.meta.event_id == f"notifier.mail.{record.mail_id}.sent.1" and event.meta.source == "notifier"
    assert event.reception_number == record.reception_number
    assert set(change.fields) == set(MailStatusChanged.model_fields) - {"meta"}


def test_the_same_change_always_has_the_same_event_id():
    record = a_record()
    assert queued(record).event_id == queued(record).event_id == f"notifier.mail.{record.mail_id}.queued.0"
    deferred = record.model_copy(update={"attempts": 2})
    assert status_change(deferred, MailStatus.DEFERRED, NOW).event_id.endswith(".deferred.2")


def test_a_result_adds_its_history_entry():
    record = a_record().model_copy(
        update={"status": DeliveryStatus.RETRYING, "attempts": 1, "smtp_code": 451, "smtp_message": "later"}
    )
    updated, _ = result(record, NOW)
    assert [(h.status, h.attempt, h.smtp_code) for h in updated.history] == [
        (MailStatus.QUEUED, 0, None),
        (MailStatus.DEFERRED, 1, 451),
    ]


def test_the_usual_mail_publishes_each_event_from_one_revision_only():
    ledger = KvLedger(None, None)  # type: ignore[arg-type]  # only the outbox rule is used
    record = a_record()
    first = ledger._outbox((), 1, NOW, [recorded(queued(record), NOW)])
    second = ledger._outbox((*first[1], *first[0]), 2, NOW, [recorded(queued(record), NOW) | {"id": "sent"}])
    assert [e["id"] for e in first[0]] == [queued(record).event_id]
    assert [e["id"] for e in second[0]] == ["sent"]  # queued is not published again...
    assert [e["id"] for e in second[1]] == [queued(record).event_id]  # ...but remembered


def test_an_event_rides_again_on_the_write_that_would_let_its_revision_be_dropped():
    ledger = KvLedger(None, None)  # type: ignore[arg-type]
    known = tuple(ledger._outbox((), 1, NOW, [recorded(queued(a_record()), NOW)])[0])
    published_at = [1]
    for writes in range(2, 3 * HISTORY):
        events, past = ledger._outbox(known, writes, NOW)
        if events:
            published_at.append(writes)
        known = (*past, *events)
    gaps = [b - a for a, b in itertools.pairwise(published_at)]
    assert gaps and max(gaps) <= HISTORY - 1  # always in one of the last HISTORY revisions


def test_an_event_older_than_half_the_duplicate_window_is_not_carried():
    ledger = KvLedger(None, None, keep_events_for=timedelta(minutes=30))  # type: ignore[arg-type]
    known = tuple(ledger._outbox((), 1, NOW, [recorded(queued(a_record()), NOW)])[0])
    events, past = ledger._outbox(known, HISTORY + 5, NOW + timedelta(hours=1))
    assert events == [] and past == []
