"""`ens up` as a user runs it: ready, four services answer `ens status`, SIGTERM leaves nothing running."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ens.embedded import free_port

ENS = [sys.executable, "-m", "ens"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENS_")}
    env.update({"ENS_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    """Collect stdout lines until one matches (a bound, not a sleep)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen += line
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no {pattern!r} within {timeout}s; output so far:\n{seen}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); check its state
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_ens_up_reaches_ready_answers_status_and_stops_everything(tmp_path):
    port, sink_port = free_port(), free_port()
    env = env_for(tmp_path, ENS_NATS_URL=f"nats://127.0.0.1:{port}", ENS_SINK_PORT=str(sink_port))
    proc = subprocess.Popen(ENS + ["up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = read_until(proc, r"^ens: ready", 60)
        nats_pid = int(re.search(r"nats-server \(pid (\d+)\)", out).group(1))
        assert "mail sink" in out and str(tmp_path / "data" / "mail") in out
        status = subprocess.run(ENS + ["status"], env=env, capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr
        assert [line.split()[:2] for line in status.stdout.splitlines()] == [
            ["auth", "up"],
            ["filing", "up"],
            ["notifier", "up"],
            ["scheduler", "up"],
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    assert not pid_alive(nats_pid), "nats-server was left running"
    # nothing answers any more
    status = subprocess.run(ENS + ["status"], env=env, capture_output=True, text=True, timeout=30)
    assert status.returncode != 0


@pytest.mark.parametrize(
    ("cmd", "env_extra", "needle"),
    [
        (["up"], {"ENS_NATS_URL": "localhost:4222"}, "setting ENS_NATS_URL:"),
        (
            ["run", "auth"],
            {"ENS_NATS_URL": "nats://127.0.0.1:1", "ENS_FILING_KEYS": "x"},
            "setting ENS_AUTH_OPERATOR_TOKEN: is required",
        ),
        (["run", "filing"], {"ENS_FILING_KEYS": "k1:short"}, "setting ENS_FILING_KEYS:"),
        (["status"], {"ENS_REQUEST_TIMEOUT_S": "-1"}, "setting ENS_REQUEST_TIMEOUT_S:"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_clear_line(tmp_path, cmd, env_extra, needle):
    result = subprocess.run(ENS + cmd, env=env_for(tmp_path, **env_extra), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_status_without_nats_says_so_in_one_line(tmp_path):
    result = subprocess.run(
        ENS + ["status"],
        env=env_for(tmp_path, ENS_NATS_URL=f"nats://127.0.0.1:{free_port()}"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "ENS_NATS_URL" in result.stderr
