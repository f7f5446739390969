"""After a mail went: the VERP envelope sender, the exact bytes kept (GetSentMail, `ens mail show`),
bounces recorded (RecordBounce, as the bounce intake sends it) and the address flagged."""

from __future__ import annotations

import base64
import uuid

import pytest

from contracts import auth
from contracts.client import CommandRefused
from contracts.common import ErrorCode
from contracts.notifier import BounceKind, DeliveryStatus, GetSentMail, MailType, RecordBounce
from services.notifier.domain.routing import mails_for
from services.notifier.domain.verp import envelope_sender
from services.notifier.samples import sample_event
from tests.integration.test_notifier_delivery import log_for, publish, settled, unique
from tests.integration.test_notifier_delivery import smtp_env as smtp_env  # the fixture, shared
from tests.integration.test_notifier_replicas_and_cli import ens
from tests.integration.test_notifier_status_events import status_events
from tests.support import bus
from tests.support.suite import running

BOUNCE_DOMAIN = "bounce.ens.example.jp"


@pytest.fixture
def verp(monkeypatch, smtp_env):
    monkeypatch.setenv("ENS_NOTIFIER_BOUNCE_DOMAIN", BOUNCE_DOMAIN)
    return smtp_env


def to(event, address: str):
    """A PasswordChanged sample to `address` (its own id)."""
    return unique(event.model_copy(update={"email": address}))


async def test_each_mail_goes_out_with_its_verp_envelope_sender_and_the_exact_bytes_are_kept(nats_url, nc, client, verp, clock):
    event = unique(sample_event(MailType.FILING_SUBMITTED))
    mail = mails_for(event)[0]
    async with running(["notifier"], nats_url, clock=clock):
        await publish(nc, event)
        (received,) = await verp.wait_for(1)
        record = await settled(client, mail.mail_id, DeliveryStatus.SENT)
        kept = await client.call(GetSentMail(mail_id=mail.mail_id))
        code, shown, _ = await ens("mail", "show", mail.mail_id, nats_url=nats_url)
        raw_code, raw, _ = await ens_bytes("mail", "show", mail.mail_id, "--raw", nats_url=nats_url)
        with pytest.raises(CommandRefused) as unknown:
            await client.call(GetSentMail(mail_id="0" * 32))
    assert received.mail_from == envelope_sender(mail.mail_id, BOUNCE_DOMAIN) == record.envelope_sender
    assert base64.b64decode(kept.data_base64) == received.data  # what the SMTP server received, byte for byte
    assert kept.template_version == record.template_version and len(record.template_version or "") == 12
    assert raw_code == 0 and raw == received.data
    assert code == 0 and "届出・報告を受け付けました" in shown and record.message_id in shown
    assert unknown.value.code == ErrorCode.NOT_FOUND and unknown.value.error.fields[0].field == "mail_id"


