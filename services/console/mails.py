"""Mails as officers see them: one sent mail as it was sent, and every type's preview.

The notifier keeps the exact bytes of each mail it sent for the log's lifetime (GetSentMail);
those are shown. For a mail recorded before it kept them, the mail is rebuilt: the notifier's rendering is a pure function of the
event, the mail type, the recipient, the notifier's settings and the time the mail was first
queued, so the same inputs rebuild the same bytes; the page says the mail was rebuilt, and
compares the rebuilt Subject and Message-ID with those the log recorded at sending.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, replace
from email.message import EmailMessage

from contracts import auth, filing
from contracts.common import Event
from contracts.notifier import DeliveryRecord, MailType
from services.notifier.domain.rendering import Renderer
from services.notifier.domain.routing import mails_for
from services.notifier.samples import AT, sample_event


@dataclass(frozen=True)
class ShownMail:
    subject: str
    text: str
    html: str
    headers: list[tuple[str, str]]
    size: int
    matches_log: bool  # the rebuilt Subject and Message-ID are those the log recorded
    exact: bool = False  # the bytes the SMTP server received, not a rebuild


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else None


def exact(data: bytes) -> ShownMail:
    """The mail from the bytes the notifier handed the SMTP server (GetSentMail)."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    headers = [(k, str(v)) for k, v in parsed.items() if k.lower() != "content-type"]
    subject = str(parsed.get("Subject", ""))
    # The text part is shown in the page, where line ends are lines; the HTML part goes to the
    # sandboxed frame as the recipient's program decodes it from the bytes (CRLF and all).
    text = (_part(parsed, "plain") or "").replace("\r\n", "\n")
    return ShownMail(subject, text, _part(parsed, "html") or "", headers, len(data), True, exact=True)


def _rendered(data: bytes) -> ShownMail:
    """A mail the console rendered itself (a rebuild, a preview), shown like one sent."""
    return replace(exact(data), exact=False)


def rebuild(event: Event, record: DeliveryRecord, renderer: Renderer) -> ShownMail | None:
    """The mail as sent, or None when the event makes no mail with this record's id."""
    for mail in mails_for(event):
        if mail.mail_id == record.mail_id:
            # Message-IDs carry the sending installation's id (made once by the notifier): rebuild
            # with the one the log recorded, so the rebuilt mail is the one sent.
            if record.message_id:
                renderer = renderer.for_installation(Renderer.installation_of(record.message_id, mail.mail_id))
            rendered = renderer.render(mail, composed_at=record.queued_at)
            matches = rendered.subject == record.subject and rendered.message_id == record.message_id
            return replace(_rendered(rendered.data), matches_log=matches)
    return None


@dataclass(frozen=True)
class Preview:
    key: str
    mail_type: MailType
    variant: str
    mail: ShownMail


def _variants(mail_type: MailType) -> list[tuple[str, Event]]:
    base = sample_event(mail_type)
    match base:
        case auth.PasswordChanged():
            return [("利用者が変更", base), ("職員が再設定", base.model_copy(update={"by_officer": True}))]
        case auth.PasswordExpiryWarned():
            return [(f"{d}日前", base.model_copy(update={"days_before": d})) for d in (30, 7)]
        case filing.FilingSubmitted():
            return [("1件ずつ入力", base), ("一括届出（CSV）", base.model_copy(update={"bulk": True}))]
        case filing.FilingChanged():
            return [("変更", base), ("修正（返却後）", base.model_copy(update={"was_fix": True}))]
    return [("", base)]


def previews(renderer: Renderer) -> list[Preview]:
    """Every mail type and variant rendered from the notifier's sample events."""
    out = []
    for mail_type in MailType:
        for index, (variant, event) in enumerate(_variants(mail_type)):
            mail = next(m for m in mails_for(event) if m.mail_type is mail_type)
            rendered = renderer.render(mail, composed_at=AT)
            out.append(Preview(f"{mail_type.value}-{index}", mail_type, variant, _rendered(rendered.data)))
    return out
