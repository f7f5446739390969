"""The notifier's two questions to auth: who holds a session (ResendMail is an officer's
command) and where an account's mail goes now (a resent mail goes to the address registered
now, not the one the original went to)."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.auth import GetOrganisationContact, IntrospectSession, OrganisationContact
from contracts.client import CommandRefused, EnsClient
from contracts.organisations import Role
from services.runtime.errors import Unauthenticated, Unavailable

AUTH_DOWN = "認証サービスが応答しません。しばらくしてから再度お試しください。"


@dataclass(frozen=True)
class Caller:
    """Who sent a session command to the notifier."""

    auth_id: str
    role: Role


class AuthClient:
    def __init__(self, client: EnsClient) -> None:
        self._client = client

    async def caller(self, token: str) -> Caller:
        """Asked at every command: a session auth has ended is refused at once."""
        try:
            info = await self._client.call(IntrospectSession(session_token=token))
        except CommandRefused as exc:
            raise Unavailable(AUTH_DOWN) from exc
        if not info.active or info.role is None or info.auth_id is None:
            raise Unauthenticated()
        return Caller(auth_id=info.auth_id, role=info.role)

    async def contact(self, *, auth_id: str | None, organisation_id: str | None) -> OrganisationContact:
        # By auth ID where auth's contract takes one (an addition auth is making), else by organisation.
        fields = {"auth_id": auth_id} if auth_id and "auth_id" in GetOrganisationContact.model_fields else {}
        if not fields and organisation_id:
            fields = {"organisation_id": organisation_id}
        if not fields:
            raise LookupError("auth cannot be asked for this account's address (GetOrganisationContact takes no auth_id yet)")
        try:
            return await self._client.call(GetOrganisationContact.model_validate(fields))
        except CommandRefused as exc:
            raise Unavailable(AUTH_DOWN) from exc
