"""The opening most end-to-end stories share: an officer, and an organisation registered by that
officer and activated by the next-day batch. Returns a fresh officer session."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import auth as a
from contracts.client import EnsClient
from contracts.organisations import OrganisationKind
from services.runtime.clock import FakeClock
from tests.conftest import TEST_OPERATOR_TOKEN

OFFICER_ID, OFFICER_PW = "officer01", "Officer#2027x"
ORG = a.Organisation(organisation_id="1000011000005", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社サンプル")
ACCOUNT_ID, ACCOUNT_PW, ACCOUNT_EMAIL = "sample-corp01", "Secret#123abc", "tanto@example.jp"
NEXT_DAY_0900_JST = datetime(2027, 4, 2, 0, 0, tzinfo=UTC)


async def officer_and_active_account(
    client: EnsClient,
    clock: FakeClock,
    activate_at: datetime = NEXT_DAY_0900_JST,
    *,
    organisation: a.Organisation = ORG,
    auth_id: str = ACCOUNT_ID,
    password: str = ACCOUNT_PW,
    email: str = ACCOUNT_EMAIL,
) -> str:
    """The officer, and the organisation's account registered by it and activated at
    `activate_at`; returns a fresh officer session."""
    await client.call(
        a.CreateOfficer(
            operator_token=TEST_OPERATOR_TOKEN,
            auth_id=OFFICER_ID,
            password=OFFICER_PW,
            name="審査 太郎",
            email="officer@example.go.jp",
        )
    )
    officer = (await client.call(a.Login(auth_id=OFFICER_ID, password=OFFICER_PW))).session_token
    await client.call(
        a.RegisterAccount(
            session_token=officer, organisation=organisation, auth_id=auth_id, initial_password=password, email=email
        )
    )
    clock.set(activate_at)
    await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
    return (await client.call(a.Login(auth_id=OFFICER_ID, password=OFFICER_PW))).session_token
