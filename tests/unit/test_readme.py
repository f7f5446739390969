"""The README is the user's manual: every setting and every `ens` command is in it."""

from __future__ import annotations

from pathlib import Path

import click

from ens import readme
from ens.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_settings_table_is_the_one_the_settings_classes_generate():
    assert readme.render(README) == README, "README.md settings table is stale: run `make docs`"


def test_every_setting_says_what_it_means():
    missing = [env for env, _, meaning in readme.rows() if not meaning]
    assert not missing, f"settings without a description: {missing}"


def test_every_ens_setting_is_in_the_table():
    table = readme.table()
    for cls in readme.settings_classes():
        for name, info in cls.model_fields.items():
            env = readme.env_name(cls, name, info)
            assert env.startswith("ENS_") is (f"`{env}`" in table), env  # XDG_CONFIG_HOME is not ours to list


def _commands(group: click.Group, prefix: str = "ens") -> list[str]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix} {name}")
        else:
            out.append(f"{prefix} {name}")
    return out


def test_every_ens_command_is_documented():
    missing = [c for c in _commands(cli) if f"`{c}" not in README]
    assert not missing, f"ens commands missing from README.md: {missing}"
