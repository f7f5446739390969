"""compose.yaml's NATS nodes take the largest request the suite accepts (issue 16): their
configuration is parsed and compared with the settings and the contracts' body limits, so an
upload the filing service would accept never fails in the client with a NATS error instead."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from contracts import filing as f
from services.filing.settings import FilingSettings
from tests.conftest import TEST_KEY_1

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024
UNITS = {"": 1, "k": 1000, "kb": 1024, "ki": 1024, "kib": 1024, "m": 1000**2, "mb": 1024**2, "mi": 1024**2, "mib": 1024**2}


def size(text: str) -> int:
    """A nats-server configuration size (`8MB` is 8 MiB, as the server reads it)."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    assert m, text
    return int(m.group(1)) * UNITS[m.group(2).lower()]


def node_max_payloads() -> dict[str, int]:
    """Each NATS node's max_payload: from its command line, or from the config file it mounts."""
    found: dict[str, int] = {}
    for name, svc in COMPOSE["services"].items():
        if not name.startswith("nats-"):
            continue
        cmd = [str(c) for c in svc.get("command", [])]
        value: int | None = None
        for flag in ("--max_payload", "-max_payload"):
            if flag in cmd:
                value = size(cmd[cmd.index(flag) + 1])
        if "-c" in cmd:
            conf_in_container = cmd[cmd.index("-c") + 1]
            mounts = [str(v).split(":") for v in svc.get("volumes", [])]
            (host_path,) = [m[0] for m in mounts if len(m) >= 2 and m[1] == conf_in_container]
            text = (ROOT / host_path).read_text()
            m = re.search(r"^\s*max_payload\s*[:=]\s*\"?([^\"\n#]+)", text, re.M)
            if m:
                value = size(m.group(1))
        found[name] = value if value is not None else NATS_DEFAULT_MAX_PAYLOAD
    return found


def bulk_request_bytes(upload_bytes: int) -> int:
    cmd = f.SubmitBulkFiling(
        session_token="s" * 256,
        kind=f.FilingKind.EMPLOYMENT_CONTRACT_CHANGE,
        filename="x" * 255 + ".csv",
        csv_base64="A" * (4 * -(-upload_bytes // 3)),
    )
    return len(cmd.model_dump_json().encode())


def test_the_compose_cluster_has_three_nodes_with_a_max_payload_each():
    assert sorted(node_max_payloads()) == ["nats-1", "nats-2", "nats-3"]


def test_every_node_takes_the_largest_bulk_upload_the_filing_settings_accept():
    env = COMPOSE["services"]["filing"].get("environment") or {}
    configured = env.get("ENS_FILING_MAX_UPLOAD_BYTES")
    upload = int(configured) if configured else FilingSettings(keys=f"k1:{TEST_KEY_1}").max_upload_bytes
    needed = bulk_request_bytes(upload)
    for node, limit in node_max_payloads().items():
        assert limit >= needed, (node, limit, needed)


def test_every_node_takes_the_largest_submission_of_persons_the_contract_accepts():
    for node, limit in node_max_payloads().items():
        assert limit >= f.MAX_PERSONS_BODY_BYTES, (node, limit)


def test_sizes_read_as_nats_server_reads_them():
    assert size("8MB") == 8 * 1024 * 1024
    assert size("1048576") == NATS_DEFAULT_MAX_PAYLOAD
