"""When a mail that failed for now is tried again, and when the notifier gives up on it (SPEC §3:
retried with backoff, nothing lost meanwhile)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[float, ...]
    every: float
    give_up_after: timedelta

    def delay(self, attempts: int, server_answered: bool = True) -> float:
        """Seconds to wait after the `attempts`-th failed attempt.

        When the server did not answer at all (down, unreachable), the wait does not grow: the
        outage is not this mail's fault, and when the server is back every waiting mail should
        go out within the first step, not hours later at its sixth."""
        if not server_answered:
            return self.delays[0] if self.delays else self.every
        return self.delays[attempts - 1] if attempts <= len(self.delays) else self.every

    def gives_up(self, queued_at: datetime, now: datetime) -> bool:
        return now - queued_at >= self.give_up_after
