"""The helpdesk's question "did my mail go out?": the ledger read by account, filing, address or mail.

The answers hold e-mail addresses, so the audit record (written by the pipeline) names the
filters and how many records were shown.
"""

from __future__ import annotations

from contracts import notifier as contract
from services.notifier.ports import Ctx
from services.runtime.errors import InvalidInput, field_error

FILTERS = ("auth_id", "reception_number", "recipient", "mail_id")


async def query(cmd: contract.QueryDeliveryLog, ctx: Ctx) -> contract.DeliveryLog:
    ctx.trail.actor = "operator"
    given = {name: getattr(cmd, name) for name in FILTERS if getattr(cmd, name)}
    if not given:
        raise InvalidInput(
            "検索条件を1つ以上指定してください。",
            fields=[
                field_error(name, "required", "認証ID・受付番号・宛先・メールIDのいずれかを指定してください。")
                for name in FILTERS
            ],
        )
    ctx.trail.target = next(iter(given.values()))
    records = await ctx.deps.ledger.query(limit=cmd.limit, **given)
    ctx.trail.details.update(filters=given, records=len(records))
    return contract.DeliveryLog(records=records)
