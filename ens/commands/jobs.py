"""`ens jobs list` and `ens jobs run JOB --as-of DAY[THH:MM]`: the scheduler's jobs, for operators."""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import date, datetime, time

import click

from contracts.scheduler import JobList, JobName, JobRun, ListJobs, RunJob
from ens.clientutil import call, json_option
from services.runtime.clock import JST

BATCH_TIME = time(9, 0)
_AS_OF = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)?)?$")


def parse_as_of(text: str) -> datetime:
    """`2027-11-26` (that day, 09:00 JST), `2027-11-26T10:30` (JST) or an ISO time with offset."""
    value = text.strip()
    if not _AS_OF.match(value):
        raise ValueError(f"「{text}」は日付（YYYY-MM-DD）または日時（YYYY-MM-DDTHH:MM）ではありません。")
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), BATCH_TIME, tzinfo=JST)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"「{text}」は存在しない日付または時刻です。") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def _jst(moment: datetime | None) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M JST") if moment else "-"


def describe_run(run: JobRun | None) -> str:
    if run is None:
        return "未実行"
    state = {"done": "完了", "failed": "失敗", "running": "実行中"}.get(run.status or "", run.status or "-")
    text = f"{run.business_day} {state} 対象{run.processed}件 処理{run.changed}件"
    if run.error:
        text += f" エラー: {run.error}"
    return text


def list_text(reply: JobList) -> str:
    rows = [("ジョブ", "スケジュール (Asia/Tokyo)", "次回実行", "前回の結果")]
    for info in reply.jobs:
        rows.append((info.job.value, info.schedule, _jst(info.next_run_at), describe_run(info.last_run)))
    width = [max(_cells(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join([*(_pad(r[i], width[i]) for i in range(3)), r[3]]) for r in rows)


def _cells(text: str) -> int:
    """Terminal columns: Japanese (wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _cells(text))


def run_text(run: JobRun) -> str:
    if not run.ran:
        head = f"{run.job.value}: {run.business_day} は既に実行済みです（何もしていません）。"
        if run.status == "running":
            head = f"{run.job.value}: {run.business_day} は別のスケジューラが実行中です（何もしていません）。"
        return f"{head}\n  {describe_run(run)}"
    return f"{run.job.value}: {run.business_day} を実行しました（基準時刻 {_jst(run.as_of)}）。\n  {describe_run(run)}"


def register(cli: click.Group) -> None:
    @cli.group("jobs")
    def jobs() -> None:
        """The scheduler's daily jobs: list them, or run one for any day (catch-up)."""

    @jobs.command("list")
    @json_option
    def list_jobs(as_json: bool) -> None:
        """Each job, its schedule, its next run and its last result."""
        call(lambda c: c.call(ListJobs()), as_json, list_text)

    @jobs.command("run")
    @click.argument("job", type=click.Choice([j.value for j in JobName]))
    @click.option(
        "--as-of",
        "as_of",
        required=True,
        help="Business day to run for: YYYY-MM-DD (09:00 JST that day) or YYYY-MM-DDTHH:MM (JST unless an offset is given).",
    )
    @click.option("--force", is_flag=True, help="Run again even if that day already ran; also needed for an as-of in the future.")
    @json_option
    def run_job(job: str, as_of: str, force: bool, as_json: bool) -> None:
        """Run JOB as of a day, once per day unless --force."""
        try:
            moment = parse_as_of(as_of)
        except ValueError as exc:
            click.echo(f"エラー [validation]: --as-of（as_of）: {exc}", err=True)
            sys.exit(2)
        reply = call(lambda c: c.call(RunJob(job=JobName(job), as_of=moment, force=force)), as_json, run_text)
        if isinstance(reply, JobRun) and reply.ran and reply.status == "failed":
            sys.exit(1)
