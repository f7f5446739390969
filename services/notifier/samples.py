"""Sample events for every mail type: what `ens mail preview` renders, and the golden tests' input.

The names are long and Japanese on purpose, so a preview shows how headers fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from contracts import auth, filing, subjects
from contracts.common import Event, EventMeta
from contracts.notifier import MailType
from contracts.organisations import OrganisationKind

AT = datetime(2027, 4, 1, 0, 30, tzinfo=UTC)
ORG = auth.Organisation(
    organisation_id="1234567890123",
    kind=OrganisationKind.ACCEPTING_ORGANISATION,
    name="株式会社サンプル特定技能人材受入れ機関ホールディングス",
)
SCHOOL = auth.Organisation(organisation_id="J-000123", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="さくら日本語学院")


def _meta(name: str) -> EventMeta:
    return EventMeta(event_id=f"sample.{name}.1.0", occurred_at=AT, source="sample")


def _facts(
    org: auth.Organisation = ORG, kind: filing.FilingKind = filing.FilingKind.EMPLOYMENT_CONTRACT_CHANGE
) -> filing.FilingFacts:
    return filing.FilingFacts(
        reception_number="20270401-000001",
        kind=kind,
        kind_label=kind.label,
        person_count=3,
        version=1,
        organisation=org,
        filer_auth_id="sample_Org-01",
        filer_email="tanto@example.co.jp",
        submitted_at=AT,
    )


def sample_event(mail_type: MailType) -> Event:
    """One sample per type (the first of its variants)."""
    return next(v.event for v in VARIANTS if v.mail_type is mail_type)


@dataclass(frozen=True)
class Variant:
    """One way a mail type reads (officer reset vs own change, fix vs change, bulk vs single,
    30 vs 7 days ...): `ens mail preview` and the golden tests render each."""

    name: str
    mail_type: MailType
    event: Event


# Password set 2027-04-01 09:30 JST: valid through 2028-04-01, so it stops working at 2028-04-02 00:00 JST.
EXPIRES = datetime(2028, 4, 1, 15, 0, tzinfo=UTC)


def _variants() -> list[Variant]:
    by_officer_email = auth.EmailChanged(
        meta=_meta("email-officer"),
        auth_id="sample_Org-01",
        organisation=ORG,
        old_email="old-tanto@example.co.jp",
        new_email="tanto@example.co.jp",
        by_officer=True,
    )
    officer_reset = auth.PasswordChanged(
        meta=_meta("password-officer"),
        auth_id="sample_Org-01",
        organisation=ORG,
        email="tanto@example.co.jp",
        by_officer=True,
        password_expires_at=EXPIRES,
    )
    out = [Variant(t.value, t, _base_event(t)) for t in MailType]
    out += [
        Variant("email_changed.by_officer", MailType.EMAIL_CHANGED, by_officer_email),
        Variant("email_changed_notice.by_officer", MailType.EMAIL_CHANGED_NOTICE, by_officer_email),
        Variant("password_changed.by_officer", MailType.PASSWORD_CHANGED, officer_reset),
        Variant(
            "password_expiry_soon.30_days",
            MailType.PASSWORD_EXPIRY_SOON,
            auth.PasswordExpiryWarned(
                meta=EventMeta(
                    event_id="sample.expiry30.1.0", occurred_at=datetime(2028, 3, 1, 23, 0, tzinfo=UTC), source="sample"
                ),
                auth_id="sample_Org-01",
                organisation=ORG,
                email="tanto@example.co.jp",
                password_expires_at=EXPIRES,
                days_before=30,
            ),
        ),
        Variant(
            "filing_submitted.bulk",
            MailType.FILING_SUBMITTED,
            filing.FilingSubmitted(
                meta=_meta("submitted-bulk"), filing=_facts().model_copy(update={"person_count": 300}), bulk=True
            ),
        ),
        Variant(
            "filing_changed.fix",
            MailType.FILING_CHANGED,
            filing.FilingChanged(
                meta=_meta("changed-fix"),
                filing=_facts(SCHOOL, filing.FilingKind.SCHOOL_PERIODIC_REPORT).model_copy(update={"version": 3}),
                was_fix=True,
            ),
        ),
    ]
    return out


def _base_event(mail_type: MailType) -> Event:
    expires = EXPIRES
    match mail_type:
        case MailType.REGISTRATION_COMPLETE:
            return auth.AccountActivated(
                meta=_meta("activated"),
                auth_id="sample_Org-01",
                organisation=ORG,
                email="tanto@example.co.jp",
                password_expires_at=expires,
            )
        case MailType.AUTH_ID_REISSUE:
            return auth.AuthIdReissued(
                meta=_meta("reissued"), auth_id="sample_Org-01", organisation=ORG, email="tanto@example.co.jp"
            )
        case MailType.EMAIL_CHANGED | MailType.EMAIL_CHANGED_NOTICE:
            return auth.EmailChanged(
                meta=_meta("email"),
                auth_id="sample_Org-01",
                organisation=ORG,
                old_email="old-tanto@example.co.jp",
                new_email="tanto@example.co.jp",
            )
        case MailType.PASSWORD_CHANGED:
            return auth.PasswordChanged(
                meta=_meta("password"),
                auth_id="sample_Org-01",
                organisation=ORG,
                email="tanto@example.co.jp",
                by_officer=False,
                password_expires_at=expires,
            )
        case MailType.PASSWORD_EXPIRY_SOON:
            return auth.PasswordExpiryWarned(
                meta=_meta("expiry"),
                auth_id="sample_Org-01",
                organisation=ORG,
                email="tanto@example.co.jp",
                password_expires_at=expires,
                days_before=7,
            ).model_copy(
                update={
                    "meta": EventMeta(
                        event_id="sample.expiry.1.0", occurred_at=datetime(2028, 3, 24, 23, 0, tzinfo=UTC), source="sample"
                    )
                }
            )
        case MailType.FILING_SUBMITTED:
            return filing.FilingSubmitted(meta=_meta("submitted"), filing=_facts(), bulk=False)
        case MailType.FILING_CHANGED:
            return filing.FilingChanged(meta=_meta("changed"), filing=_facts(), was_fix=False)
        case MailType.FILING_WITHDRAWN:
            return filing.FilingWithdrawn(meta=_meta("withdrawn"), filing=_facts())
        case MailType.FIX_REQUESTED:
            return filing.FilingReturned(
                meta=_meta("returned"),
                filing=_facts(SCHOOL, filing.FilingKind.SCHOOL_PERIODIC_REPORT),
                reasons=["在籍者数の記載が前回の報告と一致しません。", "出席率の算定期間を記入してください。"],
            )
    raise ValueError(mail_type)


SAMPLE_DAY = date(2027, 4, 1)


def _owned(variant: Variant) -> Variant:
    """Samples say the service that owns their subject made them, as every real event does
    (the notifier mails no event whose source is not its subject's owner)."""
    owner = subjects.event_owner(variant.event.SUBJECT) or "sample"
    meta = variant.event.meta.model_copy(update={"source": owner})
    return Variant(variant.name, variant.mail_type, variant.event.model_copy(update={"meta": meta}))


VARIANTS: list[Variant] = [_owned(v) for v in _variants()]
