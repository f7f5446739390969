"""What an immigration officer decides about a filing: complete it, or return a school's report
for a fix. The officer-only rule is the transition's (its message names the 入管職員), checked
after the filing is found, as it always was."""

from __future__ import annotations

from contracts.filing import CompleteFiling, FilingAccepted, ReturnFiling
from services.filing import transitions
from services.filing.domain import lifecycle
from services.filing.ports import Ctx


async def complete(cmd: CompleteFiling, ctx: Ctx) -> FilingAccepted:
    now = ctx.deps.clock.now()
    return await transitions.apply(
        ctx,
        cmd.reception_number,
        lambda record, caller: lifecycle.complete(record, caller, cmd.based_on_version, now),
    )


async def return_for_fix(cmd: ReturnFiling, ctx: Ctx) -> FilingAccepted:
    now = ctx.deps.clock.now()
    return await transitions.apply(
        ctx,
        cmd.reception_number,
        lambda record, caller: lifecycle.return_for_fix(record, caller, cmd.based_on_version, cmd.reasons, now),
    )
