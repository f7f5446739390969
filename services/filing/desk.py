"""The filing service's use cases: check the caller, apply the rules, store the result with its
event. Each method takes a contract command and returns a contract reply; the `Trail` it fills
says who acted on what, for the audit record the handler writes."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.common import JobResult
from contracts.filing import (
    ChangeFiling,
    CompleteFiling,
    FilingAccepted,
    FilingDetail,
    FilingKind,
    FilingPage,
    FilingSummary,
    GetFiling,
    ListFilings,
    Person,
    PurgeExpiredFilings,
    ReencryptFilings,
    ReturnFiling,
    SubmitBulkFiling,
    SubmitFiling,
    WithdrawFiling,
)
from services.filing import bulk_csv, lifecycle
from services.filing.adapters.sessions import SessionGate
from services.filing.adapters.store import FilingStore, IndexRow
from services.filing.lifecycle import Caller, FilingRecord
from services.filing.persons import persons_errors
from services.filing.protection import PersonCipher, TamperedCiphertext
from services.filing.settings import FilingSettings
from services.runtime.clock import Clock, business_day
from services.runtime.errors import Forbidden, InvalidInput, Stale, field_error
from services.runtime.outbox import StaleRevision

log = logging.getLogger("ens.filing")


@dataclass
class Trail:
    """Filled while a command runs; becomes its audit record. Never holds personal data."""

    actor: str | None = None
    target: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class DataIntegrityError(Exception):
    """Stored personal data does not decrypt: tampering or a lost key. Never shown to a client."""


def reception_number(day: str, n: int) -> str:
    """`YYYYMMDD-NNNNNN`: the JST day of submission and the day's running number."""
    return f"{day}-{n:06d}"


