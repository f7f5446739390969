"""Sessions (SPEC §1): idle timeout restarted by every use, absolute timeout from login. The
token itself is never stored (see the adapter); a session record names its holder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from contracts.organisations import Role
from services.auth.domain.account import Account
from services.auth.domain.periods import Periods


class Session(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    auth_id: str
    role: Role
    created_at: datetime
    last_seen_at: datetime
    ended: bool = False

    def expires_at(self, periods: Periods) -> datetime:
        return min(self.last_seen_at + periods.session_idle, self.created_at + periods.session_absolute)

    def live(self, now: datetime, periods: Periods) -> bool:
        return not self.ended and now < self.expires_at(periods)


def opened(auth_id: str, role: Role, now: datetime) -> Session:
    return Session(auth_id=auth_id, role=role, created_at=now, last_seen_at=now)


def touched(session: Session, now: datetime, periods: Periods) -> Session | None:
    """The session after a use at `now`, or None if it is dead (ended or timed out)."""
    if not session.live(now, periods):
        return None
    return session.model_copy(update={"last_seen_at": max(now, session.last_seen_at)})


@dataclass(frozen=True)
class Caller:
    """Who a command's session belongs to: the pipeline's principal for auth's own commands."""

    auth_id: str
    role: Role
    account: Account
    session: Session
