"""The helpdesk's question "did my mail go out?": the ledger read by account, filing, address or
mail, and the exact mail that went.

The answers hold e-mail addresses, so the audit record (written by the pipeline) names the
filters and how many records were shown.
"""

from __future__ import annotations

import base64

from contracts import notifier as contract
from services.notifier.ports import Ctx
from services.runtime.errors import InvalidInput, NotFound, field_error

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


async def sent_mail(cmd: contract.GetSentMail, ctx: Ctx) -> contract.SentMail:
    """The exact bytes handed to the SMTP server, as kept with the mail's record."""
    ctx.trail.actor = "operator"
    ctx.trail.target = cmd.mail_id
    entry = await ctx.deps.ledger.find(cmd.mail_id)
    if entry is None:
        raise NotFound(
            "指定されたメールは配信記録にありません。",
            fields=[field_error("mail_id", "not_found", "配信記録にないメールIDです。")],
        )
    stored = await ctx.deps.mails.get(entry.record.mail_id) if ctx.deps.mails is not None else None
    if stored is None:
        raise NotFound(
            "このメールの送信内容は保存されていません（送信前、または保存を始める前に送られたメール）。",
            fields=[field_error("mail_id", "not_stored", "送信内容が保存されていません。")],
        )
    return contract.SentMail(
        mail_id=entry.record.mail_id,
        data_base64=base64.b64encode(stored).decode(),
        template_version=entry.record.template_version,
        message_id=entry.record.message_id,
    )
