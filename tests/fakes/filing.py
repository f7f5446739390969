"""In-memory stand-ins for the filing service's ports (services/filing/ports.py), and a context
to run its use cases with, as the runtime pipeline would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence

from contracts.auth import Organisation, OrganisationContact
from contracts.filing import FilingKind, FilingStatus, Person
from services.filing.domain.lifecycle import Caller, FilingRecord, state_of
from services.filing.ports import FilingDeps, IndexRow, TamperedCiphertext
from services.filing.settings import FilingSettings
from services.runtime.clock import Clock
from services.runtime.errors import Unauthenticated
from services.runtime.outbox import Entry, EventDraft, StaleRevision
from services.runtime.pipeline import CommandContext


class MemoryFilingStore:
    """The FilingStore port over dicts: revisions move like a KV entry's, a write based on an
    old revision is StaleRevision, and every recorded event draft is kept in `events`."""

    def __init__(self) -> None:
        self.filings: dict[str, tuple[FilingRecord, Entry]] = {}
        self.events: list[EventDraft] = []
        self.counters: dict[str, int] = {}
        self._revision = 0

    def _entry(self, record: FilingRecord, version: int) -> Entry:
        self._revision += 1
        return Entry(key=record.reception_number, state=state_of(record), revision=self._revision, version=version)

    async def get(self, reception_number: str) -> tuple[FilingRecord, Entry] | None:
        await asyncio.sleep(0)  # let concurrent use cases interleave as over a network
        return self.filings.get(reception_number)

    async def create(self, record: FilingRecord, events: Sequence[EventDraft]) -> None:
        if record.reception_number in self.filings:
            raise StaleRevision(record.reception_number)
        self.filings[record.reception_number] = (record, self._entry(record, 1))
        self.events.extend(events)

    async def update(self, record: FilingRecord, expected: Entry, events: Sequence[EventDraft]) -> None:
        current = self.filings.get(record.reception_number)
        if current is None or current[1].revision != expected.revision:
            raise StaleRevision(record.reception_number)
        self.filings[record.reception_number] = (record, self._entry(record, expected.version + 1))
        self.events.extend(events)

    async def delete(self, record: FilingRecord, expected: Entry) -> None:
        current = self.filings.get(record.reception_number)
        if current is None or current[1].revision != expected.revision:
            raise StaleRevision(record.reception_number)
        del self.filings[record.reception_number]

    async def all(self) -> AsyncIterator[tuple[FilingRecord, Entry]]:
        for found in list(self.filings.values()):
            yield found

    async def next_number(self, day: str) -> int:
        self.counters[day] = self.counters.get(day, 0) + 1
        return self.counters[day]

    async def index_page(
        self, organisation_id: str, status: FilingStatus | None, kind: FilingKind | None, page: int, page_size: int
    ) -> tuple[int, list[IndexRow]]:
        rows = sorted(
            (IndexRow.of(r) for r, _ in self.filings.values() if r.organisation.organisation_id == organisation_id),
            key=lambda row: (row.submitted_at, row.reception_number),
            reverse=True,
        )
        matching = [r for r in rows if (status is None or r.status == status) and (kind is None or r.kind == kind)]
        start = (page - 1) * page_size
        return len(matching), matching[start : start + page_size]

    async def rebuild_index(self, organisation_id: str, records: list[FilingRecord]) -> bool:
        return False  # the index is derived from the filings themselves: it never drifts

    def touch(self, reception_number: str) -> None:
        """Someone else writes the filing: the next update based on an earlier read is stale."""
        record, entry = self.filings[reception_number]
        self.filings[reception_number] = (record, self._entry(record, entry.version))


class MemorySessions:
    """The Sessions port over a table of live sessions."""

    def __init__(self, live: Mapping[str, Caller] | None = None) -> None:
        self.live: dict[str, Caller] = dict(live or {})

    async def caller(self, token: str) -> Caller:
        found = self.live.get(token)
        if found is None:
            raise Unauthenticated()
        return found


class MemoryContacts:
    """auth's GetOrganisationContact in memory: `addresses[organisation_id]` is its registered
    address now; an organisation not listed has no account (the events keep the filer's)."""

    def __init__(self) -> None:
        self.addresses: dict[str, str] = {}
        self.organisations: dict[str, Organisation] = {}

    async def of(self, organisation_id: str) -> OrganisationContact:
        email = self.addresses.get(organisation_id)
        return OrganisationContact(
            organisation_id=organisation_id,
            email=email,
            organisation=self.organisations.get(organisation_id),
            valid=email is not None,
        )


class PlainCipher:
    """The Cipher port without cryptography: a field is `plain:<filing>:<index>:<value>`, so a
    field moved to another filing or position still fails to open, as with AES-GCM."""

    def __init__(self, key_id: str = "plain") -> None:
        self.key_id = key_id

    def seal(self, reception_number: str, index: int, person: Person) -> dict[str, str]:
        data = person.model_dump(mode="json")
        return {f: f"{self.key_id}:{reception_number}:{index}:{json.dumps(v)}" for f, v in data.items() if v is not None}

    def open(self, reception_number: str, index: int, sealed: Mapping[str, str]) -> Person:
        values = {}
        for field, token in sealed.items():
            _, number, at, raw = token.split(":", 3)
            if number != reception_number or int(at) != index:
                raise TamperedCiphertext(f"{reception_number} person {index} field {field} does not open")
            values[field] = json.loads(raw)
        return Person.model_validate(values)

    def needs_rotation(self, sealed: Mapping[str, str]) -> bool:
        return any(not token.startswith(self.key_id + ":") for token in sealed.values())


def filing_deps(clock: Clock, sessions: Mapping[str, Caller], **settings: object) -> FilingDeps:
    return FilingDeps(
        store=MemoryFilingStore(),
        sessions=MemorySessions(sessions),
        contacts=MemoryContacts(),
        cipher=PlainCipher(),
        clock=clock,
        settings=FilingSettings(keys="k1:" + "A" * 43, **settings),
    )


def context(deps: FilingDeps, token: str | None, command: str = "Test") -> CommandContext[FilingDeps, Caller]:
    """What the pipeline hands a use case: the deps, an empty trail, the session resolved on demand."""
    return CommandContext(deps, deps.sessions.caller, token, command)
