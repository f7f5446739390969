"""Which domain event makes which mail, to whom: the notifier's routing table (SPEC §3).

`ROUTES` is the one table; each row names the mail type, who receives it and what its template
is told. A mail's id is derived from (event id, mail type, recipient), so the same event always
yields the same mails, whichever replica sees it and however often.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from contracts import auth, filing, notifier
from contracts.common import Event
from contracts.notifier import MailType
from services.runtime.clock import business_day, last_day_before


@dataclass(frozen=True)
class MailRequest:
    """One mail to send: what the ledger claims, the renderer renders and the mailer sends."""

    event_id: str
    mail_type: MailType
    recipient: str
    context: dict[str, Any] = field(hash=False, compare=False)
    auth_id: str | None = None
    reception_number: str | None = None
    # A resent mail: its id was fixed by the resend, and its message is in its ledger entry.
    resend_id: str | None = None

    @cached_property
    def mail_id(self) -> str:
        return self.resend_id or mail_id(self.event_id, self.mail_type, self.recipient)


def mail_id(event_id: str, mail_type: MailType, recipient: str) -> str:
    """Stable id of (event, type, recipient); safe in a Message-ID and a KV key."""
    digest = hashlib.sha256(f"{event_id}\x00{mail_type.value}\x00{recipient}".encode()).hexdigest()
    return digest[:32]


@dataclass(frozen=True)
class Route:
    mail_type: MailType
    to: Callable[[Any], str]
    context: Callable[[Any], dict[str, Any]]


def _organisation(org: auth.Organisation | None) -> dict[str, Any]:
    return {"organisation_name": org.name if org else None}


def _account(e: Any) -> dict[str, Any]:
    return {"auth_id": e.auth_id, **_organisation(getattr(e, "organisation", None))}


def _filing(e: Any) -> dict[str, Any]:
    f: filing.FilingFacts = e.filing
    return {
        "auth_id": f.filer_auth_id,
        "organisation_name": f.organisation.name,
        "reception_number": f.reception_number,
        "kind_label": f.kind_label,
        "person_count": f.person_count,
        "submitted_at": f.submitted_at,
        "occurred_at": e.meta.occurred_at,
    }


def mask_address(address: str) -> str:
    """The new address as the old one may see it: enough to recognise, not to harvest."""
    local, _, domain = address.partition("@")
    return f"{local[:2]}{'*' * max(len(local) - 2, 3)}@{domain}"


ROUTES: dict[type[Event], tuple[Route, ...]] = {
    auth.AccountActivated: (
        Route(
            MailType.REGISTRATION_COMPLETE,
            lambda e: e.email,
            lambda e: {**_account(e), "password_expires_at": e.password_expires_at, "activated_at": e.meta.occurred_at},
        ),
    ),
    auth.AuthIdReissued: (Route(MailType.AUTH_ID_REISSUE, lambda e: e.email, _account),),
    auth.EmailChanged: (
        Route(
            MailType.EMAIL_CHANGED,
            lambda e: e.new_email,
            lambda e: {**_account(e), "new_email": e.new_email, "changed_at": e.meta.occurred_at, "by_officer": e.by_officer},
        ),
        Route(
            MailType.EMAIL_CHANGED_NOTICE,
            lambda e: e.old_email,
            lambda e: {
                **_account(e),
                "new_email_masked": mask_address(e.new_email),
                "changed_at": e.meta.occurred_at,
                "by_officer": e.by_officer,
            },
        ),
    ),
    auth.PasswordChanged: (
        Route(
            MailType.PASSWORD_CHANGED,
            lambda e: e.email,
            lambda e: {
                **_account(e),
                "by_officer": e.by_officer,
                "changed_at": e.meta.occurred_at,
                "password_expires_at": e.password_expires_at,
            },
        ),
    ),
    auth.PasswordExpiryWarned: (
        Route(
            MailType.PASSWORD_EXPIRY_SOON,
            lambda e: e.email,
            lambda e: {
                **_account(e),
                "password_expires_at": e.password_expires_at,
                "days_before": e.days_before,
                # A warning caught up late (SPEC §3) says how many days are really left.
                "days_left": (last_day_before(e.password_expires_at) - business_day(e.meta.occurred_at)).days,
            },
        ),
    ),
    filing.FilingSubmitted: (
        Route(MailType.FILING_SUBMITTED, lambda e: e.filing.filer_email, lambda e: {**_filing(e), "bulk": e.bulk}),
    ),
    filing.FilingChanged: (
        Route(MailType.FILING_CHANGED, lambda e: e.filing.filer_email, lambda e: {**_filing(e), "was_fix": e.was_fix}),
    ),
    filing.FilingWithdrawn: (Route(MailType.FILING_WITHDRAWN, lambda e: e.filing.filer_email, _filing),),
    filing.FilingReturned: (
        Route(MailType.FIX_REQUESTED, lambda e: e.filing.filer_email, lambda e: {**_filing(e), "reasons": e.reasons}),
    ),
}

# The notifier's own: a resent mail, queued by ResendMail, is sent from its event like any other.
EVENT_BY_SUBJECT: dict[str, type[Event]] = {
    **{cls.SUBJECT: cls for cls in ROUTES},
    notifier.MailResendRequested.SUBJECT: notifier.MailResendRequested,
}


def mails_for(event: Event) -> list[MailRequest]:
    """The mails an event causes (none for events no one is mailed about)."""
    if isinstance(event, notifier.MailResendRequested):
        return [
            MailRequest(
                event_id=event.meta.event_id,
                mail_type=event.mail_type,
                recipient=event.recipient,
                context={},
                auth_id=event.auth_id,
                reception_number=event.reception_number,
                resend_id=event.mail_id,
            )
        ]
    out = []
    for route in ROUTES.get(type(event), ()):
        ctx = route.context(event)
        out.append(
            MailRequest(
                event_id=event.meta.event_id,
                mail_type=route.mail_type,
                recipient=route.to(event),
                context=ctx,
                auth_id=ctx.get("auth_id"),
                reception_number=ctx.get("reception_number"),
            )
        )
    return out
