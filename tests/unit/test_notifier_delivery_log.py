"""The helpdesk's delivery-log query over the in-memory ledger: at least one filter, newest
first, and an audit trail that says who asked what and how much they saw."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.common import ErrorCode
from contracts.notifier import MailType, QueryDeliveryLog
from services.notifier.delivery_log import query
from services.notifier.domain.routing import mails_for
from services.notifier.ports import NotifierDeps
from services.notifier.samples import sample_event
from services.runtime.clock import FakeClock
from services.runtime.errors import DomainError
from services.runtime.pipeline import CommandContext, Principal
from tests.fakes.notifier import MemoryLedger


def context(ledger: MemoryLedger) -> CommandContext[NotifierDeps, Principal]:
    return CommandContext(NotifierDeps(ledger=ledger), None, None, "QueryDeliveryLog")


async def test_a_query_without_any_filter_is_refused_naming_every_filter():
    ctx = context(MemoryLedger())
    with pytest.raises(DomainError) as err:
        await query(QueryDeliveryLog(), ctx)
    assert err.value.code == ErrorCode.VALIDATION
    assert [f.field for f in err.value.fields] == ["auth_id", "reception_number", "recipient", "mail_id"]
    assert (ctx.trail.actor, ctx.trail.target, ctx.trail.details) == ("operator", None, {})


async def test_a_query_by_reception_number_lists_its_mails_newest_first_and_the_trail_counts_them():
    ledger, clock = MemoryLedger(), FakeClock()
    for mail_type in (MailType.FILING_SUBMITTED, MailType.FILING_CHANGED):
        (mail,) = mails_for(sample_event(mail_type))
        await ledger.claim(mail, now=clock.now(), owner="w", lease=timedelta(seconds=90))
        clock.advance(minutes=1)
    number = mail.reception_number
    assert number is not None
    ctx = context(ledger)
    log = await query(QueryDeliveryLog(reception_number=number), ctx)
    assert [r.mail_type for r in log.records] == [MailType.FILING_CHANGED, MailType.FILING_SUBMITTED]
    assert (ctx.trail.actor, ctx.trail.target) == ("operator", number)
    assert ctx.trail.details == {"filters": {"reception_number": number}, "records": 2}
