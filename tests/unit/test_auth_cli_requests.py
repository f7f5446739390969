"""`ens account` officer commands on request (issue 15): the new subcommands exist, and where a
request came from is given as three options together or not at all."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from contracts import auth as a
from ens.cli import cli
from ens.commands.auth import provenance


def test_the_officers_new_commands_are_there_and_ask_where_the_request_came_from():
    runner = CliRunner()
    for command in ("change-email", "change-details"):
        shown = runner.invoke(cli, ["account", command, "--help"])
        assert shown.exit_code == 0, shown.output
        assert "--channel" in shown.output and "--bureau" in shown.output and "--form-ref" in shown.output
    missing = runner.invoke(cli, ["account", "change-email", "org-user1", "new@example.jp"])
    assert missing.exit_code == 2 and "--channel" in missing.output  # required for these two


def test_provenance_is_all_three_options_or_none():
    assert provenance(None, None, None) is None
    request = provenance("郵送", "大阪出入国在留管理局", "大郵-88")
    assert request == a.RequestProvenance(channel=a.RequestChannel.POST, bureau="大阪出入国在留管理局", form_reference="大郵-88")
    assert provenance("counter", "東京出入国在留管理局", "東-1").channel is a.RequestChannel.COUNTER
    with pytest.raises(click.UsageError):
        provenance("counter", None, "東-1")
