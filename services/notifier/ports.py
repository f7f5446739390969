"""What the notifier's use cases need from the world, as Protocols: the delivery ledger and the
mailer. `adapters/` implements them over NATS KV and aiosmtplib, `tests/fakes/notifier.py` in
memory. Commands reach them only through `ctx.deps` (a `NotifierDeps`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from contracts.auth import OrganisationContact
from contracts.notifier import DeliveryRecord
from services.notifier.domain.ledger import Claim, Lease, StatusChange
from services.notifier.domain.rendering import Renderer
from services.notifier.domain.routing import MailRequest
from services.runtime.clock import Clock
from services.runtime.pipeline import CommandContext, Principal


class LedgerUnavailable(Exception):
    """The ledger's store did not answer (e.g. NATS restarting); the write may be tried again."""


@dataclass(frozen=True)
class LedgerEntry:
    """One mail's entry as a command reads it, for a compare-and-set write back."""

    key: str
    revision: int
    record: DeliveryRecord
    events: tuple[dict[str, Any], ...] = ()  # the entry's outbox: recent status events
    lease: Lease | None = None
    writes: int = 0


class Ledger(Protocol):
    async def claim(self, mail: MailRequest, *, now: datetime, owner: str, lease: timedelta, flagged: bool = False) -> Claim:
        """Create the record holding a lease (with its `queued` event), or tell what to do with
        the existing one."""
        ...

    async def record(
        self,
        mail: MailRequest,
        claim: Claim,
        record: DeliveryRecord,
        changes: Sequence[StatusChange] = (),
    ) -> bool:
        """Write the attempt's result and the status events it causes in one
        compare-and-set, and drop the lease; False if the claim was lost meanwhile. Raises
        LedgerUnavailable when the store did not answer."""
        ...

    async def find(self, mail_id: str) -> LedgerEntry | None:
        """One mail's entry by its id."""
        ...

    async def write(
        self,
        entry: LedgerEntry | None,
        record: DeliveryRecord,
        changes: Sequence[StatusChange],
        *,
        at: datetime,
    ) -> bool:
        """Compare-and-set of `entry` (None: create the record's entry) with its events; False when stale."""
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


class MailStore(Protocol):
    """The exact messages sent, by mail id, as long as the delivery log keeps records."""

    async def put(self, mail_id: str, data: bytes) -> None: ...

    async def get(self, mail_id: str) -> bytes | None: ...


class Flags(Protocol):
    """Addresses a hard bounce flagged, until an account registers them again."""

    def is_flagged(self, address: str) -> bool:
        """From the replica's copy (no round trip per mail)."""
        ...

    async def flag(self, address: str) -> None: ...

    async def clear(self, address: str) -> None: ...


class Sessions(Protocol):
    async def caller(self, token: str) -> Principal:
        """Who holds the session (auth's IntrospectSession); Unauthenticated when it has ended."""
        ...


class Contacts(Protocol):
    async def contact(self, *, auth_id: str | None, organisation_id: str | None) -> OrganisationContact:
        """The account's address registered now (auth's GetOrganisationContact)."""
        ...


@dataclass(frozen=True)
class NotifierDeps:
    """What the notifier's commands need: the ledger, flagged addresses, auth's contacts, the clock."""

    ledger: Ledger
    mails: MailStore | None = None
    flags: Flags | None = None
    contacts: Contacts | None = None
    sessions: Sessions | None = None
    clock: Clock | None = None
    renderer: Renderer | None = None  # a resent mail's Message-ID


Ctx = CommandContext[NotifierDeps, Principal]
"""What a notifier use case gets besides its command; its commands take no session."""
