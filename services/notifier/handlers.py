"""Which use case takes which command: only the helpdesk's "which mails went where?". Mails
themselves are event-driven (entrypoints/consumer.py)."""

from __future__ import annotations

from contracts.notifier import QueryDeliveryLog
from services.notifier import delivery_log
from services.notifier.ports import NotifierDeps
from services.runtime.pipeline import HandlerTable, Principal

HANDLERS: HandlerTable[NotifierDeps, Principal] = {
    QueryDeliveryLog: delivery_log.query,
}
