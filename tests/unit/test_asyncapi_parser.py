"""The official AsyncAPI tooling accepts docs/asyncapi.json: `@asyncapi/parser` (npm, pinned in
tools/asyncapi/package-lock.json) parses it with 0 errors, and every example of every message fits
the message's payload and headers schemas as the parser resolved them (Ajv, formats asserted).

Needs Node.js; without it the test skips with one line saying so. The parser is installed into
tools/asyncapi/node_modules on first use (`npm ci`, as `make asyncapi-tools` does)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "asyncapi"
DOC = ROOT / "docs" / "asyncapi.json"


def _tools() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js (node and npm) not found: the AsyncAPI parser check needs it (CI has it)")
    if not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=TOOLS, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"npm ci in tools/asyncapi failed:\n{done.stderr[-2000:]}"
    return node


def test_the_official_asyncapi_parser_accepts_the_document_and_every_example_fits_its_schema():
    node = _tools()
    done = subprocess.run([node, "validate.mjs", str(DOC)], cwd=TOOLS, capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["parsed"], report["diagnostics"]
    errors = [d for d in report["diagnostics"] if d["severity"] == 0]
    assert not errors, errors
    warnings = [d for d in report["diagnostics"] if d["severity"] == 1]
    assert not warnings, warnings
    assert not report["example_errors"], report["example_errors"]
    messages = json.loads(DOC.read_text())["components"]["messages"]
    assert report["examples"] == sum(len(m["examples"]) for m in messages.values()) > 0
    assert done.returncode == 0
