"""Work on every filing at once, asked for by the scheduler (retention) or an operator (key
rotation). No session: the actor is named outright."""

from __future__ import annotations

import logging

from contracts.common import JobResult
from contracts.filing import PurgeExpiredFilings, ReencryptFilings
from services.filing.domain import lifecycle
from services.filing.domain.lifecycle import FilingRecord
from services.filing.ports import Ctx
from services.runtime.outbox import StaleRevision

log = logging.getLogger("ens.filing")


async def purge_expired(cmd: PurgeExpiredFilings, ctx: Ctx) -> JobResult:
    """Delete filings final for longer than the retention period. The pass reads every filing
    anyway, so it also repairs any organisation index that drifted (a crash between a filing's
    write and its index row)."""
    ctx.trail.actor = "system"
    store = ctx.deps.store
    retention_days = ctx.deps.settings.retention_days
    processed = deleted = repaired = 0
    kept: dict[str, list[FilingRecord]] = {}
    async for record, entry in store.all():
        processed += 1
        if lifecycle.expired(record, cmd.as_of, retention_days):
            try:
                await store.delete(record, entry)
                deleted += 1
                continue
            except StaleRevision:
                log.info("filing %s changed while purging; left for the next run", record.reception_number)
        kept.setdefault(record.organisation.organisation_id, []).append(record)
    for organisation_id, records in kept.items():
        repaired += await store.rebuild_index(organisation_id, records)
    ctx.trail.details.update(deleted=deleted, repaired_indexes=repaired)
    return JobResult(as_of=cmd.as_of, processed=processed, changed=deleted, details={"repaired_indexes": repaired})


async def reencrypt(cmd: ReencryptFilings, ctx: Ctx) -> JobResult:
    """Re-seal every person under the current key; the filing's version is unchanged (no one's
    view of it changes, so no filer's change goes stale)."""
    ctx.trail.actor = "operator"
    store, cipher = ctx.deps.store, ctx.deps.cipher
    processed = changed = 0
    async for record, entry in store.all():
        processed += 1
        if not any(cipher.needs_rotation(p) for p in record.persons):
            continue
        number = record.reception_number
        resealed = [cipher.seal(number, i, cipher.open(number, i, p)) for i, p in enumerate(record.persons)]
        try:
            await store.update(record.model_copy(update={"persons": resealed}), entry, [])
            changed += 1
        except StaleRevision:
            log.info("filing %s changed while re-encrypting; it was written under the current key", number)
    ctx.trail.details.update(reencrypted=changed)
    return JobResult(as_of=cmd.as_of, processed=processed, changed=changed)
