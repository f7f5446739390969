"""One valid account per organisation (Q26): an organisation is claimed for an auth ID."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from services.auth.domain.account import Account

# A registration writes its account milliseconds after its claim; only a crashed one leaves a
# claim without an account that long.
ORGANISATION_CLAIM_GRACE = timedelta(minutes=10)


class Claim(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    auth_id: str
    claimed_at: datetime | None = None


def claim_held(claim: Claim, holder: Account | None, now: datetime) -> bool:
    """A claim stands while its account is valid, or, with no account written yet, while it may
    still be a registration in progress. Taking such a claim sooner let two concurrent
    registrations for one organisation both succeed."""
    if holder is None:
        return claim.claimed_at is not None and now - claim.claimed_at < ORGANISATION_CLAIM_GRACE
    return holder.status.is_valid
