"""Commands of the notifier: only the helpdesk's question "which mails went where?"."""

from __future__ import annotations

from faststream.nats import NatsRouter

from contracts import notifier as contract
from services.notifier.ledger import Ledger
from services.runtime.errors import InvalidInput, field_error
from services.runtime.handlers import handles

FILTERS = ("auth_id", "reception_number", "recipient", "mail_id")


def register(router: NatsRouter, ledger: LedgerRef) -> None:
    @handles(router, contract.QueryDeliveryLog, contract.SERVICE)
    async def query_delivery_log(cmd: contract.QueryDeliveryLog) -> contract.DeliveryLog:
        if not any(getattr(cmd, name) for name in FILTERS):
            raise InvalidInput(
                "検索条件を1つ以上指定してください。",
                fields=[field_error(name, "required", "認証ID・受付番号・宛先・メールIDのいずれかを指定してください。") for name in FILTERS],
            )
        records = await ledger().query(
            auth_id=cmd.auth_id,
            reception_number=cmd.reception_number,
            recipient=cmd.recipient,
            mail_id=cmd.mail_id,
            limit=cmd.limit,
        )
        return contract.DeliveryLog(records=records)


class LedgerRef:
    """The ledger exists only once the service started; handlers are registered before that."""

    def __init__(self) -> None:
        self.ledger: Ledger | None = None

    def __call__(self) -> Ledger:
        if self.ledger is None:
            raise RuntimeError("notifier ledger used before start()")
        return self.ledger
