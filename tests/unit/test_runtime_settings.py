"""A bad ENS_* setting stops start-up with one line naming the setting."""

from __future__ import annotations

import pytest

from services.auth.settings import AuthSettings
from services.filing.settings import FilingSettings
from services.runtime.settings import RuntimeSettings, SettingsError, load_settings


def test_malformed_nats_url_names_the_setting(monkeypatch):
    monkeypatch.setenv("ENS_NATS_URL", "http//nowhere")
    with pytest.raises(SettingsError) as err:
        load_settings(RuntimeSettings)
    assert str(err.value).startswith("setting ENS_NATS_URL:")
    assert "\n" not in str(err.value)


def test_cluster_urls_are_accepted(monkeypatch):
    monkeypatch.setenv("ENS_NATS_URL", "nats://a:4222, nats://b:4222,tls://c:4223")
    assert load_settings(RuntimeSettings).nats_servers == ["nats://a:4222", "nats://b:4222", "tls://c:4223"]


def test_missing_secret_names_the_setting(monkeypatch):
    monkeypatch.delenv("ENS_AUTH_OPERATOR_TOKEN", raising=False)
    with pytest.raises(SettingsError, match="ENS_AUTH_OPERATOR_TOKEN: is required"):
        load_settings(AuthSettings)


@pytest.mark.parametrize("value", ["changeme", "CHANGE-ME-please", "secret", ""])
def test_placeholder_secret_is_refused(monkeypatch, value):
    monkeypatch.setenv("ENS_AUTH_OPERATOR_TOKEN", value)
    with pytest.raises(SettingsError, match="ENS_AUTH_OPERATOR_TOKEN"):
        load_settings(AuthSettings)


@pytest.mark.parametrize("value", ["k1", "k1:notbase64!!", "k1:" + "A" * 10])
def test_malformed_encryption_keys_are_refused(monkeypatch, value):
    monkeypatch.setenv("ENS_FILING_KEYS", value)
    with pytest.raises(SettingsError, match="ENS_FILING_KEYS"):
        load_settings(FilingSettings)


def test_valid_key_ring_keeps_order(monkeypatch):
    from tests.conftest import TEST_KEY_1, TEST_KEY_2

    monkeypatch.setenv("ENS_FILING_KEYS", f"a:{TEST_KEY_1},b:{TEST_KEY_2}")
    ring = load_settings(FilingSettings).key_ring()
    assert list(ring) == ["a", "b"] and all(len(k) == 32 for k in ring.values())


def test_faststream_info_lines_stay_out_of_the_log_but_its_warnings_do_not():
    import logging

    from services.runtime.logging import configure_logging

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    configure_logging("INFO")
    faststream = logging.getLogger("faststream")
    kept = Keep()
    faststream.addHandler(kept)  # whatever handlers it has, they only see what passes the logger
    try:
        faststream.setLevel(logging.DEBUG)  # what a broker may do to the logger it is given
        faststream.info("callback for Task-1 is being executed...")
        faststream.warning("subscriber raised an exception, retrying")
    finally:
        faststream.removeHandler(kept)
    assert kept.messages == ["subscriber raised an exception, retrying"]
