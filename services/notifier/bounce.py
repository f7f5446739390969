"""A bounce came back (RecordBounce, from the bounce intake): the mail it is about is marked.

The mail is found by the id the VERP envelope address carried, else by the Message-ID the report
quotes (our Message-IDs are `<mail id>.<installation>@<domain>`, so the id is read from it: no
index). A report that matches no mail of ours is answered `recorded=False`, not refused: the
intake counts and drops it. The record's change and its events (MailStatusChanged, AddressBounced)
are one compare-and-set of the mail's ledger entry; the address is flagged first, so a crash
between the two leaves a flag without its record, which the intake's retry (same request id, or
a second copy of the report) completes.
"""

from __future__ import annotations

import re

from contracts import notifier as contract
from services.notifier.domain.ledger import BounceReport, bounce
from services.notifier.ports import Ctx, LedgerEntry
from services.runtime.errors import Unavailable

_MESSAGE_ID = re.compile(r"<?\s*([0-9a-fA-F]{32})(?:\.[A-Za-z0-9]+)?@[^>\s]+\s*>?")
ATTEMPTS = 5  # compare-and-set rounds against a delivery writing the same entry at that moment


def mail_id_of(message_id: str) -> str | None:
    found = _MESSAGE_ID.fullmatch(message_id.strip())
    return found.group(1).lower() if found else None


async def _find(cmd: contract.RecordBounce, ctx: Ctx) -> LedgerEntry | None:
    ledger = ctx.deps.ledger
    if cmd.mail_id:
        entry = await ledger.find(cmd.mail_id.lower())
        if entry is not None:
            return entry
    if cmd.original_message_id:
        mail_id = mail_id_of(cmd.original_message_id)
        if mail_id is not None:
            entry = await ledger.find(mail_id)
            # Only if it is the very Message-ID we sent (another installation's mail shares the id scheme).
            if entry is not None and entry.record.message_id == cmd.original_message_id.strip():
                return entry
    return None


async def record_bounce(cmd: contract.RecordBounce, ctx: Ctx) -> contract.BounceRecorded:
    ctx.trail.actor = "bounces"
    ctx.trail.target = cmd.mail_id or (cmd.original_message_id or "")[:100]
    deps = ctx.deps
    assert deps.clock is not None
    report = BounceReport(
        hard=cmd.kind is contract.BounceKind.HARD,
        status_code=cmd.status_code,
        diagnostic=cmd.diagnostic,
        reporting_mta=cmd.reporting_mta,
    )
    ctx.trail.details.update(kind=cmd.kind.value, status_code=cmd.status_code)
    for _ in range(ATTEMPTS):
        entry = await _find(cmd, ctx)
        if entry is None:
            ctx.trail.details.update(matched=False)
            return contract.BounceRecorded(mail_id=None, recorded=False)
        ctx.trail.target = entry.record.mail_id
        if report.hard and deps.flags is not None:
            await deps.flags.flag(entry.record.recipient)
        now = deps.clock.now()
        change = bounce(entry.record, report, now)
        if change is None:  # a second hard bounce, or the history is full of notes
            return contract.BounceRecorded(mail_id=entry.record.mail_id, recorded=True)
        record, events = change
        if await deps.ledger.write(entry, record, events, at=now):
            ctx.trail.details.update(status=record.status.value)
            return contract.BounceRecorded(mail_id=record.mail_id, recorded=True)
    raise Unavailable("配信記録の更新が競合しました。しばらくしてから再度お試しください。")
