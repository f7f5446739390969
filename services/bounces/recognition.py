"""What a message that reached the bounce domain says: a bounce of one of our mails (hard or
soft, with its status code, diagnostic, reporting MTA and the mail it is about), or nothing we
record (an auto-reply, an out-of-office, spam, a success notice, broken MIME).

Whether a message reports a failure, and for which recipients, is flufl.bounce's job (Mailman's
detectors: RFC 3464 DSNs and the non-standard bounces of Exim, qmail, Exchange, Yahoo, ...).
The fields of an RFC 3464 report (Status, Action, Diagnostic-Code, Reporting-MTA,
Final-Recipient) are read with the stdlib email package; a non-standard bounce gives only its
text, so its status code and diagnostic are taken from the lines that name the failed address.

Pure: bytes and the envelope recipients in, a value out; never raises on bad input.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum

from flufl.bounce import all_failures

from contracts.notifier import BounceKind, RecordBounce
from services.notifier.domain import verp
from services.runtime import limits

# The local parts of the bounce domain that take reports without a mail id (RFC 5321 §4.5.1
# requires postmaster; `bounce` is where a report goes that lost its VERP address).
BARE_LOCAL_PARTS = frozenset({"postmaster", "bounce"})
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ENHANCED_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_CODE = re.compile(r"\b[245]\d\d\b|(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])")
_MESSAGE_ID_LINE = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response)|out of (the )?office|abwesenheit|absence|自動(応答|返信)|不在)",
    re.IGNORECASE,
)


class Dropped(StrEnum):
    """Why a message is not recorded (a closed set: metric labels)."""

    AUTO_REPLY = "auto_reply"  # RFC 3834 auto-reply, out-of-office, vacation
    NOT_A_BOUNCE = "not_a_bounce"  # reports no failed delivery (spam, a success DSN, a human's mail)
    UNKNOWN_MAIL = "unknown_mail"  # a bounce, but neither VERP address nor Message-ID names a mail
    MALFORMED = "malformed"  # MIME the parser or the detectors could not read


@dataclass(frozen=True)
class Bounce:
    kind: BounceKind
    mail_id: str | None
    original_message_id: str | None
    status_code: str | None
    diagnostic: str | None
    reporting_mta: str | None
    recipient: str | None
    report_id: str  # the report's own Message-ID, or a digest of its bytes: the same for a redelivery

    @property
    def request_id(self) -> str:
        """Deterministic idempotency key: a report delivered twice (the MTA retries after a 451,
        or two intake replicas each get a copy) is recorded once."""
        basis = f"{self.report_id}\0{self.mail_id or ''}\0{self.original_message_id or ''}"
        return "bounce:" + hashlib.sha256(basis.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class _Report:
    """One recipient block of an RFC 3464 message/delivery-status part, with its MTA."""

    action: str
    status: str | None
    diagnostic: str | None
    recipient: str | None
    reporting_mta: str | None


def accepts_recipient(address: str, domain: str) -> bool:
    """RCPT: a VERP address of the bounce domain, or its bare postmaster/bounce address."""
    if verp.mail_id_from(address, domain) is not None:
        return True
    local, at, dom = address.strip().strip("<>").rpartition("@")
    return bool(at) and dom.lower().rstrip(".") == domain.lower().rstrip(".") and local.lower() in BARE_LOCAL_PARTS


def recognise(raw: bytes, envelope_recipients: list[str], domain: str) -> Bounce | Dropped:
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        return _recognise(msg, raw, envelope_recipients, domain)
    except Exception:  # noqa: BLE001 - any input can arrive by SMTP; unreadable input is dropped and counted, never fatal
        return Dropped.MALFORMED


def _recognise(msg: Message, raw: bytes, envelope_recipients: list[str], domain: str) -> Bounce | Dropped:
    temporary, permanent = all_failures(msg)
    reports = [r for r in _delivery_status(msg) if r.action.startswith(("failed", "delayed", "error"))]
    if not temporary and not permanent and not reports:
        return Dropped.AUTO_REPLY if _is_auto_reply(msg) else Dropped.NOT_A_BOUNCE
    failed = sorted(a.decode("ascii", "replace") for a in (permanent or temporary))
    report = _pick(reports, failed)
    if report is not None:
        kind = _kind_of(report.status, report.action)
        status, diagnostic = report.status, report.diagnostic
        recipient, reporting_mta = report.recipient, report.reporting_mta
    else:
        kind = BounceKind.HARD if permanent else BounceKind.SOFT
        recipient = failed[0] if failed else None
        diagnostic = _explanation(msg, recipient)
        status = _status_in(diagnostic) or _status_in(_text(msg))
        reporting_mta = _sender_domain(msg)
    mail_id = _mail_id(msg, envelope_recipients, domain)
    original_message_id = _original_message_id(msg)
    if mail_id is None and original_message_id is None:
        return Dropped.UNKNOWN_MAIL
    own_id = (msg.get("Message-ID") or "").strip()
    return Bounce(
        kind=kind,
        mail_id=mail_id,
        original_message_id=_field("original_message_id", original_message_id),
        status_code=_field("status_code", status),
        diagnostic=_field("diagnostic", diagnostic),
        reporting_mta=_field("reporting_mta", reporting_mta),
        recipient=_field("recipient", recipient),
        report_id=own_id[:200] if own_id else "sha256:" + hashlib.sha256(raw).hexdigest(),
    )


# ---- RFC 3464 ----------------------------------------------------------------------------


def _delivery_status(msg: Message) -> Iterator[_Report]:
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status" or not part.is_multipart():
            continue
        blocks = [b for b in part.get_payload() if isinstance(b, Message)]
        if not blocks:
            continue
        reporting_mta = _typed_value(blocks[0].get("Reporting-MTA"))
        for block in blocks[1:] or blocks:
            action = (block.get("Action") or "").strip().lower()
            if not action:
                continue
            status = _status_in(block.get("Status") or "")
            yield _Report(
                action=action,
                status=status,
                diagnostic=_typed_value(block.get("Diagnostic-Code")),
                recipient=_typed_value(block.get("Final-Recipient") or block.get("Original-Recipient")),
                reporting_mta=reporting_mta,
            )


def _pick(reports: list[_Report], failed: list[str]) -> _Report | None:
    """The report block of a failed recipient flufl.bounce found, the failed ones first."""
    wanted = {a.lower() for a in failed}
    ordered = sorted(reports, key=lambda r: not r.action.startswith(("failed", "error")))
    for report in ordered:
        if report.recipient and report.recipient.strip("<>").lower() in wanted:
            return report
    return ordered[0] if ordered else None


def _kind_of(status: str | None, action: str) -> BounceKind:
    """RFC 3464's Action is the verdict: `failed` is final even with a 4.x.x Status (Postfix's
    report when a temporary failure outlived its queue lifetime: the mail was never delivered),
    `delayed` is a warning even with a 5.x.x one. Without a usable Action, the Status's class."""
    if action.startswith(("failed", "error")):
        return BounceKind.HARD
    if action.startswith("delayed"):
        return BounceKind.SOFT
    return BounceKind.HARD if (status or "5").startswith("5") else BounceKind.SOFT


