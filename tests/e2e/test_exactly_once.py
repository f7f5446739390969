"""Exactly once from the caller's side (idempotency keys), on a real nats-server and SMTP sink:
a retried command whose first reply was lost makes one change, one event and one mail; the same
key with another payload is refused; ten copies at once make one change; the key is new again
after the retention period; and a done change is answered as done even when its audit record
cannot be written."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts import auth as a
from contracts import subjects
from contracts.client import CommandRefused
from contracts.common import ErrorCode
from services.runtime.clock import FakeClock
from tests.support.story import ORG, officer_and_active_account
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
NEXT_DAY = datetime(2027, 4, 2, 0, 0, tzinfo=UTC)  # 09:00 JST


@pytest.fixture(autouse=True)
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    return mail_sink


async def reissue_events(nc) -> int:
    info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM, subjects_filter=a.AuthIdReissued.SUBJECT)
    return int((info.state.subjects or {}).get(a.AuthIdReissued.SUBJECT, 0))


async def settled(nc, mail_sink, mails: int) -> None:
    js = nc.jetstream()
    for _ in range(400):
        info = await js.consumer_info(subjects.EVENTS_STREAM, "notifier")
        if info.num_pending == 0 and info.num_ack_pending == 0 and len(mail_sink.mails) >= mails:
            return
        await asyncio.sleep(0.05)


def _is_reissue(mail) -> bool:
    from email.header import decode_header, make_header

    return "再通知" in str(make_header(decode_header(mail.parsed()["Subject"])))


async def test_a_retry_after_a_lost_reply_makes_one_change_one_event_and_one_mail(nats_url, nc, client, mail_sink):
    clock = FakeClock(START)
    async with running(["auth", "notifier"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        cmd = a.ReissueAuthId(session_token=officer, organisation_id=ORG.organisation_id, request_id="reissue-0000000001")
        # The first copy's reply goes to an inbox nobody reads: the caller never learns it ran.
        await nc.publish(cmd.SUBJECT, cmd.model_dump_json().encode(), reply="_INBOX.nobody.listens")
        await nc.flush()
        second = await client.call(cmd)  # the retry, same key
        third = await client.call(cmd)
        assert second == third
        await settled(nc, mail_sink, 2)
        assert await reissue_events(nc) == 1
    assert sum(1 for m in mail_sink.mails if _is_reissue(m)) == 1


async def test_the_same_key_with_another_payload_is_refused(nats_url, nc, client):
    clock = FakeClock(START)
    async with running(["auth"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        await client.call(
            a.ReissueAuthId(session_token=officer, organisation_id=ORG.organisation_id, request_id="key-00000000002")
        )
        with pytest.raises(CommandRefused) as reused:
            await client.call(
                a.ReissueAuthId(session_token=officer, organisation_id="1234567890123", request_id="key-00000000002")
            )
        assert reused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
        assert await reissue_events(nc) == 1


async def test_ten_copies_at_once_make_one_change(nats_url, nc, client, mail_sink):
    clock = FakeClock(START)
    async with running(["auth", "notifier"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        cmd = a.ReissueAuthId(session_token=officer, organisation_id=ORG.organisation_id, request_id="ten-copies-000003")
        replies = await asyncio.gather(*(client.call(cmd) for _ in range(10)))
        assert all(r == replies[0] for r in replies)
        await settled(nc, mail_sink, 2)
        assert await reissue_events(nc) == 1
    assert sum(1 for m in mail_sink.mails if _is_reissue(m)) == 1


async def test_a_key_used_again_after_the_retention_period_is_a_new_command(nats_url, nc, client):
    clock = FakeClock(START)
    async with running(["auth"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        cmd = a.ReissueAuthId(session_token=officer, organisation_id=ORG.organisation_id, request_id="retained-0000004")
        await client.call(cmd)
        await client.call(cmd)
        assert await reissue_events(nc) == 1
        clock.advance(timedelta(hours=24))
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        await client.call(cmd.model_copy(update={"session_token": officer}))
        for _ in range(100):
            if await reissue_events(nc) == 2:
                break
            await asyncio.sleep(0.05)
        assert await reissue_events(nc) == 2


async def test_a_done_change_is_answered_as_done_when_its_audit_record_cannot_be_written(nats_url, nc, client):
    clock = FakeClock(START)
    async with running(["auth"], nats_url, clock=clock):
        officer = await officer_and_active_account(client, clock)
        await nc.jetstream().delete_stream(subjects.AUDIT_STREAM)  # the audit write now fails: no stream
        reply = await client.call(a.ReissueAuthId(session_token=officer, organisation_id=ORG.organisation_id))
        assert reply.ok
        for _ in range(100):
            if await reissue_events(nc) == 1:
                break
            await asyncio.sleep(0.05)
        assert await reissue_events(nc) == 1  # the change happened, and the reply said so
    assert json.dumps(reply.model_dump()) == '{"ok": true}'
