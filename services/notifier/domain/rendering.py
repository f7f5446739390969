"""Rendering a mail: template + context -> the exact bytes sent (pure: no NATS, no SMTP).

Every header line stays within 78 characters, encoded words (RFC 2047, UTF-8, base64) are
split between characters, never inside one, and both bodies are base64 (never raw 8-bit), so
free-mail services and phones show them as written. The same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from contracts.notifier import MailType
from services.notifier.domain.routing import MailRequest
from services.notifier.settings import NotifierSettings
from services.runtime.clock import JST_OFFSET, jp_date, jp_datetime, last_day_before

TEMPLATES = Path(__file__).parent.parent / "templates"
CRLF = "\r\n"


@dataclass(frozen=True)
class RenderedMail:
    mail_id: str
    recipient: str
    subject: str
    message_id: str
    text: str
    html: str
    data: bytes  # the message as sent, CRLF line ends


class UnsendableAddress(ValueError):
    """The recipient cannot be written into a mail this notifier sends (non-ASCII: no SMTPUTF8)."""


# The registration helpdesk answers for the registration mail (Q21); the system's helpdesk for
# every other mail (Q13, Q42, Q44).
REGISTRATION_MAILS = frozenset({MailType.REGISTRATION_COMPLETE})


def _jst(value: datetime) -> str:
    return jp_datetime(value)


def _jst_date(value: datetime) -> str:
    return jp_date(value.astimezone(JST_OFFSET).date())


def _last_day(ends_at: datetime) -> str:
    """A period that ends at `ends_at` (00:00 JST after its last day) as the agency writes it: the last valid day."""
    return jp_date(last_day_before(ends_at))


def template_version(templates: Path = TEMPLATES) -> str:
    """The template set's content hash (12 hex digits): every template file's name and bytes, in
    name order. Computed once per process; the delivery log names it, so a mail can be told
    apart from one a later template set would write."""
    digest = hashlib.sha256()
    for path in sorted(templates.glob("*.j2")):
        digest.update(path.name.encode() + b"\x00" + path.read_bytes() + b"\x00")
    return digest.hexdigest()[:12]


def readdressed(data: bytes, *, recipient: str, message_id: str, date: datetime) -> bytes:
    """A message sent before, to another address under its own Message-ID and Date: the same
    content (a resend), only the To, Message-ID and Date header lines replaced."""
    if not recipient.isascii():
        raise UnsendableAddress(f"宛先 {recipient!r} に ASCII 以外の文字が含まれるため送信できません（SMTPUTF8 未対応）。")
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    replace = {
        b"to:": f"To: {recipient}".encode(),
        b"message-id:": f"Message-ID: {message_id}".encode(),
        b"date:": f"Date: {format_datetime(date.astimezone(JST_OFFSET))}".encode(),
    }
    out = []
    for line in lines:
        name = line.split(b":", 1)[0].lower() + b":"
        out.append(replace.get(name, line) if not line[:1].isspace() else line)
    return b"\r\n".join(out) + sep + body


def build_environment(templates: Path = TEMPLATES) -> Environment:
    """One environment for the process: Jinja caches compiled templates in it."""
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,  # a template naming a variable the context lacks fails, never prints ""
        trim_blocks=True,
        keep_trailing_newline=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["jst"] = _jst
    env.filters["jst_date"] = _jst_date
    env.filters["last_day"] = _last_day
    return env


class Renderer:
    """`installation` goes into every Message-ID: ids derive from the event, so two installations
    (a test one and production) would otherwise send different mails under one Message-ID, and
    Gmail silently drops a Message-ID it has seen. The service passes the id it keeps in its
    bucket (the same after a restart, so a redelivered event's mail keeps its id)."""

    def __init__(self, settings: NotifierSettings, env: Environment | None = None, *, installation: str = "") -> None:
        self._settings = settings
        self._installation = installation
        self._env = env or build_environment()
        self.template_version = template_version()
        self._domain = settings.sender.rpartition("@")[2]
        self._templates = {
            t: (self._env.get_template(f"{t.value}.txt.j2"), self._env.get_template(f"{t.value}.html.j2")) for t in MailType
        }

    def for_installation(self, installation: str) -> Renderer:
        """The same renderer for another installation's Message-IDs (a mail rebuilt from the log)."""
        twin = copy.copy(self)
        twin._installation = installation
        return twin

    @staticmethod
    def installation_of(message_id: str, mail_id: str) -> str:
        """The installation id inside a Message-ID this renderer made for `mail_id` ("" if none)."""
        local = message_id.strip("<>").rpartition("@")[0]
        return local.removeprefix(f"{mail_id}.") if local.startswith(f"{mail_id}.") else ""

    def message_id(self, mail_id: str) -> str:
        if self._installation:
            return f"<{mail_id}.{self._installation}@{self._domain}>"
        return f"<{mail_id}@{self._domain}>"

    def render(self, mail: MailRequest, composed_at: datetime) -> RenderedMail:
        """`composed_at` is when the mail was first queued, so a retried mail is the same bytes."""
        s = self._settings
        registration = mail.mail_type in REGISTRATION_MAILS
        ctx: dict[str, Any] = {
            "system_name": s.system_name,
            "helpdesk": s.registration_helpdesk if registration else s.helpdesk,
            "helpdesk_topic": "利用者情報登録" if registration else "電子届出システムの操作",
            "receive_domain": s.receive_domain,
            "login_url": s.login_url,
            "organisation_name": None,
            **mail.context,
        }
        text_tmpl, html_tmpl = self._templates[mail.mail_type]
        title, _, text = text_tmpl.render(ctx).partition("\n")
        subject = f"{s.subject_prefix}{title.strip()}"
        ctx["subject"] = subject
        html = html_tmpl.render(ctx)
        message_id = self.message_id(mail.mail_id)
        data = build_message(
            sender=self._settings.sender,
            sender_name=self._settings.sender_name,
            recipient=mail.recipient,
            subject=subject,
            text=text,
            html=html,
            message_id=message_id,
            date=composed_at,
            mail_type=mail.mail_type,
            boundary=f"=_ens_{mail.mail_id}",
        )
        return RenderedMail(mail.mail_id, mail.recipient, subject, message_id, text, html, data)


def _encoded(name: str, value: str) -> str:
    """A header value: as is when ASCII, else RFC 2047 encoded words (UTF-8, base64), folded.

    Words are cut between characters, never inside one, so each decodes on its own; the first
    line leaves room for `Name: `, and no word exceeds the 75 characters RFC 2047 allows, so no
    line exceeds 78. (`email.header.Header` does the same but costs ~0.1 ms per header.)
    """
    if value.isascii():
        return value
    words: list[str] = []
    start = octets = 0
    most = _octets_fitting(min(78 - len(name) - 2, 75))  # the first line: "Name: " + word
    for i, char in enumerate(value):
        code = ord(char)
        size = 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
        if octets + size > most:
            words.append(_word(value[start:i]))
            start, octets, most = i, 0, _octets_fitting(75)
        octets += size
    words.append(_word(value[start:]))
    return f"{CRLF} ".join(words)


def _octets_fitting(length: int) -> int:
    """How many UTF-8 octets a base64 encoded word of at most `length` characters holds."""
    return (length - len("=?utf-8?b??=")) // 4 * 3


def _word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def _base64_part(content_type: str, body: str) -> str:
    # A text part's canonical form has CRLF line breaks (RFC 2046 4.1.1), and base64 carries the
    # canonical form: a decoder must find CRLF inside, not bare LF.
    canonical = body.replace("\r\n", "\n").replace("\n", CRLF)
    # encodebytes writes 76-column lines (RFC 2045) ending in LF, in C; SMTP wants CRLF.
    encoded = base64.encodebytes(canonical.encode()).decode("ascii").replace("\n", CRLF)
    return f'Content-Type: {content_type}; charset="utf-8"{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}{encoded}'


@lru_cache(maxsize=8)
def from_header(sender_name: str, sender: str) -> str:
    """The From line; the same for every mail, so encoded once. An ASCII name is a quoted-string
    (RFC 5322 3.2.4): its quotes and backslashes escaped, so `ENS "Notice" Desk` stays one name."""
    quoted = sender_name.replace("\\", "\\\\").replace('"', '\\"')
    name = _encoded("From", sender_name) if not sender_name.isascii() else f'"{quoted}"'
    line = f"From: {name} <{sender}>"
    if CRLF in name or len(line) > 78:
        line = f"From: {name}{CRLF} <{sender}>"
    return line


def build_message(
    *,
    sender: str,
    sender_name: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    mail_type: MailType,
    boundary: str,
) -> bytes:
    """The multipart/alternative message written out directly.

    The stdlib generator (email.mime + compat32) spends ~0.6 ms per mail re-folding headers it
    was given already folded, which alone would cap a replica below 1,500 mails/s. The parts are
    few and fixed, so they are written here; `email.header.Header` still does the RFC 2047
    encoding, and the golden tests parse every type back with the stdlib parser.
    """
    if not recipient.isascii():
        raise UnsendableAddress(f"宛先 {recipient!r} に ASCII 以外の文字が含まれるため送信できません（SMTPUTF8 未対応）。")
    headers = [
        from_header(sender_name, sender),
        f"To: {recipient}",
        f"Subject: {_encoded('Subject', subject)}",
        f"Date: {format_datetime(date.astimezone(JST_OFFSET))}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
        "Auto-Submitted: auto-generated",  # RFC 3834: vacation responders must not answer
        "X-Auto-Response-Suppress: All",
        f"X-ENS-Mail-Type: {mail_type.value}",
    ]
    parts = (
        CRLF.join(headers)
        + CRLF
        + CRLF
        + f"--{boundary}{CRLF}"
        + _base64_part("text/plain", text)
        + f"--{boundary}{CRLF}"
        + _base64_part("text/html", html)
        + f"--{boundary}--{CRLF}"
    )
    return parts.encode("ascii")