def _typed_value(value: str | None) -> str | None:
    """`dns; mx.example.jp` -> `mx.example.jp`: the value after RFC 3464's type, unfolded."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    _, semicolon, rest = text.partition(";")
    text = (rest if semicolon else text).strip()
    return text or None


# ---- non-standard bounces and the original mail ------------------------------------------


def _text(msg: Message) -> str:
    """The report's own text parts (not the returned mail's)."""
    out = []
    for part in _own_parts(msg):
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                out.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(out)


def _own_parts(msg: Message) -> Iterator[Message]:
    """Parts of the report, not descending into a returned message/rfc822."""
    if msg.is_multipart():
        for part in msg.get_payload():
            if isinstance(part, Message) and part.get_content_maintype() != "message":
                yield from _own_parts(part)
    else:
        yield msg


def _explanation(msg: Message, recipient: str | None) -> str | None:
    """The paragraph of the report's text that names the failed address (where Exim, qmail,
    Postfix and Exchange put the server's answer), else the text's first paragraph."""
    text = _text(msg).split("--- Below this line", 1)[0].split("------ This is a copy", 1)[0]
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    naming = [i for i, p in enumerate(paragraphs) if recipient and recipient.lower() in p.lower()]
    if naming:
        # The server's answer carries a reply code; without one, the last mention (the first is
        # often a summary of the mail: To, Subject, Sent).
        coded = [i for i in naming if _REPLY_CODE.search(paragraphs[i])]
        i = coded[0] if coded else naming[-1]
        paragraph = paragraphs[i]
        follow = paragraphs[i + 1] if i + 1 < len(paragraphs) and len(paragraph) <= len(recipient or "") + 4 else ""
        return f"{paragraph} {follow}".strip()
    return paragraphs[0] if paragraphs else None


def _status_in(text: str | None) -> str | None:
    match = _ENHANCED_CODE.search(text or "")
    return ".".join(match.groups()) if match else None


def _sender_domain(msg: Message) -> str | None:
    address = email.utils.parseaddr(msg.get("From") or "")[1]
    return address.rpartition("@")[2] or None


def _mail_id(msg: Message, envelope_recipients: list[str], domain: str) -> str | None:
    """From the envelope recipient (VERP), else the VERP address the report says the mail had
    (a report sent to our bare address: the returned headers' Return-Path, Postfix's X-Postfix-Sender)."""
    for rcpt in envelope_recipients:
        found = verp.mail_id_from(rcpt, domain)
        if found is not None:
            return found
    for value in _returned_envelope_senders(msg):
        found = verp.mail_id_from(email.utils.parseaddr(value)[1] or value, domain)
        if found is not None:
            return found
    return None


def _returned_envelope_senders(msg: Message) -> Iterator[str]:
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status" and part.is_multipart():
            for block in part.get_payload():
                if isinstance(block, Message) and block.get("X-Postfix-Sender"):
                    yield _typed_value(block.get("X-Postfix-Sender")) or ""
    for headers in _returned_headers(msg):
        if headers.get("Return-Path"):
            yield str(headers.get("Return-Path"))


def _returned_headers(msg: Message) -> Iterator[Message]:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                yield inner
        elif ctype == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield email.message_from_bytes(payload, policy=email.policy.compat32)


def _original_message_id(msg: Message) -> str | None:
    for headers in _returned_headers(msg):
        value = (headers.get("Message-ID") or "").strip()
        if value:
            return value[:998]
    match = _MESSAGE_ID_LINE.search(_text(msg))
    return match.group(1) if match else None


def _is_auto_reply(msg: Message) -> bool:
    """RFC 3834 and the vendors' own markers of an automatic answer (vacation, out-of-office)."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto.startswith("auto-replied"):
        return True
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return True
    if (msg.get("Precedence") or "").strip().lower() == "auto_reply":
        return True
    subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject") or "")))
    return bool(_AUTO_REPLY_SUBJECT.match(subject))


def _field(name: str, value: str | None) -> str | None:
    """One line, no control characters, and no longer than both the contract and the bus's own
    bounds allow (services/runtime/limits.py refuses a longer string before the notifier sees it,
    and a refused report would be a lost bounce): a long diagnostic is cut, not refused."""
    if not value:
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    contract = RecordBounce.model_fields[name].metadata
    limit = min([m.max_length for m in contract if getattr(m, "max_length", None)] or [limits.MAX_STRING])
    bus = limits.TEXT_FIELDS.get(name, limits.MAX_STRING) if name in limits.TEXT_FIELDS else limits.MAX_STRING
    limit = min(limit, bus or limit)
    return (text if len(text) <= limit else text[: limit - 1] + "…") or None
