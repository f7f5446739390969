"""Which use case takes which command: the helpdesk's "which mails went where?" and "show me the
mail", an officer's resend, and the bounce intake's reports. Mails themselves are event-driven
(entrypoints/consumer.py)."""

from __future__ import annotations

from contracts.notifier import GetSentMail, QueryDeliveryLog, RecordBounce, ResendMail
from services.notifier import bounce, delivery_log, resend
from services.notifier.ports import NotifierDeps
from services.runtime.pipeline import HandlerTable, Principal

HANDLERS: HandlerTable[NotifierDeps, Principal] = {
    QueryDeliveryLog: delivery_log.query,
    GetSentMail: delivery_log.sent_mail,
    RecordBounce: bounce.record_bounce,
    ResendMail: resend.resend_mail,
}
