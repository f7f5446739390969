"""One message in, what became of it out: recognise the bounce, have it recorded, and say which
SMTP answer that earns. The rule that nothing is lost: 250 only once the notifier answered (or
the message is nothing we record); 451 whenever it could not, so the MTA delivers it again."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from contracts.notifier import BounceKind, RecordBounce
from services.bounces.ports import BounceRecorder, BounceRefused, NotifierUnavailable
from services.bounces.recognition import Bounce, Dropped, recognise

log = logging.getLogger("ens.bounces")

# Parsing happens on the event loop for the usual report (a few KiB); a message this big is
# parsed on a thread, so one large message does not stall the other SMTP sessions.
PARSE_ON_THREAD_BYTES = 512 * 1024


@dataclass(frozen=True)
class Outcome:
    label: str  # the metric's outcome
    reply: str  # the SMTP answer to the final dot


DEFERRED = Outcome("deferred", "451 4.3.0 Bounce not recorded yet; please try again later")


def dropped(reason: Dropped) -> Outcome:
    return Outcome(f"dropped_{reason.value}", "250 2.0.0 Accepted")


def command_for(bounce: Bounce) -> RecordBounce:
    return RecordBounce(
        request_id=bounce.request_id,
        mail_id=bounce.mail_id,
        original_message_id=bounce.original_message_id,
        kind=bounce.kind,
        status_code=bounce.status_code,
        diagnostic=bounce.diagnostic,
        reporting_mta=bounce.reporting_mta,
        recipient=bounce.recipient,
    )


async def take(raw: bytes, envelope_recipients: list[str], domain: str, recorder: BounceRecorder) -> Outcome:
    if len(raw) > PARSE_ON_THREAD_BYTES:
        found = await asyncio.to_thread(recognise, raw, envelope_recipients, domain)
    else:
        found = recognise(raw, envelope_recipients, domain)
    if isinstance(found, Dropped):
        log.info("bounce intake: dropped a message (%s), %d bytes", found.value, len(raw))
        return dropped(found)
    try:
        reply = await recorder.record(command_for(found))
    except NotifierUnavailable as exc:
        log.warning("bounce intake: notifier did not record the bounce of mail %s (%s); answered 451", found.mail_id, exc)
        return DEFERRED
    except BounceRefused as exc:
        log.warning("bounce intake: notifier refused the bounce of mail %s (%s); dropped", found.mail_id, exc.code)
        return Outcome("refused", "250 2.0.0 Accepted")
    if not reply.recorded:
        log.info("bounce intake: a bounce for no mail of ours (mail id %s, %s)", found.mail_id, found.original_message_id)
        return Outcome("not_ours", "250 2.0.0 Accepted")
    kind = "hard" if found.kind is BounceKind.HARD else "soft"
    log.info("bounce intake: recorded a %s bounce of mail %s (%s)", kind, reply.mail_id, found.status_code)
    return Outcome(f"recorded_{kind}", f"250 2.0.0 Bounce recorded ({kind})")
