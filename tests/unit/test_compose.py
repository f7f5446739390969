"""compose.yaml has the shape operators rely on (no Docker engine here, so its structure is checked)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from contracts import subjects
from contracts.filing import MAX_UPLOAD_BYTES
from ens import credentials
from ens.embedded import nats_server_binary
from services.runtime.identities import IDENTITIES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
NODE_CONF = (ROOT / "deploy" / "nats" / "nats.conf").read_text()
SERVICES = COMPOSE["services"]


def test_three_nats_nodes_form_one_jetstream_cluster_from_one_config():
    nodes = [n for n in SERVICES if n.startswith("nats-")]
    assert sorted(nodes) == ["nats-1", "nats-2", "nats-3"]
    routes = re.search(r"routes: \[(.*)\]", NODE_CONF)
    assert routes is not None
    assert {r.split("//")[1].split(":")[0] for r in re.findall(r'"([^"]+)"', routes.group(1))} == set(nodes)
    for node in nodes:
        svc = SERVICES[node]
        assert svc["command"] == ["-c", "/etc/nats/nats.conf"]
        assert svc["environment"]["NATS_SERVER_NAME"] == node
        assert svc["environment"]["NATS_SYNC_INTERVAL"] == "always"  # docs/SECURITY.md, Durability
        assert "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro" in svc["volumes"]
        assert "./secrets/nats/nats-authorization.conf:/etc/nats/nats-authorization.conf:ro" in svc["volumes"]
        assert svc["healthcheck"]["test"]
        assert any(v.endswith(":/data") for v in svc["volumes"])


def test_the_node_config_with_generated_authorization_is_one_nats_server_accepts(tmp_path):
    """No Docker engine here: the node's config is checked by the real nats-server (`-t`), with
    the authorization `ens nats-config` writes and the variables compose sets."""
    credentials.write_server_authorization(tmp_path)
    (tmp_path / "nats.conf").write_text(NODE_CONF.replace('"/data"', f'"{tmp_path / "data"}"'))
    env = {**os.environ, "NATS_SERVER_NAME": "nats-1", "NATS_SYNC_INTERVAL": "always"}
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(tmp_path / "nats.conf"), "-t"], env=env, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    authorization = (tmp_path / credentials.AUTH_CONF).read_text()
    assert "no_auth_user" not in authorization and authorization.count("nkey:") == len(IDENTITIES)


def test_the_nats_payload_limit_fits_the_largest_request():
    limit = re.search(r"max_payload: (\d+)MB", NODE_CONF)
    assert limit is not None
    largest_request = MAX_UPLOAD_BYTES * 4 // 3 + 64 * 1024  # base64 CSV inside a JSON command
    assert int(limit.group(1)) * 1000 * 1000 >= largest_request


def test_each_service_runs_alone_against_the_cluster_as_its_own_identity():
    for name in subjects.SERVICES:
        svc = SERVICES[name]
        assert svc["command"] == ["ens", "run", name]
        env = svc["environment"]
        assert env["ENS_NATS_URL"].count("nats://") == 3
        assert env["ENS_STREAM_REPLICAS"] == "3"
        assert env["ENS_SMTP_HOST"] == "mailpit"
        assert env["ENS_NATS_IDENTITY"] == name
        assert env["ENS_NATS_NKEY_SEED_FILE"] == "/run/secrets/nkey"
        assert svc["secrets"] == [{"source": f"{name}-nkey", "target": "nkey"}]
        assert COMPOSE["secrets"][f"{name}-nkey"]["file"] == f"./secrets/nats/{name}.nk"
        assert "http://127.0.0.1:9464/readyz" in " ".join(svc["healthcheck"]["test"])
        assert {"nats-1", "nats-2", "nats-3"} <= set(svc["depends_on"])


def test_notifier_and_filing_have_replicas():
    assert SERVICES["notifier"]["deploy"]["replicas"] >= 2
    assert SERVICES["filing"]["deploy"]["replicas"] >= 2


def test_secrets_are_required_not_defaulted():
    env = SERVICES["auth"]["environment"]
    for secret in ("ENS_AUTH_OPERATOR_TOKEN", "ENS_FILING_KEYS"):
        assert re.fullmatch(rf"\$\{{{secret}:\?.+\}}", env[secret]), env[secret]


def test_mail_catcher_has_a_web_ui():
    assert "mailpit" in SERVICES["mailpit"]["image"]
    assert "8025:8025" in SERVICES["mailpit"]["ports"]
