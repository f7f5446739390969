"""`ens filing` as a user runs it: a real `ens` process against a real nats-server, with the real
auth and filing services checking the session."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from contracts import auth as a
from contracts.organisations import OrganisationKind
from services.runtime.clock import FakeClock
from tests.conftest import TEST_OPERATOR_TOKEN
from tests.support.suite import running

ENS = str(Path(sys.executable).with_name("ens"))
PASSWORD = "Secret#123abc"
SCHOOL = a.Organisation(organisation_id="SCHOOL-E2E", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="ひかり日本語学校")


async def ens(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        ENS, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_school_submits_the_template_example_lists_it_withdraws_it_and_a_50mb_file_is_refused_before_sending(
    nats_url, client, tmp_path: Path
):
    clock = FakeClock(datetime(2027, 4, 1, 1, 0, tzinfo=UTC))
    async with running(["auth", "filing"], nats_url, clock=clock):
        await client.call(
            a.CreateOfficer(
                operator_token=TEST_OPERATOR_TOKEN,
                auth_id="officer01",
                password="Officer#2027x",
                name="審査 太郎",
                email="o@example.go.jp",
            )
        )
        officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
        await client.call(
            a.RegisterAccount(
                session_token=officer,
                organisation=SCHOOL,
                auth_id="hikari-user",
                initial_password=PASSWORD,
                email="hikari@example.jp",
            )
        )
        clock.set(datetime(2027, 4, 2, 0, 0, tzinfo=UTC))
        await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
        token = (await client.call(a.Login(auth_id="hikari-user", password=PASSWORD))).session_token

        session = tmp_path / "session.json"
        session.write_text(json.dumps({"session_token": token}))
        env = {**os.environ, "ENS_NATS_URL": nats_url, "ENS_SESSION_FILE": str(session)}

        example = tmp_path / "bulk_example_cp932.csv"
        example.write_bytes(resources.files("services.filing").joinpath("data/bulk_example_cp932.csv").read_bytes())
        code, out, err = await ens(env, "filing", "submit", "--kind", "school_adhoc_report", "--csv", str(example))
        assert code == 0, err
        assert "受付番号" in out and "対象者 3人" in out and "読み込み中" in err
        number = out.split("受付番号 ")[1].split("（")[0]

        code, out, _ = await ens(env, "filing", "list", "--json")
        page = json.loads(out)
        assert code == 0 and page["total"] == 1 and page["items"][0]["reception_number"] == number

        code, out, _ = await ens(env, "filing", "show", number)
        assert code == 0 and "NGUYEN VAN AN" in out and "AB12345678CD" in out

        code, _, err = await ens(env, "filing", "withdraw", number, "--version", "2")
        assert code == 1 and "[stale]" in err
        code, out, _ = await ens(env, "filing", "withdraw", number, "--version", "1")
        assert code == 0 and "取下げ" in out

        huge = tmp_path / "huge.csv"
        with huge.open("wb") as fh:
            fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
        code, _, err = await ens(env, "filing", "submit", "--kind", "school_adhoc_report", "--csv", str(huge))
        assert code == 1 and "[too_large]" in err and "読み込み中" not in err

        bad = tmp_path / "bad.csv"
        bad.write_bytes(
            "国籍・地域,氏名（英字）,性別,生年月日,在留カード番号,事由発生日,備考\r\nVNM,ヤマダ,男,1998/01/01,AB12,2027/03/01,\r\n".encode(
                "cp932"
            )
        )
        code, _, err = await ens(env, "filing", "submit", "--kind", "school_adhoc_report", "--csv", str(bad))
        assert code == 1 and "1行目 氏名（英字）" in err and "1行目 在留カード番号" in err