class FilingDesk:
    def __init__(
        self, store: FilingStore, sessions: SessionGate, cipher: PersonCipher, clock: Clock, settings: FilingSettings
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._cipher = cipher
        self._clock = clock
        self._settings = settings

    async def _caller(self, token: str, trail: Trail) -> Caller:
        caller = await self._sessions.caller(token)
        trail.actor = caller.auth_id
        return caller

    # ---- submit --------------------------------------------------------------------------

    async def submit(self, cmd: SubmitFiling, trail: Trail) -> FilingAccepted:
        caller = await self._caller(cmd.session_token, trail)
        return await self._submit(caller, cmd.kind, cmd.persons, trail, bulk=False)

    async def submit_bulk(self, cmd: SubmitBulkFiling, trail: Trail) -> FilingAccepted:
        caller = await self._caller(cmd.session_token, trail)
        organisation = lifecycle.require_filer(caller)
        lifecycle.ensure_kind_allowed(cmd.kind, organisation)
        # base64 is 4/3 of the file: refuse an oversized upload before decoding it.
        if len(cmd.csv_base64) > (self._settings.max_upload_bytes * 4) // 3 + 4:
            raise bulk_csv.TooLarge(
                f"ファイルが大きすぎます。{self._settings.max_upload_bytes:,}バイト以下にするか、ファイルを分けてください。",
                details={"max_bytes": self._settings.max_upload_bytes},
            )
        try:
            data = base64.b64decode(cmd.csv_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                fields=[
                    field_error(
                        bulk_csv.FILE_FIELD, "base64", "ファイルの内容を読み取れません（base64）。", label=bulk_csv.FILE_LABEL
                    )
                ]
            ) from None
        parsed = bulk_csv.parse(data, cmd.kind, business_day(self._clock.now()), self._settings.max_upload_bytes)
        trail.details["encoding"] = parsed.encoding
        return await self._submit(caller, cmd.kind, parsed.persons, trail, bulk=True)

    async def _submit(
        self, caller: Caller, kind: FilingKind, persons: list[Person], trail: Trail, *, bulk: bool
    ) -> FilingAccepted:
        organisation = lifecycle.require_filer(caller)
        lifecycle.ensure_kind_allowed(kind, organisation)
        now = self._clock.now()
        errors = persons_errors(kind, persons, business_day(now))
        if errors:
            raise InvalidInput(fields=errors)
        day = business_day(now).strftime("%Y%m%d")
        number = reception_number(day, await self._store.next_number(day))
        sealed = [self._cipher.seal(number, i, p) for i, p in enumerate(persons)]
        record, events = lifecycle.submit(number, kind, caller, sealed, now, bulk)
        await self._store.create(record, events)
        trail.target = number
        trail.details.update(kind=kind.value, person_count=len(persons), bulk=bulk)
        return FilingAccepted(filing=record.summary())

    # ---- changes and decisions -----------------------------------------------------------

    async def _decide(
        self,
        token: str,
        number: str,
        trail: Trail,
        decide: Callable[[FilingRecord, Caller], lifecycle.Decision],
    ) -> FilingAccepted:
        caller = await self._caller(token, trail)
        trail.target = number
        found = await self._store.get(number)
        record = lifecycle.ensure_visible(found[0] if found else None, caller, number)
        entry = found[1] if found else None
        assert entry is not None  # ensure_visible refused a missing filing
        new, events = decide(record, caller)
        try:
            await self._store.update(new, entry, events)
        except StaleRevision:
            raise Stale(details={"based_on_version": record.version}) from None
        trail.details.update(status=new.status.value, version=new.version)
        return FilingAccepted(filing=new.summary())

    async def change(self, cmd: ChangeFiling, trail: Trail) -> FilingAccepted:
        now = self._clock.now()

        def decide(record: FilingRecord, caller: Caller) -> lifecycle.Decision:
            lifecycle.require_filer(caller)
            errors = persons_errors(record.kind, cmd.persons, business_day(now))
            if errors:
                raise InvalidInput(fields=errors)
            sealed = [self._cipher.seal(record.reception_number, i, p) for i, p in enumerate(cmd.persons)]
            return lifecycle.change(record, caller, cmd.based_on_version, sealed, now)

        return await self._decide(cmd.session_token, cmd.reception_number, trail, decide)

    async def withdraw(self, cmd: WithdrawFiling, trail: Trail) -> FilingAccepted:
        now = self._clock.now()
        return await self._decide(
            cmd.session_token,
            cmd.reception_number,
            trail,
            lambda record, caller: lifecycle.withdraw(record, caller, cmd.based_on_version, now),
        )

    async def complete(self, cmd: CompleteFiling, trail: Trail) -> FilingAccepted:
        now = self._clock.now()
        return await self._decide(
            cmd.session_token,
            cmd.reception_number,
            trail,
            lambda record, caller: lifecycle.complete(record, caller, cmd.based_on_version, now),
        )

    async def return_for_fix(self, cmd: ReturnFiling, trail: Trail) -> FilingAccepted:
        now = self._clock.now()
        return await self._decide(
            cmd.session_token,
            cmd.reception_number,
            trail,
            lambda record, caller: lifecycle.return_for_fix(record, caller, cmd.based_on_version, cmd.reasons, now),
        )

    # ---- history -------------------------------------------------------------------------

    async def get(self, cmd: GetFiling, trail: Trail) -> FilingDetail:
        caller = await self._caller(cmd.session_token, trail)
        trail.target = cmd.reception_number
        found = await self._store.get(cmd.reception_number)
        record = lifecycle.ensure_visible(found[0] if found else None, caller, cmd.reception_number)
        try:
            persons = [self._cipher.open(record.reception_number, i, s) for i, s in enumerate(record.persons)]
        except TamperedCiphertext as exc:
            log.error("filing %s: personal data does not decrypt: %s", record.reception_number, exc)
            raise DataIntegrityError(record.reception_number) from exc
        return FilingDetail(filing=record.summary(), persons=persons)

    async def list(self, cmd: ListFilings, trail: Trail) -> FilingPage:
        caller = await self._caller(cmd.session_token, trail)
        if caller.is_officer:
            if not cmd.organisation_id:
                raise InvalidInput(
                    fields=[
                        field_error(
                            "organisation_id", "required", "照会する機関の法人番号等を指定してください。", label="法人番号等"
                        )
                    ]
                )
            organisation_id = cmd.organisation_id
        else:
            assert caller.organisation is not None
            organisation_id = caller.organisation.organisation_id
            if cmd.organisation_id and cmd.organisation_id != organisation_id:
                raise Forbidden("他の機関の届出・報告は照会できません。")
        trail.target = organisation_id
        total, page = await self._store.index_page(organisation_id, cmd.status, cmd.kind, cmd.page, cmd.page_size)
        return FilingPage(
            items=[await self._summary(organisation_id, r) for r in page],
            total=total,
            page=cmd.page,
            page_size=cmd.page_size,
        )

    async def _summary(self, organisation_id: str, row: IndexRow) -> FilingSummary:
        reasons: list[str] = []
        if row.returned:
            found = await self._store.get(row.reception_number)
            reasons = found[0].return_reasons if found else []
        return FilingSummary(
            reception_number=row.reception_number,
            kind=row.kind,
            kind_label=row.kind.label,
            status=row.status,
            status_label=row.status.label,
            version=row.version,
            person_count=row.person_count,
            organisation_id=organisation_id,
            submitted_at=row.submitted_at,
            updated_at=row.updated_at,
            finalised_at=row.finalised_at,
            return_reasons=reasons,
        )

    # ---- jobs ----------------------------------------------------------------------------

    async def purge_expired(self, cmd: PurgeExpiredFilings, trail: Trail) -> JobResult:
        """Delete filings final for longer than the retention period. The pass reads every
        filing anyway, so it also repairs any organisation index that drifted (a crash between
        a filing's write and its index row)."""
        trail.actor = "system"
        processed = deleted = repaired = 0
        kept: dict[str, list[FilingRecord]] = {}
        async for record, entry in self._store.all():
            processed += 1
            if lifecycle.expired(record, cmd.as_of, self._settings.retention_days):
                try:
                    await self._store.delete(record, entry)
                    deleted += 1
                    continue
                except StaleRevision:
                    log.info("filing %s changed while purging; left for the next run", record.reception_number)
            kept.setdefault(record.organisation.organisation_id, []).append(record)
        for organisation_id, records in kept.items():
            repaired += await self._store.rebuild_index(organisation_id, records)
        trail.details.update(deleted=deleted, repaired_indexes=repaired)
        return JobResult(as_of=cmd.as_of, processed=processed, changed=deleted, details={"repaired_indexes": repaired})

    async def reencrypt(self, cmd: ReencryptFilings, trail: Trail) -> JobResult:
        """Re-seal every person under the current key; the filing's version is unchanged (no
        one's view of it changes, so no filer's change goes stale)."""
        trail.actor = "operator"
        processed = changed = 0
        async for record, entry in self._store.all():
            processed += 1
            if not any(self._cipher.needs_rotation(p) for p in record.persons):
                continue
            number = record.reception_number
            resealed = [self._cipher.seal(number, i, self._cipher.open(number, i, p)) for i, p in enumerate(record.persons)]
            try:
                await self._store.update(record.model_copy(update={"persons": resealed}), entry, [])
                changed += 1
            except StaleRevision:
                log.info("filing %s changed while re-encrypting; it was written under the current key", number)
        trail.details.update(reencrypted=changed)
        return JobResult(as_of=cmd.as_of, processed=processed, changed=changed)
