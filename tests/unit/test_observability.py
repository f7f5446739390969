"""Trace ids, log lines and grants of the operations side (issue 18), without NATS."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services.runtime import identities, metrics, tracing
from services.runtime.logging import configure_logging


def test_a_traceparent_gives_its_trace_id_and_a_malformed_or_all_zero_one_gives_none():
    tid = tracing.new_trace_id()
    assert tracing.parse(tracing.traceparent(tid)) == tid
    assert tracing.parse(f"00-{tid.upper()}-{'a' * 16}-01") == tid
    for bad in (None, "", "garbage", f"00-{tid[:-1]}-{'a' * 16}-01", f"00-{'0' * 32}-{'a' * 16}-01"):
        assert tracing.parse(bad) is None


def test_headers_carry_a_trace_only_when_there_is_one():
    assert tracing.headers({"Nats-Msg-Id": "x"}, None) == {"Nats-Msg-Id": "x"}
    tid = tracing.new_trace_id()
    assert tracing.from_headers(tracing.headers({"Nats-Msg-Id": "x"}, tid)) == tid


def test_a_json_log_line_written_inside_a_trace_names_it_and_libraries_stay_quiet(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("INFO", "json")
    try:
        with tracing.use(None) as tid:
            logging.getLogger("ens.test").info("inside")
        logging.getLogger("ens.test").info("outside")
        logging.getLogger("apscheduler.scheduler").info("Adding job tentatively")
        logging.getLogger("mail.log").info("EHLO")
    finally:
        configure_logging("INFO")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["inside", "outside"]
    assert lines[0]["trace_id"] == tid and "trace_id" not in lines[1]


def test_services_answer_the_service_api_for_their_own_name_and_only_the_operator_may_ask():
    for service in identities.SERVICES:
        grant = identities.grant(service)
        assert "$SRV.PING" in grant.subscribe and f"$SRV.*.ens-{service}" in grant.subscribe
        assert not any(other in s for s in grant.subscribe for other in identities.SERVICES if other != service and "SRV" in s)
    assert "$SRV.>" in identities.grant("operator").publish
    assert not any(p.startswith("$SRV") for p in identities.grant("client").publish)


@pytest.mark.parametrize("on", [True, False])
def test_hooks_count_only_while_metrics_are_on(on):
    before = metrics.MAILS.labels("unit_test_type", "sent")._value.get()
    metrics.set_enabled(on)
    try:
        metrics.mail_settled("unit_test_type", "sent")
    finally:
        metrics.set_enabled(True)
    assert metrics.MAILS.labels("unit_test_type", "sent")._value.get() - before == (1 if on else 0)


def test_the_dashboard_and_the_operations_guide_name_only_metrics_that_exist():
    import re
    from pathlib import Path

    from prometheus_client import REGISTRY

    root = Path(__file__).resolve().parents[2]
    known = {sample.name for family in REGISTRY.collect() for sample in family.samples}
    known |= {f.name for f in REGISTRY.collect()}
    for metric in (metrics.COMMAND_DURATION, metrics.SMTP_DURATION):
        known |= {f"{metric._name}_bucket", f"{metric._name}_count", f"{metric._name}_sum"}
    known |= {"ens_commands_total", "ens_notifier_mails_total", "ens_outbox_events_published_total"}
    known |= {"ens_scheduler_job_runs_total", "ens_auth_password_hashes_total", "ens_build_info"}
    for doc in ("deploy/grafana/ens-suite.json", "docs/OPERATIONS.md"):
        named = set(re.findall(r"\bens_[a-z_]+[a-z]", (root / doc).read_text()))
        named -= {"ens_suite", "ens_events", "ens_audit"}
        assert named and named <= known, (doc, sorted(named - known))
