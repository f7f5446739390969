"""Issue 17 item 2 on a real nats-server: the notifier's AddressBounced flags the account's
registered address (GetAccount shows when and why, the organisation's login carries the notice),
a second or redelivered bounce changes nothing, a bounce of an address the account no longer has
is ignored, a new address clears the flag, and an AddressBounced that is not the notifier's is
dropped. GetOrganisationContact answers by auth ID too (for a resent mail)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from contracts import auth as a
from contracts.common import EventMeta
from contracts.notifier import AddressBounced, MailType
from services.runtime.clock import FakeClock
from tests.support import bus
from tests.support.story import ACCOUNT_EMAIL, ACCOUNT_ID, ACCOUNT_PW, officer_and_active_account
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)


def bounced(n: int, recipient: str = ACCOUNT_EMAIL, source: str = "notifier") -> AddressBounced:
    return AddressBounced(
        meta=EventMeta(event_id=f"notifier.test.bounce.{n}", occurred_at=START, source=source),
        mail_id=f"mail-{n}",
        mail_type=MailType.PASSWORD_CHANGED,
        auth_id=ACCOUNT_ID,
        recipient=recipient,
        status_code="5.1.1",
        diagnostic="smtp; 550 5.1.1 <tanto@example.jp>: Recipient address rejected: User unknown",
        reporting_mta="dns; mx.example.jp",
        bounced_at=datetime(2027, 4, 2, 1, 0, tzinfo=UTC),
    )


async def publish(nats_url: str, identity: str, event: AddressBounced) -> None:
    nc = await bus.connect_as(nats_url, identity)
    try:
        await nc.jetstream().publish(
            event.SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.meta.event_id}
        )
    finally:
        await nc.close()


async def flag_of(client, officer: str) -> a.UndeliverableAddress | None:
    return (await client.call(a.GetAccount(session_token=officer, auth_id=ACCOUNT_ID))).account.undeliverable


async def eventually_flagged(client, officer: str) -> a.UndeliverableAddress:
    for _ in range(200):
        flag = await flag_of(client, officer)
        if flag is not None:
            return flag
        await asyncio.sleep(0.05)
    raise AssertionError("the address was never flagged")


async def test_a_hard_bounce_flags_the_address_until_a_new_one_is_registered(nats_url, client):
    clock = FakeClock(START)
    async with running(["auth"], nats_url, clock=clock) as host:
        officer = await officer_and_active_account(client, clock)
        assert await flag_of(client, officer) is None
        org = await client.call(a.Login(auth_id=ACCOUNT_ID, password=ACCOUNT_PW))
        assert org.address_warning is None

        await publish(nats_url, "notifier", bounced(1))
        flag = await eventually_flagged(client, officer)
        assert (flag.email, flag.status_code, flag.mail_id) == (ACCOUNT_EMAIL, "5.1.1", "mail-1")
        assert "User unknown" in (flag.reason or "")
        login = await client.call(a.Login(auth_id=ACCOUNT_ID, password=ACCOUNT_PW))
        assert login.address_warning is not None and "登録メールアドレスにメールが届いていません" in login.address_warning
        contact = await client_as_service(nats_url)
        assert contact.undeliverable and contact.email == ACCOUNT_EMAIL

        # A second bounce (and the first one redelivered) change nothing: the first says since when.
        await publish(nats_url, "notifier", bounced(2))
        await publish(nats_url, "notifier", bounced(1))
        listener = host.services[0]._bounces  # type: ignore[attr-defined]
        for _ in range(200):
            if listener.handled >= 2:
                break
            await asyncio.sleep(0.05)
        assert (await flag_of(client, officer)).mail_id == "mail-1"  # type: ignore[union-attr]

        await client.call(a.ChangeEmail(session_token=login.session_token, new_email="new@example.jp"))
        assert await flag_of(client, officer) is None
        again = await client.call(a.Login(auth_id=ACCOUNT_ID, password=ACCOUNT_PW))
        assert again.address_warning is None

        # The old address bouncing now is not the registered one: no flag.
        await publish(nats_url, "notifier", bounced(3, recipient=ACCOUNT_EMAIL))
        for _ in range(200):
            if listener.handled >= 3:
                break
            await asyncio.sleep(0.05)
        assert await flag_of(client, officer) is None


async def test_an_address_bounced_that_is_not_the_notifiers_is_dropped(nats_url, client):
    clock = FakeClock(START)
    async with running(["auth"], nats_url, clock=clock) as host:
        officer = await officer_and_active_account(client, clock)
        # Published by the notifier's identity (only it may) but claiming another source.
        await publish(nats_url, "notifier", bounced(4, source="filing"))
        listener = host.services[0]._bounces  # type: ignore[attr-defined]
        for _ in range(100):
            await asyncio.sleep(0.05)
            pending = await listener._sub.consumer_info()
            if pending.num_pending == 0 and pending.num_ack_pending == 0:
                break
        assert await flag_of(client, officer) is None


async def client_as_service(nats_url: str) -> a.OrganisationContact:
    from contracts.client import EnsClient

    nc = await bus.connect_as(nats_url, "notifier")
    try:
        return await EnsClient(nc, timeout=5).call(a.GetOrganisationContact(auth_id=ACCOUNT_ID))
    finally:
        await nc.close()
