"""Which use case takes which command. The runtime mounts the table: it subscribes each command
to its subject, resolves the session on first use, audits every command and translates errors."""

from __future__ import annotations

from contracts.filing import (
    ChangeFiling,
    CompleteFiling,
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
from services.filing.domain.lifecycle import Caller
from services.filing.ports import FilingDeps
from services.runtime.as_of import not_in_future
from services.runtime.pipeline import HandlerTable

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
