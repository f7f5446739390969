"""What the notifier's use cases need from the world, as Protocols: the delivery ledger and the
mailer. `adapters/` implements them over NATS KV and aiosmtplib, `tests/fakes/notifier.py` in
memory. Commands reach them only through `ctx.deps` (a `NotifierDeps`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from contracts.notifier import DeliveryRecord
from services.notifier.domain.ledger import Claim
from services.notifier.domain.routing import MailRequest
from services.runtime.pipeline import CommandContext, Principal


class LedgerUnavailable(Exception):
    """The ledger's store did not answer (e.g. NATS restarting); the write may be tried again."""


class Ledger(Protocol):
    async def claim(self, mail: MailRequest, *, now: datetime, owner: str, lease: timedelta) -> Claim:
        """Create the record holding a lease, or tell what to do with the existing one."""
        ...

    async def record(self, mail: MailRequest, claim: Claim, record: DeliveryRecord) -> bool:
        """Write the attempt's result and drop the lease; False if the claim was lost meanwhile.
        Raises LedgerUnavailable when the store did not answer."""
        ...

    async def query(
        self,
        *,
        auth_id: str | None = None,
        reception_number: str | None = None,
        recipient: str | None = None,
        mail_id: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        """Records matching every given filter, newest first."""
        ...


@dataclass(frozen=True)
class SmtpAnswer:
    code: int
    message: str


class DeliveryFailed(Exception):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code} {message}" if code else message)
        self.code = code
        self.message = message


class TemporaryFailure(DeliveryFailed):
    """4xx, a refused or lost connection, a timeout: worth trying again later."""


class PermanentFailure(DeliveryFailed):
    """5xx: the server will never take this mail."""


class Mailer(Protocol):
    async def send(self, sender: str, recipient: str, data: bytes) -> SmtpAnswer:
        """Hand one message to the SMTP server; raise TemporaryFailure or PermanentFailure."""
        ...


@dataclass(frozen=True)
class NotifierDeps:
    """What the notifier's commands need (the helpdesk's delivery-log query)."""

    ledger: Ledger


Ctx = CommandContext[NotifierDeps, Principal]
"""What a notifier use case gets besides its command; its commands take no session."""