async def ens_bytes(*args: str, nats_url: str) -> tuple[int, bytes, str]:
    import asyncio
    import os
    import sys

    from tests.integration.test_notifier_replicas_and_cli import ROOT

    env = {**os.environ, "ENS_NATS_URL": nats_url, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ens", *args, env=env, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out, err.decode()


async def test_a_hard_bounce_marks_the_mail_bounced_once_and_flags_the_address_for_later_mails(nats_url, nc, client, verp, clock):
    first = to(sample_event(MailType.PASSWORD_CHANGED), f"gone-{uuid.uuid4().hex[:6]}@example.jp")
    mail = mails_for(first)[0]
    intake = await bus.connect_as(nats_url, "bounces")
    try:
        async with running(["notifier"], nats_url, clock=clock):
            await publish(nc, first)
            await settled(client, mail.mail_id, DeliveryStatus.SENT)
            report = RecordBounce(
                request_id=f"bounce-{uuid.uuid4().hex[:12]}",
                mail_id=mail.mail_id,
                kind=BounceKind.HARD,
                status_code="5.1.1",
                diagnostic="smtp; 550 5.1.1 User unknown",
                reporting_mta="dns; mx1.example.jp",
                recipient=mail.recipient,
            )
            from contracts.client import EnsClient

            as_intake = EnsClient(intake, timeout=10)
            recorded = await as_intake.call(report)
            again = await as_intake.call(report)  # the same request: the same reply
            second = await as_intake.call(report.model_copy(update={"request_id": f"bounce-{uuid.uuid4().hex[:12]}"}))
            bounced = await settled(client, mail.mail_id, DeliveryStatus.BOUNCED)
            later = to(sample_event(MailType.PASSWORD_CHANGED), mail.recipient)
            await publish(nc, later)
            flagged = await settled(client, mails_for(later)[0].mail_id, DeliveryStatus.SENT)
            # The account registers the address again: the flag is gone for the next mail.
            renewed = unique(
                auth.EmailChanged(
                    meta=later.meta, auth_id=later.auth_id, old_email="x@example.jp", new_email=mail.recipient, by_officer=True
                )
            )
            await publish(nc, renewed)
            after = await settled(client, mails_for(renewed)[0].mail_id, DeliveryStatus.SENT)
            _, bounced_log, _ = await ens("mail", "log", "--mail-id", mail.mail_id, nats_url=nats_url)
            _, flagged_log, _ = await ens("mail", "log", "--mail-id", mails_for(later)[0].mail_id, nats_url=nats_url)
            events = await status_events(nc, at_least=3)
            js = nc.jetstream()
            info = await js.stream_info("ENS_EVENTS", subjects_filter="ens.v1.events.notifier.address_bounced")
    finally:
        await intake.close()
    assert recorded.recorded and recorded.mail_id == mail.mail_id and again == recorded and second == recorded
    assert bounced.bounce_status_code == "5.1.1" and bounced.bounce_reporting_mta == "dns; mx1.example.jp"
    assert "User unknown" in (bounced.bounce_diagnostic or "")
    assert [h.status.value for h in bounced.history] == ["queued", "sent", "bounced"]
    assert [e["status"] for e in events if e["mail_id"] == mail.mail_id] == ["queued", "sent", "bounced"]
    assert (info.state.subjects or {}).get("ens.v1.events.notifier.address_bounced") == 1  # a second bounce changes nothing
    assert flagged.address_flagged is True  # still sent, but the log says the address had bounced
    assert mails_for(renewed)[0].recipient == mail.recipient and after.address_flagged is False
    assert "不達（bounced）" in bounced_log and "5.1.1" in bounced_log and "dns; mx1.example.jp" in bounced_log
    assert "以前に不達" in flagged_log


async def test_a_soft_bounce_is_a_note_a_message_id_finds_the_mail_and_an_unknown_mail_is_no_error(
    nats_url, nc, client, verp, clock
):
    event = to(sample_event(MailType.PASSWORD_CHANGED), f"full-{uuid.uuid4().hex[:6]}@example.jp")
    mail = mails_for(event)[0]
    intake = await bus.connect_as(nats_url, "bounces")
    try:
        async with running(["notifier"], nats_url, clock=clock):
            await publish(nc, event)
            sent = await settled(client, mail.mail_id, DeliveryStatus.SENT)
            from contracts.client import EnsClient

            as_intake = EnsClient(intake, timeout=10)
            soft = await as_intake.call(
                RecordBounce(
                    original_message_id=sent.message_id, kind=BounceKind.SOFT, status_code="4.2.2", diagnostic="mailbox full"
                )
            )
            unknown = await as_intake.call(RecordBounce(mail_id="f" * 32, kind=BounceKind.HARD, status_code="5.1.1"))
            foreign = await as_intake.call(
                RecordBounce(original_message_id=f"<{mail.mail_id}.other@elsewhere.example>", kind=BounceKind.HARD)
            )
            (record,) = await log_for(client, mail_id=mail.mail_id)
            with pytest.raises(CommandRefused):  # only the bounce intake (and the operator's admin) may say it
                await (await client_as(nats_url, "client")).call(RecordBounce(mail_id=mail.mail_id, kind=BounceKind.HARD))
    finally:
        await intake.close()
    assert soft.recorded and soft.mail_id == mail.mail_id
    assert record.status is DeliveryStatus.SENT
    assert [(h.status.value, h.status_code, h.note) for h in record.history][-1] == ("deferred", "4.2.2", "soft bounce")
    assert unknown.recorded is False and unknown.mail_id is None
    assert foreign.recorded is False


async def client_as(nats_url: str, identity: str):
    from contracts.client import EnsClient

    return EnsClient(await bus.connect_as(nats_url, identity), timeout=2)
