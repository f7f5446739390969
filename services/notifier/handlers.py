"""Commands of the notifier: only the helpdesk's question "which mails went where?"."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.nats import NatsRouter

from contracts import notifier as contract
from services.notifier import delivery_log
from services.notifier.ledger import Ledger
from services.runtime.audit import Auditor
from services.runtime.handlers import handles


@dataclass
class Ports:
    """What the handlers need; filled in by the service's start(), after they are registered."""

    ledger: Ledger | None = None
    auditor: Auditor | None = None

    def ready(self) -> tuple[Ledger, Auditor]:
        if self.ledger is None or self.auditor is None:
            raise RuntimeError("notifier handlers used before start()")
        return self.ledger, self.auditor


def register(router: NatsRouter, ports: Ports) -> None:
    @handles(router, contract.QueryDeliveryLog, contract.SERVICE)
    async def query_delivery_log(cmd: contract.QueryDeliveryLog) -> contract.DeliveryLog:
        return await delivery_log.query(*ports.ready(), cmd)
