"""The helpdesk's question "did my mail go out?": the ledger read by account, filing, address or mail.

Every query is audited: the answers hold e-mail addresses.
"""

from __future__ import annotations

from contracts import notifier as contract
from services.notifier.ledger import Ledger
from services.runtime.audit import Auditor
from services.runtime.errors import InvalidInput, field_error

FILTERS = ("auth_id", "reception_number", "recipient", "mail_id")


async def query(ledger: Ledger, auditor: Auditor, cmd: contract.QueryDeliveryLog) -> contract.DeliveryLog:
    given = {name: getattr(cmd, name) for name in FILTERS if getattr(cmd, name)}
    if not given:
        await auditor.record("QueryDeliveryLog", actor="operator", target=None, result="validation")
        raise InvalidInput(
            "検索条件を1つ以上指定してください。",
            fields=[
                field_error(name, "required", "認証ID・受付番号・宛先・メールIDのいずれかを指定してください。")
                for name in FILTERS
            ],
        )
    records = await ledger.query(limit=cmd.limit, **given)
    await auditor.record(
        "QueryDeliveryLog",
        actor="operator",
        target=next(iter(given.values())),
        result="ok",
        details={"filters": given, "records": len(records)},
    )
    return contract.DeliveryLog(records=records)
