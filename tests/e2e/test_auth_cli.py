"""The `ens` auth commands as an operator, an officer and an organisation run them: real
processes against the auth service on a real nats-server; passwords only ever on stdin."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from contracts import auth as c
from contracts.client import EnsClient
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support import bus
from tests.support.suite import running

ENS = [sys.executable, "-m", "ens"]
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def nats_client(url: str) -> AsyncIterator[EnsClient]:
    nc = await bus.connect_as(url, "operator")
    try:
        yield EnsClient(nc, timeout=30)
    finally:
        await nc.close()


async def ens(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *ENS,
        *args,
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_operator_officer_and_organisation_use_the_auth_commands(nats_url, tmp_path, clock):
    session_file = tmp_path / "session.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENS_")}
    env.update(
        ENS_NATS_URL=nats_url,
        ENS_SESSION_FILE=str(session_file),
        ENS_AUTH_OPERATOR_TOKEN=TEST_OPERATOR_TOKEN,
        ENS_NATS_CREDENTIALS_DIR=str(RuntimeSettings().credentials_dir),  # the test server's seeds
    )
    async with running(["auth"], nats_url, clock=clock):
        code, out, err = await ens(
            env,
            "officer",
            "create",
            "--auth-id",
            "officer01",
            "--name",
            "審査 太郎",
            "--email",
            "o@example.go.jp",
            stdin="Officer#2027x\n",
        )
        assert code == 0, err

        code, out, err = await ens(env, "login", "officer01", stdin="Officer#2027x\n")
        assert code == 0 and "ログインしました" in out, err
        assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
        assert "Officer#2027x" not in session_file.read_text()

        code, out, err = await ens(
            env,
            "account",
            "register",
            "--organisation-id",
            "2180301018771",
            "--kind",
            "accepting_organisation",
            "--name",
            "株式会社テスト",
            "--auth-id",
            "org-user1",
            "--email",
            "org@example.jp",
            stdin="Secret#123abc\n",
        )
        assert code == 1 and "法人番号" in err and "organisation.organisation_id" in err and "チェックデジット" in err

        code, out, err = await ens(
            env,
            "account",
            "register",
            "--organisation-id",
            "1180301018771",
            "--kind",
            "accepting_organisation",
            "--name",
            "株式会社テスト",
            "--auth-id",
            "org-user1",
            "--email",
            "org@example.jp",
            stdin="Secret#123abc\n",
        )
        assert code == 0 and "org-user1" in out, err

        code, out, err = await ens(env, "account", "show", "--auth-id", "org-user1", "--json")
        assert code == 0, err
        assert json.loads(out)["account"]["status"] == "pending"

        code, out, err = await ens(env, "notice", "publish", "--title", "メンテナンスのお知らせ", "--body", "停止します。")
        assert code == 0, err
        code, out, err = await ens(env, "notice", "list")
        assert code == 0 and "メンテナンスのお知らせ" in out

        code, out, err = await ens(env, "logout")
        assert code == 0 and not session_file.exists()

        code, out, err = await ens(env, "login", "org-user1", "--json", stdin="Secret#123abc\n")
        assert code == 1 and json.loads(out)["error"]["code"] == "registration_pending"

        code, out, err = await ens(env, "login", "org-user1", stdin="Wrong#999zz\n")
        assert code == 1 and "login_failed" in err

        # The next-day batch (the scheduler's `ens jobs run` would send this), then the organisation.
        async with nats_client(nats_url) as client:
            # forced: dated ahead of the services' clock, as an operator may on purpose
            await client.call(c.ActivateDueRegistrations(as_of=clock.now() + timedelta(days=2), force=True))
        org_env = {**env, "ENS_SESSION_FILE": str(tmp_path / "org-session.json")}
        code, out, err = await ens(org_env, "login", "org-user1", stdin="Secret#123abc\n")
        assert code == 0 and "メンテナンスのお知らせ" in out, err  # notices come with the login
        code, out, err = await ens(org_env, "passwd", stdin="Secret#123abc\nChanged#456def\n")
        assert code == 0, err
        code, out, err = await ens(org_env, "passwd", stdin="Changed#456def\nshort\n")
        assert code == 1 and "new_password" in err and "文字以上" in err
        code, out, err = await ens(org_env, "email", "new@example.jp")
        assert code == 0, err

        code, out, err = await ens(env, "login", "officer01", stdin="Officer#2027x\n")
        assert code == 0, err
        for args, stdin in (
            (("account", "reissue-id", "1180301018771"), ""),
            (("account", "set-password", "org-user1"), "Officer-set#789\n"),
            (("account", "show", "--organisation-id", "1180301018771"), ""),
        ):
            code, out, err = await ens(env, *args, stdin=stdin)
            assert code == 0, (args, err)
        assert "new@example.jp" in out
        code, out, err = await ens(env, "account", "deregister", "org-user1", "--yes")
        assert code == 0, err
        code, out, err = await ens(org_env, "email", "other@example.jp")
        assert code == 1 and "unauthenticated" in err  # its session ended with the deregistration
