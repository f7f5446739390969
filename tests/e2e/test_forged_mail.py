"""The forged-mail attack, tried as an outsider would: a hand-written AuthIdReissued event with a
phishing line as the organisation's name, published with `client` and `events-reader`
credentials and with none. NATS refuses every publish, nothing reaches ENS_EVENTS, and no mail is
sent; a genuine event sent afterwards is mailed, so the silence is not a stalled notifier. An
event that claims another service as its source is not mailed either (defence in depth)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import nats
import nats.errors
import pytest

from contracts import auth as a
from contracts import subjects
from contracts.common import EventMeta
from contracts.organisations import OrganisationKind
from services.runtime.nats import connect_as
from services.runtime.settings import RuntimeSettings
from tests.support.suite import running

PHISHING = "至急：パスワード再設定 http://evil.example/login"


def reissue(event_id: str, email: str, name: str, source: str = "auth") -> a.AuthIdReissued:
    return a.AuthIdReissued(
        meta=EventMeta(event_id=event_id, occurred_at=datetime(2027, 4, 1, tzinfo=UTC), source=source),
        auth_id="victim-01",
        organisation=a.Organisation(organisation_id="1234567890123", kind=OrganisationKind.ACCEPTING_ORGANISATION, name=name),
        email=email,
    )


@pytest.fixture(autouse=True)
def smtp_env(monkeypatch, mail_sink):
    monkeypatch.setenv("ENS_SMTP_HOST", mail_sink.host)
    monkeypatch.setenv("ENS_SMTP_PORT", str(mail_sink.port))
    return mail_sink


async def events_in_stream(nc) -> int:
    return int((await nc.jetstream().stream_info(subjects.EVENTS_STREAM)).state.messages)


async def try_to_forge(url: str, identity: str | None) -> None:
    forged = reissue(f"forged-{identity}", "attacker-chosen@example.jp", PHISHING)
    if identity is None:

        async def quiet(_: Exception) -> None:
            pass

        with pytest.raises(nats.errors.Error):
            await nats.connect(url, allow_reconnect=False, connect_timeout=2, error_cb=quiet)
        return
    nc = await connect_as(RuntimeSettings(nats_url=url), identity)
    try:
        with pytest.raises((TimeoutError, nats.errors.Error)):
            await nc.jetstream(timeout=1).publish(forged.SUBJECT, forged.model_dump_json().encode())
        await nc.publish(forged.SUBJECT, forged.model_dump_json().encode())
        await nc.flush(timeout=2)
    finally:
        await nc.close()


async def test_no_outsider_can_make_the_notifier_send_an_official_mail(nats_url, nc, mail_sink):
    async with running(["auth", "notifier"], nats_url):
        before = await events_in_stream(nc)
        for identity in ("client", "events-reader", "operator", None):
            await try_to_forge(nats_url, identity)
        assert await events_in_stream(nc) == before

        # A service whose identity is someone else's cannot speak for auth either: filing's
        # credentials may publish only under ens.v1.events.filing.
        filing = await connect_as(RuntimeSettings(nats_url=nats_url), "filing")
        try:
            wrong = reissue("forged-by-filing", "attacker-chosen@example.jp", PHISHING)
            with pytest.raises((TimeoutError, nats.errors.Error)):
                await filing.jetstream(timeout=1).publish(wrong.SUBJECT, wrong.model_dump_json().encode())
        finally:
            await filing.close()
        assert await events_in_stream(nc) == before

        # Defence in depth: an event on auth's subject that claims to come from filing (as a
        # misconfigured or over-privileged publisher could send) is not mailed.
        js = nc.jetstream()
        mislabelled = reissue("mislabelled-1", "mislabelled@example.jp", "株式会社テスト", source="filing")
        await js.publish(mislabelled.SUBJECT, mislabelled.model_dump_json().encode(), headers={"Nats-Msg-Id": "mislabelled-1"})

        # The genuine article, published by auth's own identity, is mailed: the notifier is alive.
        auth = await connect_as(RuntimeSettings(nats_url=nats_url), "auth")
        try:
            genuine = reissue("genuine-1", "holder@example.jp", "株式会社サンプル")
            await auth.jetstream().publish(
                genuine.SUBJECT, genuine.model_dump_json().encode(), headers={"Nats-Msg-Id": "genuine-1"}
            )
        finally:
            await auth.close()
        for _ in range(400):
            if any("holder@example.jp" in m.rcpt_tos for m in mail_sink.mails):
                break
            await asyncio.sleep(0.05)
        info = await js.consumer_info(subjects.EVENTS_STREAM, "notifier")
        for _ in range(200):  # the mislabelled event (published first) is settled too
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.05)
            info = await js.consumer_info(subjects.EVENTS_STREAM, "notifier")

    recipients = [r for m in mail_sink.mails for r in m.rcpt_tos]
    assert recipients == ["holder@example.jp"], recipients
    assert all(PHISHING not in m.data.decode("utf-8", "replace") for m in mail_sink.mails)
