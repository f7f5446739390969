"""The filing service's NATS KV buckets.

- `filing_filings`: one entry per filing (key: reception number), written through the outbox
  store, so a filing's change and its event are one compare-and-set write.
- `filing_index`: per organisation, one compact row per filing (the history's read model), so
  listing the first page of an organisation with thousands of filings reads one entry instead
  of scanning every filing. Rows carry the filing's version; a row is only ever replaced by a
  newer version, so writers racing on it cannot move it backwards.
- `filing_counters`: per JST day, the last reception number handed out (claimed by CAS).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import nats.js.errors
from nats.js.kv import KeyValue

from contracts.filing import FilingKind, FilingStatus
from services.filing.domain.lifecycle import FilingRecord, state_of
from services.filing.ports import IndexRow
from services.runtime.errors import Unavailable
from services.runtime.keys import encode_key
from services.runtime.outbox import Entry, EventDraft, OutboxStore, StaleRevision

FILINGS = "filing_filings"
INDEX = "filing_index"
COUNTERS = "filing_counters"
BUCKETS = (FILINGS, INDEX, COUNTERS)
CAS_ATTEMPTS = 50
WRONG_LAST_SEQUENCE = (10071, 10164)  # JetStream's "wrong last sequence", as nats-py's KV update reads them

_KINDS = list(FilingKind)
_STATUSES = list(FilingStatus)


def pack(row: IndexRow) -> list[Any]:
    return [
        row.reception_number,
        _KINDS.index(row.kind),
        _STATUSES.index(row.status),
        row.version,
        row.person_count,
        row.submitted_at.timestamp(),
        row.updated_at.timestamp(),
        row.finalised_at.timestamp() if row.finalised_at else None,
    ]


def unpack(row: list[Any]) -> IndexRow:
    status = _STATUSES[row[2]]
    return IndexRow(
        reception_number=row[0],
        kind=_KINDS[row[1]],
        status=status,
        version=row[3],
        person_count=row[4],
        submitted_at=datetime.fromtimestamp(row[5], UTC),
        updated_at=datetime.fromtimestamp(row[6], UTC),
        finalised_at=datetime.fromtimestamp(row[7], UTC) if row[7] is not None else None,
        returned=status == FilingStatus.RETURNED,
    )


class KvFilingStore:
    """The `FilingStore` port over three KV buckets."""

    def __init__(self, filings: OutboxStore, index: KeyValue, counters: KeyValue) -> None:
        self._filings = filings
        self._index = index
        self._counters = counters

    # ---- filings ---------------------------------------------------------------------

    async def get(self, reception_number: str) -> tuple[FilingRecord, Entry] | None:
        entry = await self._filings.get(reception_number)
        if entry is None:
            return None
        return FilingRecord.model_validate(entry.state), entry

    async def create(self, record: FilingRecord, events: Sequence[EventDraft]) -> None:
        await self._filings.put(record.reception_number, state_of(record), expected=None, events=events)
        await self.index_put([record])

    async def update(self, record: FilingRecord, expected: Entry, events: Sequence[EventDraft]) -> None:
        """Raises StaleRevision when someone else wrote the filing since it was read."""
        await self._filings.put(record.reception_number, state_of(record), expected=expected, events=events)
        await self.index_put([record])

    async def delete(self, record: FilingRecord, expected: Entry) -> None:
        """Retention: the filing is gone from the store, every revision of it. A KV delete would
        only add a marker and leave the bucket's history (up to 64 revisions, each with the
        persons' ciphertexts) in the stream; a purge with a subject rollup removes them all.
        The purge is conditional on the revision read, so a filing changed meanwhile is kept."""
        key = encode_key(record.reception_number)
        kv = self._filings.kv
        headers = {
            "KV-Operation": "PURGE",
            "Nats-Rollup": "sub",
            "Nats-Expected-Last-Subject-Sequence": str(expected.revision),
        }
        try:
            await kv._js.publish(f"$KV.{FILINGS}.{key}", b"", headers=headers, timeout=5)
        except nats.js.errors.APIError as exc:
            if exc.err_code in WRONG_LAST_SEQUENCE:
                raise StaleRevision(record.reception_number) from None
            raise
        # The index bucket keeps one revision per key, so rewriting the row list drops the old one.
        await self.index_remove(record.organisation.organisation_id, {record.reception_number})

    async def all(self) -> AsyncIterator[tuple[FilingRecord, Entry]]:
        for key in await self._filings.keys():
            found = await self.get(key)
            if found is not None:
                yield found

    # ---- reception numbers -----------------------------------------------------------

    async def next_number(self, day: str) -> int:
        """Claim the next number of the day; replicas racing for it each get their own."""
        key = encode_key(day)
        for _ in range(CAS_ATTEMPTS):
            try:
                current = await self._counters.get(key)
            except nats.js.errors.KeyNotFoundError:
                try:
                    await self._counters.create(key, b"1")
                    return 1
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue
            n = int(current.value or b"0") + 1
            try:
                await self._counters.update(key, str(n).encode(), last=current.revision)
                return n
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
        raise Unavailable("受付番号を採番できませんでした。しばらくしてから再度お試しください。")

    # ---- the per-organisation index --------------------------------------------------

    async def index_page(
        self, organisation_id: str, status: FilingStatus | None, kind: FilingKind | None, page: int, page_size: int
    ) -> tuple[int, list[IndexRow]]:
        """One page of the organisation's filings, newest first, and how many match in all.
        Filters run on the packed rows; only the page's rows are unpacked."""
        _, rows = await self._read_index(organisation_id)
        status_code = _STATUSES.index(status) if status is not None else None
        kind_code = _KINDS.index(kind) if kind is not None else None
        matching = [
            r for r in reversed(rows) if (status_code is None or r[2] == status_code) and (kind_code is None or r[1] == kind_code)
        ]
        start = (page - 1) * page_size
        return len(matching), [unpack(r) for r in matching[start : start + page_size]]

    async def _read_index(self, organisation_id: str) -> tuple[int | None, list[list[Any]]]:
        try:
            entry = await self._index.get(encode_key(organisation_id))
        except nats.js.errors.KeyNotFoundError:
            return None, []
        if not entry.value:
            return entry.revision, []
        return entry.revision, json.loads(entry.value)["rows"]

    async def _write_index(self, organisation_id: str, revision: int | None, rows: list[list[Any]]) -> bool:
        value = json.dumps({"rows": rows}, separators=(",", ":")).encode()
        try:
            if revision is None:
                await self._index.create(encode_key(organisation_id), value)
            else:
                await self._index.update(encode_key(organisation_id), value, last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def index_put(self, records: list[FilingRecord]) -> None:
        by_org: dict[str, list[FilingRecord]] = {}
        for record in records:
            by_org.setdefault(record.organisation.organisation_id, []).append(record)
        for organisation_id, group in by_org.items():
            for _ in range(CAS_ATTEMPTS):
                revision, rows = await self._read_index(organisation_id)
                position = {r[0]: i for i, r in enumerate(rows)}
                for record in group:
                    packed = pack(IndexRow.of(record))
                    at = position.get(record.reception_number)
                    if at is None:
                        position[record.reception_number] = len(rows)
                        rows.append(packed)
                    elif rows[at][3] <= record.version:
                        rows[at] = packed
                rows.sort(key=lambda r: (r[5], r[0]))
                if await self._write_index(organisation_id, revision, rows):
                    break
            else:
                raise Unavailable("届出・報告の一覧を更新できませんでした。")

    async def index_remove(self, organisation_id: str, reception_numbers: set[str]) -> None:
        for _ in range(CAS_ATTEMPTS):
            revision, rows = await self._read_index(organisation_id)
            kept = [r for r in rows if r[0] not in reception_numbers]
            if len(kept) == len(rows) or await self._write_index(organisation_id, revision, kept):
                return
        raise Unavailable("届出・報告の一覧を更新できませんでした。")

    async def rebuild_index(self, organisation_id: str, records: list[FilingRecord]) -> bool:
        """Make the organisation's index exactly the given filings; True if it had drifted."""
        wanted = sorted((pack(IndexRow.of(r)) for r in records), key=lambda r: (r[5], r[0]))
        for _ in range(CAS_ATTEMPTS):
            revision, rows = await self._read_index(organisation_id)
            if rows == wanted:
                return False
            if await self._write_index(organisation_id, revision, wanted):
                return True
        raise Unavailable("届出・報告の一覧を更新できませんでした。")
