"""One event in, its mails out: claim in the ledger, render, send, record the answer.

The caller (the JetStream consumer) acks the event only when this says every mail of it is
settled (sent, failed, or a duplicate), and otherwise naks it with the delay asked for: the
event itself is the retry queue, so an SMTP outage loses nothing.

A send may take minutes (RFC 5321 gives the answer to the final "." ten): while it lasts, the
claim's lease is renewed every third of its length, so no other worker takes the mail over
from a replica that is alive and waiting (docs/DELIVERY.md). Sends that answer sooner (all of
them, normally) cost one timer armed and cancelled.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from contracts import auth
from contracts.common import Event
from contracts.notifier import DeliveryRecord, DeliveryStatus
from services.notifier.domain.ledger import Claim, ClaimOutcome, StatusChange, result
from services.notifier.domain.rendering import Renderer, UnsendableAddress
from services.notifier.domain.retry import RetryPolicy
from services.notifier.domain.routing import MailRequest, mails_for
from services.notifier.domain.verp import envelope_sender
from services.notifier.ports import Flags, Ledger, LedgerUnavailable, Mailer, MailStore, PermanentFailure, TemporaryFailure
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


class LeaseKeeper:
    """Renews one claim's lease while its mail is being sent, from `start()` (a timer calls it a
    third of the lease into the send) until `stop()`.

    Renewing is claiming again as the same owner: the ledger's compare-and-set moves the lease's
    end and gives a new revision, which the result's write must then name. A renewal that finds
    the mail taken over (our lease ran out all the same, e.g. NATS was away for longer than
    it) stops renewing; the result's write then fails as "claim lost", as before."""

    def __init__(self, ledger: Ledger, clock: Clock, mail: MailRequest, claim: Claim, owner: str, lease: timedelta) -> None:
        self._ledger = ledger
        self._clock = clock
        self._mail = mail
        self._owner = owner
        self._lease = lease
        self.claim = claim
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"lease-{self._mail.mail_id}")

    async def stop(self) -> Claim:
        """Stop renewing; wait for a renewal under way (its revision is the one to write to)."""
        if self._task is not None:
            assert self._stopping is not None
            self._stopping.set()
            await self._task
        return self.claim

    async def _run(self) -> None:
        assert self._stopping is not None
        every = self._lease.total_seconds() / 3
        while not self._stopping.is_set():
            try:
                renewed = await self._ledger.claim(self._mail, now=self._clock.now(), owner=self._owner, lease=self._lease)
            except Exception as exc:  # noqa: BLE001 - NATS away (any error of the store): the lease still runs; again at the next tick
                log.warning("mail %s: renewing the claim's lease failed (%s); trying again", self._mail.mail_id, exc)
            else:
                if renewed.outcome is not ClaimOutcome.RESUMED:
                    log.warning("mail %s: claim taken over while sending (%s)", self._mail.mail_id, renewed.outcome.value)
                    return
                self.claim = replace(self.claim, revision=renewed.revision, events=renewed.events, writes=renewed.writes)
                self.renewals += 1
            try:
                await asyncio.wait_for(self._stopping.wait(), every)
            except TimeoutError:
                pass


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
        bounce_domain: str | None = None,
        flags: Flags | None = None,
        mails: MailStore | None = None,
    ) -> None:
        self._ledger = ledger
        self._mailer = mailer
        self._renderer = renderer
        self._clock = clock
        self._policy = policy
        self._sender = sender
        self._lease = lease
        self._instance = instance
        self._bounce_domain = bounce_domain
        self._flags = flags
        self._mails = mails
        self.duplicates = 0  # mails found settled already: what the ledger saved us from sending
        self._attempt_ids = itertools.count(1)  # with the replica's instance id: unique per attempt

    async def deliver_event(self, event: Event) -> Outcome:
        if isinstance(event, auth.EmailChanged) and self._flags is not None:
            # The account registered this address (again): it is no longer known to bounce.
            await self._flags.clear(event.new_email)
        delays = [d for mail in mails_for(event) if (d := await self.deliver(mail)) is not None]
        return RetryLater(min(delays)) if delays else Settled()

    async def deliver(self, mail: MailRequest) -> float | None:
        """Send one mail unless the ledger says otherwise; the seconds to wait, or None when settled."""
        now = self._clock.now()
        # Each attempt is its own owner: two copies of an event in one replica must not both send.
        owner = f"{self._instance}/{next(self._attempt_ids)}"
        flagged = self._flags is not None and self._flags.is_flagged(mail.recipient)
        claim = await self._ledger.claim(mail, now=now, owner=owner, lease=self._lease, flagged=flagged)
        if claim.outcome is ClaimOutcome.DONE:
            self.duplicates += 1
            return None
        if claim.outcome is ClaimOutcome.BUSY:
            assert claim.busy_until is not None
            return max((claim.busy_until - now).total_seconds(), 0.05)
        return await self._attempt(mail, claim, owner)

    def _sender_of(self, mail: MailRequest) -> str:
        """The envelope sender: VERP when bounces are taken (ENS_NOTIFIER_BOUNCE_DOMAIN)."""
        return envelope_sender(mail.mail_id, self._bounce_domain) if self._bounce_domain else self._sender

    async def _attempt(self, mail: MailRequest, claim: Claim, owner: str) -> float | None:
        before = claim.record.model_copy(update={"trace_id": tracing.current() or claim.record.trace_id})  # issue 18
        stored = await self._mails.get(mail.mail_id) if mail.resend_id is not None and self._mails is not None else None
        if stored is not None:
            # A resent mail: its message was made by the resend (the original's, readdressed).
            data, subject, message_id = stored, before.subject, before.message_id
        elif mail.resend_id is not None:
            # Its message is gone (the bucket lost it): there is nothing to render it from.
            await self._unsendable(mail, claim, before, "再送信するメールの内容が保存されていないため送信できません。")
            return None
        else:
            try:
                rendered = self._renderer.render(mail, composed_at=before.queued_at)
            except UnsendableAddress as exc:
                await self._unsendable(mail, claim, before, str(exc))
                return None
            data, subject, message_id = rendered.data, rendered.subject, rendered.message_id
        if before.attempts == 0 and stored is None and self._mails is not None:
            # Kept before it is sent: the helpdesk's copy of what went out (a retry's bytes are the same).
            await self._keep(mail, data)
        attempts = before.attempts + 1
        sender = self._sender_of(mail)
        base = {
            "attempts": attempts,
            "last_attempt_at": self._clock.now(),
            "subject": subject,
            "message_id": message_id,
            "next_attempt_at": None,
            "envelope_sender": sender,
            "template_version": before.template_version or self._renderer.template_version,
        }
        delay: float | None = None
        # The lease is renewed if the server takes longer than a third of it (see LeaseKeeper);
        # the result is then written to the renewed claim's revision.
        keeper = LeaseKeeper(self._ledger, self._clock, mail, claim, owner, self._lease)
        timer = asyncio.get_running_loop().call_later(self._lease.total_seconds() / 3, keeper.start)
        try:
            try:
                with metrics.smtp_attempt(temporary=TemporaryFailure):
                    answer = await self._mailer.send(sender, mail.recipient, data)
            finally:
                timer.cancel()
                claim = await keeper.stop()
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
        record, changes = result(record, self._clock.now())
        if not await self._record(mail, claim, record, changes):
            # Our lease ran out and another worker took the mail over; its result stands.
            log.warning("mail %s: claim lost while sending; the other worker records the result", mail.mail_id)
            return None
        metrics.mail_settled(mail.mail_type.value, record.status.value)
        return delay

    async def _keep(self, mail: MailRequest, data: bytes) -> None:
        """Keep the copy, insisting a little (NATS may be restarting); if it still cannot be
        written, send the mail all the same: the mail is the obligation, the copy is the log's
        (GetSentMail then answers not_found and the console rebuilds the mail from its event).
        Failing the attempt instead would leave our claim leased, and the mail waiting for the
        lease to run out before any redelivery could send it."""
        assert self._mails is not None
        loop = asyncio.get_running_loop()
        until = loop.time() + self._lease.total_seconds() / 3
        pause = 0.1
        while True:
            try:
                await self._mails.put(mail.mail_id, data)
                return
            except Exception as exc:  # noqa: BLE001 - the store did not answer: any error of it
                if loop.time() + pause >= until:
                    log.error("mail %s: its copy could not be kept (%s); sending it without", mail.mail_id, exc)
                    return
                log.warning("mail %s: keeping its copy failed (%s); again in %.1fs", mail.mail_id, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    async def _unsendable(self, mail: MailRequest, claim: Claim, before: DeliveryRecord, reason: str) -> None:
        """Recorded failed without an attempt: no SMTP server could take this mail."""
        now = self._clock.now()
        failed, changes = result(
            before.model_copy(update={"status": DeliveryStatus.FAILED, "smtp_message": reason, "last_attempt_at": now}), now
        )
        log.error("mail %s (%s): %s", mail.mail_id, mail.mail_type.value, reason)
        await self._ledger.record(mail, claim, failed, changes)
        metrics.mail_settled(mail.mail_type.value, failed.status.value)

    async def _record(self, mail: MailRequest, claim: Claim, record: DeliveryRecord, changes: list[StatusChange]) -> bool:
        """Record the result, insisting while our lease lasts: this process alone knows what the
        server answered, and a nak now would have the mail sent again once the lease ran out."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._lease.total_seconds()
        pause = 0.1
        while True:
            try:
                return await self._ledger.record(mail, claim, record, changes)
            except LedgerUnavailable as exc:
                if loop.time() + pause >= until:
                    raise
                log.warning("mail %s: ledger unavailable (%s); recording again in %.1fs", mail.mail_id, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
