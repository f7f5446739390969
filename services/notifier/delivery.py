"""One event in, its mails out: claim in the ledger, render, send, record the answer.

The caller (the JetStream consumer) acks the event only when this says every mail of it is
settled (sent, failed, or a duplicate), and otherwise naks it with the delay asked for: the
event itself is the retry queue, so an SMTP outage loses nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from datetime import timedelta

from contracts.common import Event
from contracts.notifier import DeliveryRecord, DeliveryStatus
from services.notifier.domain.ledger import Claim, ClaimOutcome
from services.notifier.domain.rendering import Renderer, UnsendableAddress
from services.notifier.domain.retry import RetryPolicy
from services.notifier.domain.routing import MailRequest, mails_for
from services.notifier.ports import Ledger, LedgerUnavailable, Mailer, PermanentFailure, TemporaryFailure
from services.runtime import metrics, tracing
from services.runtime.clock import Clock

log = logging.getLogger("ens.notifier")


@dataclass(frozen=True)
class Settled:
    """Every mail of the event is sent, failed for good, or was settled before: ack."""


@dataclass(frozen=True)
class RetryLater:
    """Some mail must be tried again: nak the event with this delay."""

    delay: float


Outcome = Settled | RetryLater


class Deliverer:
    """The event-driven use case; the JetStream consumer (entrypoints/consumer.py) feeds it."""

    def __init__(
        self,
        ledger: Ledger,
        mailer: Mailer,
        renderer: Renderer,
        clock: Clock,
        policy: RetryPolicy,
        *,
        sender: str,
        lease: timedelta,
        instance: str = "notifier",
    ) -> None:
        self._ledger = ledger
        self._mailer = mailer
        self._renderer = renderer
        self._clock = clock
        self._policy = policy
        self._sender = sender
        self._lease = lease
        self._instance = instance
        self.duplicates = 0  # mails found settled already: what the ledger saved us from sending
        self._attempt_ids = itertools.count(1)  # with the replica's instance id: unique per attempt

    async def deliver_event(self, event: Event) -> Outcome:
        delays = [d for mail in mails_for(event) if (d := await self.deliver(mail)) is not None]
        return RetryLater(min(delays)) if delays else Settled()

    async def deliver(self, mail: MailRequest) -> float | None:
        """Send one mail unless the ledger says otherwise; the seconds to wait, or None when settled."""
        now = self._clock.now()
        # Each attempt is its own owner: two copies of an event in one replica must not both send.
        claim = await self._ledger.claim(mail, now=now, owner=f"{self._instance}/{next(self._attempt_ids)}", lease=self._lease)
        if claim.outcome is ClaimOutcome.DONE:
            self.duplicates += 1
            return None
        if claim.outcome is ClaimOutcome.BUSY:
            assert claim.busy_until is not None
            return max((claim.busy_until - now).total_seconds(), 0.05)
        return await self._attempt(mail, claim)

    async def _attempt(self, mail: MailRequest, claim: Claim) -> float | None:
        before = claim.record.model_copy(update={"trace_id": tracing.current() or claim.record.trace_id})  # issue 18
        try:
            rendered = self._renderer.render(mail, composed_at=before.queued_at)
        except UnsendableAddress as exc:
            failed = before.model_copy(
                update={"status": DeliveryStatus.FAILED, "smtp_message": str(exc), "last_attempt_at": self._clock.now()}
            )
            log.error("mail %s (%s): %s", mail.mail_id, mail.mail_type.value, exc)
            await self._ledger.record(mail, claim, failed)
            metrics.mail_settled(mail.mail_type.value, failed.status.value)
            return None
        attempts = before.attempts + 1
        base = {
            "attempts": attempts,
            "last_attempt_at": self._clock.now(),
            "subject": rendered.subject,
            "message_id": rendered.message_id,
            "next_attempt_at": None,
        }
        delay: float | None = None
        try:
            with metrics.smtp_attempt(temporary=TemporaryFailure):
                answer = await self._mailer.send(self._sender, mail.recipient, rendered.data)
        except TemporaryFailure as failure:
            now = self._clock.now()
            if self._policy.gives_up(before.queued_at, now):
                status = DeliveryStatus.FAILED
            else:
                status = DeliveryStatus.RETRYING
                delay = self._policy.delay(attempts, server_answered=failure.code is not None)
                base["next_attempt_at"] = now + timedelta(seconds=delay)
            record = before.model_copy(
                update={**base, "status": status, "smtp_code": failure.code, "smtp_message": failure.message}
            )
            log.warning(
                "mail %s (%s): temporary failure (%s), attempt %d, %s",
                mail.mail_id,
                mail.mail_type.value,
                failure,
                attempts,
                status.value,
            )
        except PermanentFailure as failure:
            record = before.model_copy(
                update={**base, "status": DeliveryStatus.FAILED, "smtp_code": failure.code, "smtp_message": failure.message}
            )
            log.warning("mail %s (%s): refused for good (%s)", mail.mail_id, mail.mail_type.value, failure)
        else:
            record = before.model_copy(
                update={
                    **base,
                    "status": DeliveryStatus.SENT,
                    "sent_at": self._clock.now(),
                    "smtp_code": answer.code,
                    "smtp_message": answer.message,
                }
            )
        if not await self._record(mail, claim, record):
            # Our lease ran out and another worker took the mail over; its result stands.
            log.warning("mail %s: claim lost while sending; the other worker records the result", mail.mail_id)
            return None
        metrics.mail_settled(mail.mail_type.value, record.status.value)
        return delay

    async def _record(self, mail: MailRequest, claim: Claim, record: DeliveryRecord) -> bool:
        """Record the result, insisting while our lease lasts: this process alone knows what the
        server answered, and a nak now would have the mail sent again once the lease ran out."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._lease.total_seconds()
        pause = 0.1
        while True:
            try:
                return await self._ledger.record(mail, claim, record)
            except LedgerUnavailable as exc:
                if loop.time() + pause >= until:
                    raise
                log.warning("mail %s: ledger unavailable (%s); recording again in %.1fs", mail.mail_id, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
