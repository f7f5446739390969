"""`ens jobs run --as-of`: what a typed day or time means, and refusals that name the option."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from contracts.scheduler import JobInfo, JobList, JobName, JobRun
from ens.cli import cli
from ens.commands.jobs import list_text, parse_as_of, run_text
from services.runtime.clock import JST


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-11-26", datetime(2027, 11, 26, 9, 0, tzinfo=JST)),
        ("2027-11-26T10:30", datetime(2027, 11, 26, 10, 30, tzinfo=JST)),
        ("2027-11-26 23:59:30", datetime(2027, 11, 26, 23, 59, 30, tzinfo=JST)),
        ("2027-11-26T00:30Z", datetime(2027, 11, 26, 0, 30, tzinfo=UTC)),
        ("2027-11-26T10:30+09:00", datetime(2027, 11, 26, 10, 30, tzinfo=JST)),
    ],
)
def test_as_of_is_japan_time_unless_an_offset_is_given(text, expected):
    assert parse_as_of(text) == expected


@pytest.mark.parametrize("text", ["26/11/2027", "2027-02-30", "2027-11-26T25:00", "yesterday", ""])
def test_a_bad_as_of_is_refused_in_japanese(text):
    with pytest.raises(ValueError) as err:
        parse_as_of(text)
    assert "日付" in str(err.value) or "時刻" in str(err.value)


def test_a_bad_as_of_exits_2_naming_the_option_before_anything_is_sent():
    result = CliRunner().invoke(cli, ["jobs", "run", "expire_accounts", "--as-of", "2027-02-30"])
    assert result.exit_code == 2 and "--as-of" in result.output and "as_of" in result.output


def test_an_unknown_job_is_refused_listing_the_jobs():
    result = CliRunner().invoke(cli, ["jobs", "run", "make_coffee", "--as-of", "2027-11-26"])
    assert result.exit_code == 2 and "activate_registrations" in result.output


def test_the_list_shows_schedule_next_run_in_japan_time_and_the_last_result():
    run = JobRun(
        job=JobName.PURGE_FILINGS,
        as_of=datetime(2027, 11, 26, 3, tzinfo=JST),
        business_day=date(2027, 11, 26),
        ran=True,
        processed=12,
        changed=3,
        status="failed",
        error="unavailable: 応答なし",
    )
    text = list_text(
        JobList(
            jobs=[
                JobInfo(
                    job=JobName.PURGE_FILINGS,
                    schedule="0 3 * * *",
                    next_run_at=datetime(2027, 11, 26, 18, tzinfo=UTC),
                    last_run=run,
                ),
                JobInfo(job=JobName.EXPIRE_ACCOUNTS, schedule="0 9 * * *", next_run_at=None, last_run=None),
            ]
        )
    )
    assert "2027-11-27 03:00 JST" in text and "2027-11-26 失敗 対象12件 処理3件 エラー: unavailable: 応答なし" in text
    assert "未実行" in text
    assert "既に実行済み" in run_text(run.model_copy(update={"ran": False, "status": "done"}))
