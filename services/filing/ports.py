"""What the filing use cases need from the world, as Protocols; `adapters/` implements them over
NATS and AES-GCM, `tests/fakes/filing.py` in memory. Use cases reach them only through
`ctx.deps` (a `FilingDeps`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contracts.auth import OrganisationContact
from contracts.filing import FilingKind, FilingStatus, Person
from services.filing.domain.lifecycle import Caller, FilingRecord
from services.filing.settings import FilingSettings
from services.runtime.clock import Clock
from services.runtime.outbox import Entry, EventDraft
from services.runtime.pipeline import CommandContext


@dataclass(frozen=True)
class IndexRow:
    """One filing in an organisation's history list: enough for a summary without reading the filing."""

    reception_number: str
    kind: FilingKind
    status: FilingStatus
    version: int
    person_count: int
    submitted_at: datetime
    updated_at: datetime
    finalised_at: datetime | None
    returned: bool  # the reasons are read from the filing itself

    @staticmethod
    def of(record: FilingRecord) -> IndexRow:
        return IndexRow(
            reception_number=record.reception_number,
            kind=record.kind,
            status=record.status,
            version=record.version,
            person_count=len(record.persons),
            submitted_at=record.submitted_at,
            updated_at=record.updated_at,
            finalised_at=record.finalised_at,
            returned=record.status == FilingStatus.RETURNED,
        )


class FilingStore(Protocol):
    """Filings (each written with the events its change caused), the per-organisation history
    index, and the daily reception-number counters."""

    async def get(self, reception_number: str) -> tuple[FilingRecord, Entry] | None: ...

    async def create(self, record: FilingRecord, events: Sequence[EventDraft]) -> None:
        """Raises StaleRevision when the reception number exists already."""
        ...

    async def update(self, record: FilingRecord, expected: Entry, events: Sequence[EventDraft]) -> None:
        """Raises StaleRevision when someone else wrote the filing since it was read."""
        ...

    async def delete(self, record: FilingRecord, expected: Entry) -> None:
        """Raises StaleRevision when someone else wrote the filing since it was read."""
        ...

    def all(self) -> AsyncIterator[tuple[FilingRecord, Entry]]: ...

    async def next_number(self, day: str) -> int:
        """Claim the next number of the JST day `YYYYMMDD`; concurrent callers each get their own."""
        ...

    async def index_page(
        self, organisation_id: str, status: FilingStatus | None, kind: FilingKind | None, page: int, page_size: int
    ) -> tuple[int, list[IndexRow]]:
        """One page of the organisation's filings, newest first, and how many match in all."""
        ...

    async def rebuild_index(self, organisation_id: str, records: list[FilingRecord]) -> bool:
        """Make the organisation's index exactly these filings; True if it had drifted."""
        ...


class Sessions(Protocol):
    async def caller(self, token: str) -> Caller:
        """Who holds a live session; Unauthenticated for a dead one, Unavailable when auth is silent."""
        ...


class Contacts(Protocol):
    async def of(self, organisation_id: str) -> OrganisationContact:
        """The organisation's registered address and details now (auth's GetOrganisationContact);
        Unavailable when auth is silent."""
        ...


class TamperedCiphertext(Exception):
    """A stored ciphertext does not open: altered, moved, or written under an unknown key."""


class Cipher(Protocol):
    """Field-wise encryption of a filing's persons, bound to (filing, position, field)."""

    def seal(self, reception_number: str, index: int, person: Person) -> dict[str, str]: ...

    def open(self, reception_number: str, index: int, sealed: Mapping[str, str]) -> Person:
        """Raises TamperedCiphertext when a field does not open."""
        ...

    def needs_rotation(self, sealed: Mapping[str, str]) -> bool: ...


@dataclass(frozen=True)
class FilingDeps:
    store: FilingStore
    sessions: Sessions
    contacts: Contacts
    cipher: Cipher
    clock: Clock
    settings: FilingSettings


Ctx = CommandContext[FilingDeps, Caller]
"""What a filing use case gets besides its command."""
