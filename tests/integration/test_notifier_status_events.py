"""Delivery-status events: each change of a mail's state is published once to ENS_EVENTS, from the
outbox inside the mail's ledger entry (the same compare-and-set write that changes the state)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from contracts.notifier import DeliveryStatus, MailStatusChanged, MailType
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from tests.integration.test_notifier_delivery import publish, settled, unique
from tests.integration.test_notifier_delivery import smtp_env as smtp_env  # the fixture, shared
from tests.support import bus
from tests.support.suite import running

STATUS_SUBJECT = MailStatusChanged.SUBJECT


async def status_events(nc, *, at_least: int = 0, within: float = 30.0) -> list[dict]:
    """Every MailStatusChanged in ENS_EVENTS, once the stream holds `at_least` of them."""
    js = nc.jetstream()
    deadline = asyncio.get_running_loop().time() + within
    while True:
        info = await js.stream_info("ENS_EVENTS", subjects_filter=STATUS_SUBJECT)
        total = (info.state.subjects or {}).get(STATUS_SUBJECT, 0)
        if total >= at_least or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    if total == 0:
        return []
    sub = await js.subscribe(STATUS_SUBJECT, ordered_consumer=True)
    out = []
    for _ in range(total):
        msg = await sub.next_msg(timeout=5)
        out.append({"msg_id": (msg.headers or {}).get("Nats-Msg-Id"), **json.loads(msg.data)})
    await sub.unsubscribe()
    return out


async def test_a_hundred_filings_give_exactly_one_sent_event_per_mail_also_when_each_event_comes_twice(
    nats_url, nc, client, smtp_env, clock
):
    events = [unique(sample_event(MailType.FILING_SUBMITTED)) for _ in range(100)]
    mail_ids = {mails_for(e)[0].mail_id for e in events}
    filing = await bus.connect_as(nats_url, "filing")
    try:
        async with running(["notifier"], nats_url, clock=clock):
            for event in events:
                await publish(filing, event)
            await smtp_env.wait_for(100)
            first = await status_events(nc, at_least=200)
            # The same events delivered a second time (a copy the stream's duplicate window does not drop).
            for event in events:
                await publish(filing, event, msg_id=f"{event.meta.event_id}-again")
            deadline = asyncio.get_running_loop().time() + 30
            while (await nc.jetstream().consumer_info("ENS_EVENTS", "notifier")).num_ack_pending or (
                await nc.jetstream().consumer_info("ENS_EVENTS", "notifier")
            ).num_pending:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            record = await settled(client, mails_for(events[0])[0].mail_id, DeliveryStatus.SENT)
            await asyncio.sleep(0.5)  # let the relay publish anything it would (there must be nothing)
            after = await status_events(nc)
    finally:
        await filing.close()
    assert len(smtp_env.mails) == 100
    sent = Counter(e["mail_id"] for e in after if e["status"] == "sent")
    queued = Counter(e["mail_id"] for e in after if e["status"] == "queued")
    assert set(sent) == mail_ids and set(sent.values()) == {1}
    assert set(queued) == mail_ids and set(queued.values()) == {1}
    assert len(after) == len(first) == 200
    one = next(e for e in after if e["mail_id"] == record.mail_id and e["status"] == "sent")
    assert one["msg_id"] == one["meta"]["event_id"] == f"notifier.mail.{record.mail_id}.sent.1"
    assert one["meta"]["source"] == "notifier" and one["attempt"] == 1 and one["smtp_code"] == 250
    assert one["reception_number"] == record.reception_number and one["mail_type"] == "filing_submitted"
    assert "recipient" not in one and "subject" not in one  # no address, no body: ids, type, state, the answer
    assert [h.status.value for h in record.history] == ["queued", "sent"]


async def test_a_retried_mail_publishes_queued_deferred_then_sent_and_a_refused_one_failed(nats_url, nc, client, smtp_env, clock):
    smtp_env.script = ["451 4.3.0 try again later"]
    retried = unique(sample_event(MailType.PASSWORD_CHANGED))
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, retried)
        mail = mails_for(retried)[0]
        await settled(client, mail.mail_id, DeliveryStatus.SENT)
        smtp_env.script = ["550 5.1.1 no such user"]
        refused = unique(sample_event(MailType.FILING_WITHDRAWN))
        await publish(nc, refused)
        failed = mails_for(refused)[0]
        await settled(client, failed.mail_id, DeliveryStatus.FAILED)
        got = await status_events(nc, at_least=5)
    mine = [(e["status"], e["attempt"], e["smtp_code"]) for e in got if e["mail_id"] == mail.mail_id]
    assert mine == [("queued", 0, None), ("deferred", 1, 451), ("sent", 2, 250)]
    deferred = next(e for e in got if e["mail_id"] == mail.mail_id and e["status"] == "deferred")
    assert "try again later" in deferred["smtp_message"]
    assert [(e["status"], e["smtp_code"]) for e in got if e["mail_id"] == failed.mail_id] == [("queued", None), ("failed", 550)]
