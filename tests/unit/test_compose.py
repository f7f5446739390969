"""compose.yaml has the shape operators rely on (no Docker engine here, so its structure is checked)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from contracts import subjects

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_three_nats_nodes_form_one_jetstream_cluster():
    nodes = [n for n in SERVICES if n.startswith("nats-")]
    assert sorted(nodes) == ["nats-1", "nats-2", "nats-3"]
    for node in nodes:
        cmd = SERVICES[node]["command"]
        assert "-js" in cmd and "--cluster_name" in cmd and cmd[cmd.index("--cluster_name") + 1] == "ens"
        routes = cmd[cmd.index("--routes") + 1].split(",")
        assert {r.split("//")[1].split(":")[0] for r in routes} == set(nodes) - {node}
        assert SERVICES[node]["healthcheck"]["test"]
        assert any(v.endswith(":/data") for v in SERVICES[node]["volumes"])


def test_each_service_runs_alone_against_the_cluster_with_three_replicas():
    for name in subjects.SERVICES:
        svc = SERVICES[name]
        assert svc["command"] == ["ens", "run", name]
        env = svc["environment"]
        assert env["ENS_NATS_URL"].count("nats://") == 3
        assert env["ENS_STREAM_REPLICAS"] == "3"
        assert env["ENS_SMTP_HOST"] == "mailpit"
        assert svc["healthcheck"]["test"] == ["CMD", "ens", "status"]
        assert {"nats-1", "nats-2", "nats-3"} <= set(svc["depends_on"])


def test_notifier_and_filing_have_replicas():
    assert SERVICES["notifier"]["deploy"]["replicas"] >= 2
    assert SERVICES["filing"]["deploy"]["replicas"] >= 2


def test_secrets_are_required_not_defaulted():
    env = SERVICES["auth"]["environment"]
    for secret in ("ENS_AUTH_OPERATOR_TOKEN", "ENS_FILING_KEYS"):
        assert re.fullmatch(r"\$\{%s:\?.+\}" % secret, env[secret]), env[secret]


def test_mail_catcher_has_a_web_ui():
    assert "mailpit" in SERVICES["mailpit"]["image"]
    assert "8025:8025" in SERVICES["mailpit"]["ports"]
