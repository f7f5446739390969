"""compose.yaml's bounce intake: its own container and identity, its SMTP port published, the
bounce domain the notifier writes into its envelope senders, and none of the other services' secrets."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_the_intake_runs_alone_as_the_bounces_identity_with_its_port_published() -> None:
    svc = SERVICES["bounces"]
    assert svc["command"] == ["ens", "run", "bounces"]
    env = svc["environment"]
    assert env["ENS_NATS_IDENTITY"] == "bounces"
    assert env["ENS_NATS_NKEY_SEED_FILE"] == "/run/secrets/nkey"
    assert svc["secrets"] == [{"source": "bounces-nkey", "target": "nkey"}]
    assert COMPOSE["secrets"]["bounces-nkey"]["file"] == "./secrets/nats/bounces.nk"
    assert f"{env['ENS_BOUNCES_PORT']}:{env['ENS_BOUNCES_PORT']}" in svc["ports"]
    assert env["ENS_BOUNCES_HOST"] == "0.0.0.0"


def test_the_intake_and_the_notifier_read_one_bounce_domain() -> None:
    assert (
        SERVICES["bounces"]["environment"]["ENS_NOTIFIER_BOUNCE_DOMAIN"]
        == (SERVICES["notifier"]["environment"]["ENS_NOTIFIER_BOUNCE_DOMAIN"])
    )


def test_the_intake_holds_no_other_secret() -> None:
    env = SERVICES["bounces"]["environment"]
    assert "ENS_AUTH_OPERATOR_TOKEN" not in env and "ENS_FILING_KEYS" not in env and "ENS_SMTP_PASSWORD" not in env
