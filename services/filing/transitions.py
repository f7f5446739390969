"""The step every change and decision shares: read the filing the caller may see, decide its
next state with a pure transition, address its events to the organisation's registered address
now (auth says which), write it with its events in one compare-and-set."""

from __future__ import annotations

from collections.abc import Callable

from contracts.filing import FilingAccepted
from services.filing.domain import lifecycle
from services.filing.domain.lifecycle import Caller, FilingRecord
from services.filing.ports import Ctx
from services.runtime.errors import Stale
from services.runtime.outbox import StaleRevision

Decide = Callable[[FilingRecord, Caller], lifecycle.Decision]


async def apply(ctx: Ctx, number: str, decide: Decide) -> FilingAccepted:
    caller = await ctx.principal()
    ctx.trail.target = number
    store = ctx.deps.store
    found = await store.get(number)
    record = lifecycle.ensure_visible(found[0] if found else None, caller, number)
    entry = found[1] if found else None
    assert entry is not None  # ensure_visible refused a missing filing
    decision = decide(record, caller)
    contact = await ctx.deps.contacts.of(record.organisation.organisation_id)
    new, events = lifecycle.addressed(decision, contact.email, contact.organisation)
    try:
        await store.update(new, entry, events)
    except StaleRevision:
        # Someone else changed it between our read and our write: the caller's view is stale.
        raise Stale(details={"based_on_version": record.version}) from None
    ctx.trail.details.update(status=new.status.value, version=new.version)
    return FilingAccepted(filing=new.summary())
