"""RecordBounce over NATS, as the `bounces` identity (its only permission)."""

from __future__ import annotations

import nats.errors

from contracts.client import CommandRefused, EnsClient, ServiceUnavailable
from contracts.common import ErrorCode
from contracts.notifier import BounceRecorded, RecordBounce
from services.bounces.ports import BounceRefused, NotifierUnavailable

# Refusals that say "not now" rather than "never": the MTA should deliver the report again.
_TRANSIENT = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL})


class NatsRecorder:
    def __init__(self, client: EnsClient, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def record(self, command: RecordBounce) -> BounceRecorded:
        try:
            return await self.client.call(command, timeout=self.timeout_s, retries=1)
        except ServiceUnavailable as exc:
            raise NotifierUnavailable("no answer from the notifier") from exc
        except CommandRefused as exc:
            if exc.code in _TRANSIENT:
                raise NotifierUnavailable(exc.code.value) from exc
            raise BounceRefused(exc.code.value) from exc
        except nats.errors.Error as exc:  # connection closed, draining, reconnecting buffer full
            raise NotifierUnavailable(exc.__class__.__name__) from exc
