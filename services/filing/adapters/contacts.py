"""Where a filing's mails go: auth's GetOrganisationContact, asked when each event is recorded.

Not cached: the point is the address registered at that moment (an officer may have changed it
a second ago, Q22/Q43), and one request per filing command is small next to the command itself.
"""

from __future__ import annotations

from contracts.auth import GetOrganisationContact, OrganisationContact
from contracts.client import CommandRefused, EnsClient
from services.runtime.errors import Unavailable


class AuthContacts:
    """The `Contacts` port over auth's service-to-service query."""

    def __init__(self, client: EnsClient) -> None:
        self._client = client

    async def of(self, organisation_id: str) -> OrganisationContact:
        try:
            return await self._client.call(GetOrganisationContact(organisation_id=organisation_id))
        except CommandRefused as exc:
            raise Unavailable("認証サービスが応答しません。しばらくしてから再度お試しください。") from exc
