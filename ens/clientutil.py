"""What every client command of `ens` shares: connecting, the saved session, secrets from a
prompt, and printing replies and refusals (Japanese message with the field) or JSON.

A command module (ens/commands/<area>.py) writes, for example:

    @group.command("passwd")
    @json_option
    def passwd(as_json):
        current = ask_secret("現在のパスワード")
        new = ask_secret("新しいパスワード", confirm=True)
        call(lambda c: c.call(ChangePassword(session_token=session_token(), current_password=current,
                                             new_password=new)), as_json)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from contracts.client import CommandRefused, EnsClient
from ens.settings import CliSettings
from services.runtime.settings import SettingsError, load_settings

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON (for scripts).")


def cli_settings() -> CliSettings:
    """The `ens` command's own settings; a bad one ends the command with one line naming it."""
    try:
        return load_settings(CliSettings)
    except SettingsError as exc:
        click.echo(f"ens: {exc}", err=True)
        sys.exit(2)


def session_file() -> Path:
    """Where the logged-in session token is kept: ENS_SESSION_FILE or ~/.config/ens/session.json (mode 0600)."""
    return cli_settings().session_path


def save_session(data: dict[str, Any]) -> Path:
    path = session_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, ensure_ascii=False)
    os.chmod(path, 0o600)
    return path


def load_session() -> dict[str, Any] | None:
    path = session_file()
    if not path.exists():
        return None
    saved: dict[str, Any] = json.loads(path.read_text())
    return saved


def clear_session() -> None:
    session_file().unlink(missing_ok=True)


def session_token() -> str:
    saved = load_session()
    if not saved or not saved.get("session_token"):
        click.echo("ens: ログインしていません。先に `ens login` を実行してください。", err=True)
        sys.exit(1)
    return str(saved["session_token"])


def ask_secret(label: str, confirm: bool = False) -> str:
    """A password from the terminal (hidden) or, when stdin is not a terminal, one line of stdin.
    Never a command-line argument: those end up in shell history and `ps`."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            click.echo(f"ens: {label} を標準入力から読み取れませんでした。", err=True)
            sys.exit(2)
        return line.rstrip("\n")
    return str(click.prompt(label, hide_input=True, confirmation_prompt=confirm))


def print_reply(reply: BaseModel, as_json: bool, text: Callable[[Any], str] | None = None) -> None:
    if as_json:
        click.echo(reply.model_dump_json())
    elif text is not None:
        click.echo(text(reply))
    else:
        click.echo(json.dumps(reply.model_dump(mode="json"), ensure_ascii=False, indent=2))


def print_refusal(exc: CommandRefused, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": exc.error.model_dump(mode="json")}, ensure_ascii=False))
        return
    click.echo(f"エラー [{exc.error.code}]: {exc.error.message}", err=True)
    for f in exc.error.fields:
        where = f.label or f.field
        if f.row is not None:
            where = f"{f.row}行目 {f.column or where}"
        click.echo(f"  - {where}（{f.field}）: {f.message}", err=True)


def run_client(fn: Callable[[EnsClient], Awaitable[T]]) -> T:
    """Connect to ENS_NATS_URL, run fn with a client, close. Unreachable NATS: one line, exit 1."""
    from ens.cli import connect_client, runtime_settings

    settings = runtime_settings()

    async def go() -> T:
        nc, client = await connect_client(settings)
        try:
            return await fn(client)
        finally:
            await nc.close()

    return asyncio.run(go())


def call(
    fn: Callable[[EnsClient], Awaitable[BaseModel]],
    as_json: bool,
    text: Callable[[Any], str] | None = None,
) -> BaseModel | None:
    """Send one command and print its reply; a refusal is printed and exits 1."""
    try:
        reply = run_client(fn)
    except CommandRefused as exc:
        print_refusal(exc, as_json)
        sys.exit(1)
    print_reply(reply, as_json, text)
    return reply
