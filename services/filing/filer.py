"""What an organisation's user does: submit (one by one or a bulk CSV), change, withdraw, and
read the organisation's history. Officers read any organisation's history here too."""

from __future__ import annotations

import base64
import binascii
import logging

from contracts.filing import (
    ChangeFiling,
    FilingAccepted,
    FilingDetail,
    FilingKind,
    FilingPage,
    FilingSummary,
    GetFiling,
    ListFilings,
    Person,
    SubmitBulkFiling,
    SubmitFiling,
    WithdrawFiling,
)
from services.filing import transitions
from services.filing.domain import bulk_csv, lifecycle
from services.filing.domain.lifecycle import Caller, FilingRecord
from services.filing.domain.persons import persons_errors
from services.filing.ports import Ctx, IndexRow, TamperedCiphertext
from services.runtime.clock import business_day
from services.runtime.errors import Forbidden, InvalidInput, field_error

log = logging.getLogger("ens.filing")


class DataIntegrityError(Exception):
    """Stored personal data does not decrypt: tampering or a lost key. Never shown to a client."""


# ---- submit ------------------------------------------------------------------------------


async def submit(cmd: SubmitFiling, ctx: Ctx) -> FilingAccepted:
    caller = await ctx.principal()
    return await _submit(ctx, caller, cmd.kind, cmd.persons, bulk=False)


async def submit_bulk(cmd: SubmitBulkFiling, ctx: Ctx) -> FilingAccepted:
    caller = await ctx.principal()
    organisation = lifecycle.require_filer(caller)
    lifecycle.ensure_kind_allowed(cmd.kind, organisation)
    limit = ctx.deps.settings.max_upload_bytes
    # base64 is 4/3 of the file: refuse an oversized upload before decoding it.
    if len(cmd.csv_base64) > (limit * 4) // 3 + 4:
        raise bulk_csv.TooLarge(
            f"ファイルが大きすぎます。{limit:,}バイト以下にするか、ファイルを分けてください。",
            details={"max_bytes": limit},
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
    parsed = bulk_csv.parse(data, cmd.kind, business_day(ctx.deps.clock.now()), limit)
    ctx.trail.details["encoding"] = parsed.encoding
    return await _submit(ctx, caller, cmd.kind, parsed.persons, bulk=True)


async def _submit(ctx: Ctx, caller: Caller, kind: FilingKind, persons: list[Person], *, bulk: bool) -> FilingAccepted:
    organisation = lifecycle.require_filer(caller)
    lifecycle.ensure_kind_allowed(kind, organisation)
    deps = ctx.deps
    now = deps.clock.now()
    errors = persons_errors(kind, persons, business_day(now))
    if errors:
        raise InvalidInput(fields=errors)
    day = business_day(now).strftime("%Y%m%d")

    async def draw() -> str:
        return lifecycle.reception_number(day, await deps.store.next_number(day))

    # Kept in the request's claim when keyed: a retry after a crash reuses the number and so
    # finds the filing its first copy stored, instead of filing it a second time.
    number = await ctx.reserve("reception_number", draw)
    sealed = [deps.cipher.seal(number, i, p) for i, p in enumerate(persons)]
    contact = await deps.contacts.of(organisation.organisation_id)
    record, events = lifecycle.addressed(
        lifecycle.submit(number, kind, caller, sealed, now, bulk), contact.email, contact.organisation
    )
    await deps.store.create(record, events)
    ctx.trail.target = number
    ctx.trail.details.update(kind=kind.value, person_count=len(persons), bulk=bulk)
    return FilingAccepted(filing=record.summary())


# ---- change and withdraw -----------------------------------------------------------------


async def change(cmd: ChangeFiling, ctx: Ctx) -> FilingAccepted:
    now = ctx.deps.clock.now()
    cipher = ctx.deps.cipher

    def decide(record: FilingRecord, caller: Caller) -> lifecycle.Decision:
        lifecycle.require_filer(caller)
        errors = persons_errors(record.kind, cmd.persons, business_day(now))
        if errors:
            raise InvalidInput(fields=errors)
        sealed = [cipher.seal(record.reception_number, i, p) for i, p in enumerate(cmd.persons)]
        return lifecycle.change(record, caller, cmd.based_on_version, sealed, now)

    return await transitions.apply(ctx, cmd.reception_number, decide)


async def withdraw(cmd: WithdrawFiling, ctx: Ctx) -> FilingAccepted:
    now = ctx.deps.clock.now()
    return await transitions.apply(
        ctx,
        cmd.reception_number,
        lambda record, caller: lifecycle.withdraw(record, caller, cmd.based_on_version, now),
    )


# ---- history -----------------------------------------------------------------------------


async def get_filing(cmd: GetFiling, ctx: Ctx) -> FilingDetail:
    caller = await ctx.principal()
    ctx.trail.target = cmd.reception_number
    deps = ctx.deps
    found = await deps.store.get(cmd.reception_number)
    record = lifecycle.ensure_visible(found[0] if found else None, caller, cmd.reception_number)
    try:
        persons = [deps.cipher.open(record.reception_number, i, s) for i, s in enumerate(record.persons)]
    except TamperedCiphertext as exc:
        log.error("filing %s: personal data does not decrypt: %s", record.reception_number, exc)
        raise DataIntegrityError(record.reception_number) from exc
    return FilingDetail(filing=record.summary(), persons=persons)


async def list_filings(cmd: ListFilings, ctx: Ctx) -> FilingPage:
    caller = await ctx.principal()
    if caller.is_officer:
        if not cmd.organisation_id:
            raise InvalidInput(
                fields=[
                    field_error("organisation_id", "required", "照会する機関の法人番号等を指定してください。", label="法人番号等")
                ]
            )
        organisation_id = cmd.organisation_id
    else:
        assert caller.organisation is not None  # a non-officer's session always names its organisation
        organisation_id = caller.organisation.organisation_id
        if cmd.organisation_id and cmd.organisation_id != organisation_id:
            raise Forbidden("他の機関の届出・報告は照会できません。")
    ctx.trail.target = organisation_id
    total, page = await ctx.deps.store.index_page(organisation_id, cmd.status, cmd.kind, cmd.page, cmd.page_size)
    return FilingPage(
        items=[await _summary(ctx, organisation_id, r) for r in page],
        total=total,
        page=cmd.page,
        page_size=cmd.page_size,
    )


async def _summary(ctx: Ctx, organisation_id: str, row: IndexRow) -> FilingSummary:
    reasons: list[str] = []
    if row.returned:
        found = await ctx.deps.store.get(row.reception_number)
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
