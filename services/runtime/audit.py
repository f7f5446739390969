"""The append-only audit trail: every command, its actor, its target and its result."""

from __future__ import annotations

import logging
from typing import Any

from nats.js import JetStreamContext

from contracts import subjects
from contracts.common import AuditRecord
from services.runtime.clock import Clock

log = logging.getLogger("ens.audit")


class Auditor:
    def __init__(self, js: JetStreamContext, service: str, clock: Clock) -> None:
        self._js = js
        self._service = service
        self._clock = clock
        self._subject = subjects.audit(service)

    async def record(
        self,
        command: str,
        *,
        actor: str | None,
        target: str | None,
        result: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one record and wait for the stream's ack, so a command is never unaudited."""
        record = AuditRecord(
            at=self._clock.now(),
            service=self._service,
            command=command,
            actor=actor,
            target=target,
            result=result,
            details=details or {},
        )
        await self._js.publish(self._subject, record.model_dump_json().encode(), timeout=5)
