"""The SMTP side (aiosmtpd's handler hooks): RCPT is taken only for the bounce domain, DATA is
handed to `intake.take`, whose outcome becomes the answer. Nothing a sender writes can end the
intake: an unexpected error in the use case is answered 451 (try again later), never raised."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from services.bounces import metrics
from services.bounces.intake import DEFERRED, Outcome, take
from services.bounces.ports import BounceRecorder
from services.bounces.recognition import accepts_recipient

log = logging.getLogger("ens.bounces")


class IntakeHandler:
    def __init__(self, domain: str, recorder: BounceRecorder) -> None:
        self.domain = domain
        self.recorder = recorder
        self.counts: Counter[str] = Counter()  # the same outcomes as the metric, for tests and benches

    def count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        metrics.counted(outcome)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if not accepts_recipient(address, self.domain):
            self.count("rcpt_refused")
            return f"550 5.1.1 <{address[:200]}>: not a bounce address of {self.domain}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            outcome: Outcome = await take(raw, list(envelope.rcpt_tos), self.domain, self.recorder)
        except Exception:
            log.exception("bounce intake: unexpected error; answered 451 so the MTA tries again")
            outcome = DEFERRED
        self.count(outcome.label)
        return outcome.reply
