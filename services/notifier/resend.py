"""An officer has a mail sent again (ResendMail): the same content, as a new mail, to the address
the account has registered now.

The new mail is the original's exact message with only To, Message-ID and Date replaced (the
content is what the recipient should have had; re-rendering would need the event's context,
which the ledger does not keep, and could differ if the templates changed since). It is queued as
a new ledger entry whose outbox carries MailStatusChanged(queued) and the notifier's own
MailResendRequested; the notifier's event consumer takes that event like any other and sends the
mail through the normal path (claim, send, record, retries). Then the original's entry records
`resent_as` and MailStatusChanged(resent). Both writes are compare-and-set and the new mail's id
derives from the original's and the request id, so a repeat of the request (or a retry after a
crash between the two writes) finds the new mail instead of making another.
"""

from __future__ import annotations

import uuid

from contracts import notifier as contract
from contracts.auth import OrganisationContact
from services.notifier.domain.ledger import RESENDABLE, resend_id, resent_copy, resent_original
from services.notifier.domain.rendering import UnsendableAddress, readdressed
from services.notifier.ports import Ctx
from services.runtime.errors import DomainError, InvalidInput, NotFound, Unavailable, field_error

ATTEMPTS = 5

STATUS_LABELS = {
    contract.DeliveryStatus.QUEUED: "送信待ち",
    contract.DeliveryStatus.RETRYING: "再送信待ち",
}


class NotResendable(DomainError):
    default_message = "このメールは再送信できません。"


async def current_address(ctx: Ctx, record: contract.DeliveryRecord) -> str:
    contacts = ctx.deps.contacts
    if contacts is None or record.auth_id is None:
        raise NotResendable(
            "このメールは利用者に紐付いていないため、現在の宛先を確認できず再送信できません。",
            fields=[field_error("mail_id", "no_account", "利用者に紐付かないメールです。")],
        )
    try:
        contact: OrganisationContact = await contacts.contact(auth_id=record.auth_id, organisation_id=None)
    except LookupError as exc:
        raise NotResendable(
            "現在の登録メールアドレスを認証サービスに問い合わせられないため再送信できません。",
            fields=[field_error("mail_id", "address_unknown", "現在の宛先を確認できません。")],
        ) from exc
    if not contact.email or not contact.valid:
        raise NotResendable(
            "この利用者には現在有効な登録メールアドレスがないため再送信できません。",
            fields=[field_error("mail_id", "no_address", "有効な登録メールアドレスがありません。")],
        )
    return contact.email


async def resend_mail(cmd: contract.ResendMail, ctx: Ctx) -> contract.MailResent:
    ctx.trail.target = cmd.mail_id
    await ctx.officer()
    ctx.trail.details.update(reason=cmd.reason)
    deps = ctx.deps
    assert deps.clock is not None and deps.renderer is not None
    if not cmd.reason.strip():
        raise InvalidInput(fields=[field_error("reason", "required", "再送信の理由を入力してください。", label="理由")])
    original = await deps.ledger.find(cmd.mail_id)
    if original is None:
        raise NotFound(
            "指定されたメールは配信記録にありません。",
            fields=[field_error("mail_id", "not_found", "配信記録にないメールIDです。")],
        )
    new_id = resend_id(original.record.mail_id, cmd.request_id or uuid.uuid4().hex)
    done = await deps.ledger.find(new_id)
    if done is None:
        if original.record.status not in RESENDABLE:
            label = STATUS_LABELS.get(original.record.status, original.record.status.value)
            raise NotResendable(
                f"このメールは{label}のため再送信できません（送信済み・送信失敗・不達のメールのみ再送信できます）。",
                fields=[field_error("mail_id", "not_resendable", f"このメールは{label}です。")],
            )
        stored = await deps.mails.get(original.record.mail_id) if deps.mails is not None else None
        if stored is None:
            raise NotResendable(
                "このメールの送信内容が保存されていないため再送信できません。",
                fields=[field_error("mail_id", "not_stored", "送信内容が保存されていません。")],
            )
        recipient = await current_address(ctx, original.record)
        now = deps.clock.now()
        message_id = deps.renderer.message_id(new_id)
        try:
            data = readdressed(stored, recipient=recipient, message_id=message_id, date=now)
        except UnsendableAddress as exc:
            raise NotResendable(str(exc), fields=[field_error("mail_id", "unsendable_address", str(exc))]) from exc
        flagged = deps.flags is not None and deps.flags.is_flagged(recipient)
        record, events = resent_copy(
            original.record, new_id=new_id, recipient=recipient, message_id=message_id, reason=cmd.reason, at=now, flagged=flagged
        )
        assert deps.mails is not None
        await deps.mails.put(new_id, data)  # first: the entry's event has the consumer send these bytes
        await deps.ledger.write(None, record, events, at=now)  # False: a copy of this request made it
        done = await deps.ledger.find(new_id)
        assert done is not None
    for _ in range(ATTEMPTS):
        if original.record.resent_as == new_id:
            break
        now = deps.clock.now()
        updated, events = resent_original(original.record, new_id, cmd.reason, now)
        if await deps.ledger.write(original, updated, events, at=now):
            break
        found = await deps.ledger.find(cmd.mail_id)
        assert found is not None
        original = found
    else:
        raise Unavailable("配信記録の更新が競合しました。しばらくしてから再度お試しください。")
    ctx.trail.details.update(resent_as=new_id)
    return contract.MailResent(mail_id=cmd.mail_id, resent_as=new_id, recipient=done.record.recipient)
