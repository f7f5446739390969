"""The suite as users run it: `ens demo` delivers all nine mail types; two of each service on a
3-node NATS cluster lose no mail while a node is killed and restarted."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ens_demo_delivers_all_nine_mail_types(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENS_")}
    env["ENS_DATA_DIR"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "ens", "demo"], env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "9種類すべてのメールが配信されました: [1, 2, 3, 4, 5, 6, 7, 8, 9]" in result.stdout
    assert "Traceback" not in result.stderr


def _bench_module():
    spec = importlib.util.spec_from_file_location("cluster_fault", ROOT / "bench" / "cluster_fault.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_cluster_keeps_delivering_through_a_node_loss_with_no_mail_lost_or_doubled():
    bench = _bench_module()
    result = asyncio.run(bench.run(accounts=4, rounds=6, fault=True, say=lambda _: None))
    assert result["events"] >= 4 * 6
    assert result["events_missing"] == 0, result  # every command answered ok has its event
    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["delivered"] == result["events"]
