"""Filing settings fail fast on bad keys; the session gate asks auth, caches only live sessions briefly."""

from __future__ import annotations

import base64

import pytest

from contracts.auth import IntrospectSession, Organisation, SessionInfo
from contracts.common import ErrorCode
from contracts.organisations import OrganisationKind, Role
from services.filing.adapters.sessions import SessionGate
from services.filing.settings import FilingSettings
from services.runtime.errors import DomainError
from services.runtime.settings import SettingsError, load_settings

KEY = base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")
OTHER = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")


def test_the_last_key_of_the_ring_is_current():
    ring = FilingSettings(keys=f"old:{KEY}, new:{OTHER}").key_ring()
    assert list(ring) == ["old", "new"] and ring["new"] == bytes(range(32))


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ("changeme", "placeholder"),
        (f"k1{KEY}", "id:base64url"),
        ("k1:" + base64.urlsafe_b64encode(bytes(16)).decode(), "32 bytes"),
        (f"k1:{KEY},k1:{OTHER}", "twice"),
    ],
)
def test_bad_key_rings_stop_start_up_with_one_line_naming_the_setting(monkeypatch, keys, reason):
    monkeypatch.setenv("ENS_FILING_KEYS", keys)
    with pytest.raises(SettingsError) as err:
        load_settings(FilingSettings)
    assert "ENS_FILING_KEYS" in str(err.value) and reason in str(err.value)
    assert KEY not in str(err.value)


class FakeAuth:
    """Answers IntrospectSession from a table, counting questions."""

    def __init__(self) -> None:
        self.live: dict[str, SessionInfo] = {}
        self.asked = 0

    async def call(self, cmd: IntrospectSession) -> SessionInfo:
        self.asked += 1
        return self.live.get(cmd.session_token, SessionInfo(active=False))


ORG = Organisation(organisation_id="SCHOOL-A", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="学校")


async def test_a_live_session_is_asked_once_within_the_cache_time_and_an_ended_one_is_refused():
    auth = FakeAuth()
    auth.live["t" * 20] = SessionInfo(
        active=True, role=Role.ORGANISATION, auth_id="user01", organisation=ORG, email="u@example.jp"
    )
    gate = SessionGate(auth, ttl=60)  # type: ignore[arg-type]
    first = await gate.caller("t" * 20)
    again = await gate.caller("t" * 20)
    assert first == again and first.organisation == ORG and auth.asked == 1

    for _ in range(2):
        with pytest.raises(DomainError) as err:
            await gate.caller("u" * 20)
        assert err.value.code == ErrorCode.UNAUTHENTICATED
    assert auth.asked == 3  # refusals are never cached


async def test_without_a_cache_every_command_asks_auth():
    auth = FakeAuth()
    auth.live["t" * 20] = SessionInfo(active=True, role=Role.OFFICER, auth_id="officer01", email="o@example.go.jp")
    gate = SessionGate(auth, ttl=0)  # type: ignore[arg-type]
    await gate.caller("t" * 20)
    await gate.caller("t" * 20)
    assert auth.asked == 2
