"""VERP (variable envelope return path): the mail id in the envelope sender of each mail.

A bounce goes to the envelope sender (MAIL FROM, Return-Path), not to the From header; with
`bounce+<mail id>@<bounce domain>` there, the returning report names the mail it is about even
when the reporting server quotes nothing of the original. This module is the one place that
builds and reads that address: the notifier builds it, the bounce intake reads it.
"""

from __future__ import annotations

import re

PREFIX = "bounce+"

# Mail ids are hex digests (routing.mail_id); allow a little more so that a later id scheme
# still parses, but nothing that could smuggle another address part or a KV wildcard.
_MAIL_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def envelope_sender(mail_id: str, domain: str) -> str:
    """`bounce+<mail_id>@<domain>`: the SMTP envelope sender of one mail."""
    if not _MAIL_ID.fullmatch(mail_id):
        raise ValueError(f"not a mail id: {mail_id[:40]!r}")
    if not domain or "@" in domain or any(c.isspace() for c in domain):
        raise ValueError(f"not a domain: {domain[:80]!r}")
    return f"{PREFIX}{mail_id}@{domain}"


def mail_id_from(address: str, domain: str) -> str | None:
    """The mail id in a VERP address of ours, or None when the address is not one.

    Tolerates what mail servers do to a recipient on the way back: angle brackets, surrounding
    blanks, a domain in other case, a local part's prefix in other case (the id itself is
    returned as written: hex ids are lower case and some servers upper-case local parts, so it
    is lowered when it is hex)."""
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    local, at, dom = text.rpartition("@")
    if not at or not domain or dom.lower().rstrip(".") != domain.lower().rstrip("."):
        return None
    if local[: len(PREFIX)].lower() != PREFIX:
        return None
    mail_id = local[len(PREFIX) :]
    if not _MAIL_ID.fullmatch(mail_id):
        return None
    if re.fullmatch(r"[0-9A-Fa-f]+", mail_id):
        return mail_id.lower()
    return mail_id


parse = mail_id_from  # the name the bounce intake was first told about
