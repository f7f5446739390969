"""Which use case takes which command. The runtime mounts the table: it subscribes each command
to its subject, resolves the session on first use, audits every command and translates errors."""

from __future__ import annotations

from contracts.filing import (
    ChangeFiling,
    CompleteFiling,
    FilingAccepted,
    GetFiling,
    ListFilings,
    PurgeExpiredFilings,
    ReencryptFilings,
    ReturnFiling,
    SubmitBulkFiling,
    SubmitFiling,
    WithdrawFiling,
)
from services.filing import filer, jobs, officer
from services.filing.domain.lifecycle import Caller, FilingRecord
from services.filing.ports import Ctx, FilingDeps
from services.runtime.as_of import not_in_future
from services.runtime.idempotency import AlreadyApplied
from services.runtime.pipeline import HandlerTable, ReplayTable

HANDLERS: HandlerTable[FilingDeps, Caller] = {
    SubmitFiling: filer.submit,
    SubmitBulkFiling: filer.submit_bulk,
    ChangeFiling: filer.change,
    WithdrawFiling: filer.withdraw,
    ListFilings: filer.list_filings,
    GetFiling: filer.get_filing,
    CompleteFiling: officer.complete,
    ReturnFiling: officer.return_for_fix,
    PurgeExpiredFilings: not_in_future(jobs.purge_expired),
    ReencryptFilings: jobs.reencrypt,
}


async def _accepted(cmd: object, applied: AlreadyApplied, ctx: Ctx) -> FilingAccepted:
    """A keyed change a copy that died before storing its reply made: the filing as that change
    wrote it (runtime/idempotency.py)."""
    return FilingAccepted(filing=FilingRecord.model_validate(applied.state).summary())


REPLAYS: ReplayTable[FilingDeps, Caller] = {
    SubmitFiling: _accepted,
    SubmitBulkFiling: _accepted,
    ChangeFiling: _accepted,
    WithdrawFiling: _accepted,
    CompleteFiling: _accepted,
    ReturnFiling: _accepted,
}
