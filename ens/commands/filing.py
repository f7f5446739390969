"""`ens filing ...`: submit (single or bulk CSV), list, show, change, withdraw, and the officer's
complete and return, over the filing service's contracts.

A bulk CSV is checked for size before it is read or sent: a file over the limit (default 2 MB,
ENS_FILING_MAX_UPLOAD_BYTES) is refused on the spot instead of pushing megabytes over NATS. A
request larger than the NATS server takes (its `max_payload`, e.g. a server configured below the
suite's upload limit) is refused the same way, `too_large` with both limits in the message,
instead of nats-py's own error.
"""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import TypeAdapter, ValidationError

from contracts import filing as f
from contracts.client import CommandRefused, EnsClient
from contracts.common import ErrorBody, ErrorCode, FieldError
from ens.clientutil import call, cli_settings, json_option, print_refusal, session_token
from services.runtime.clock import JST

KINDS = [k.value for k in f.FilingKind]
STATUSES = [s.value for s in f.FilingStatus]
CHUNK = 64 * 1024


def _jst(moment: datetime | None) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M") if moment else "-"


def summary_line(s: f.FilingSummary) -> str:
    return (
        f"{s.reception_number}  {s.status_label:<4}  v{s.version}  {s.person_count:>3}人  {_jst(s.submitted_at)}  {s.kind_label}"
    )


def accepted_text(reply: f.FilingAccepted) -> str:
    s = reply.filing
    lines = [
        f"受け付けました: 受付番号 {s.reception_number}（{s.status_label}, 版 {s.version}）",
        f"  {s.kind_label} / 対象者 {s.person_count}人",
    ]
    if s.return_reasons:
        lines.append("  返却理由: " + " / ".join(s.return_reasons))
    return "\n".join(lines)


def page_text(reply: f.FilingPage) -> str:
    if not reply.items:
        return "届出・報告はありません。"
    pages = max(1, -(-reply.total // reply.page_size))
    head = f"{reply.total}件（{reply.page}/{pages}ページ）"
    return "\n".join([head, *(summary_line(s) for s in reply.items)])


def detail_text(reply: f.FilingDetail) -> str:
    s = reply.filing
    lines = [
        f"受付番号: {s.reception_number}",
        f"種類: {s.kind_label}",
        f"状態: {s.status_label}（版 {s.version}）",
        f"届出日時: {_jst(s.submitted_at)} / 更新: {_jst(s.updated_at)} / 確定: {_jst(s.finalised_at)}",
    ]
    if s.return_reasons:
        lines.append("返却理由: " + " / ".join(s.return_reasons))
    lines.append(f"対象者: {s.person_count}人")
    for i, p in enumerate(reply.persons, start=1):
        lines.append(
            f"  {i:>3}. {p.name_latin}  {p.nationality}  {'男' if p.sex == f.Sex.MALE else '女'}  {p.date_of_birth}  "
            f"{p.residence_card_number}  事由発生日 {p.event_date or '-'}"
        )
    return "\n".join(lines)


def upload_limit() -> int:
    return cli_settings().filing_upload_limit


async def send(client: EnsClient, cmd: f.SubmitFiling | f.SubmitBulkFiling, upload_limit: int) -> f.FilingAccepted:
    """The command's reply; a request the NATS server would not take is a `too_large` refusal."""
    try:
        return await client.call(cmd)
    except CommandRefused as exc:
        # EnsClient refuses a request above the server's max payload before sending it; say
        # what the filer can do about it: the upload limit, and how to split.
        if exc.code != ErrorCode.TOO_LARGE or "max_payload" not in exc.error.details:
            raise
        size = int(exc.error.details.get("bytes", len(cmd.model_dump_json().encode())))
        server_limit = exc.error.details["max_payload"]
        said = f"（NATSサーバの上限 {server_limit:,}バイト）" if isinstance(server_limit, int) else ""
        message = (
            f"送信内容（{size:,}バイト）が大きすぎて送信できません{said}。"
            f"ファイルを{upload_limit:,}バイト以下、{f.MAX_PERSONS}人以下に分けてください。"
        )
        raise CommandRefused(
            ErrorBody(
                code=ErrorCode.TOO_LARGE,
                message=message,
                fields=[FieldError(field="csv_base64", code="too_large", message=message, label="CSVファイル")],
                details={"size": size, "max_payload": server_limit, "max_bytes": upload_limit},
            )
        ) from None


def refuse_locally(code: ErrorCode, message: str, as_json: bool, field: str = "csv_base64") -> None:
    body = ErrorBody(
        code=code, message=message, fields=[FieldError(field=field, code=code.value, message=message, label="CSVファイル")]
    )
    print_refusal(CommandRefused(body), as_json)
    sys.exit(1)


def read_csv(path: Path, as_json: bool) -> bytes:
    """The file's bytes with a progress bar, after refusing a file over the limit unread."""
    size = path.stat().st_size
    limit = upload_limit()
    if size > limit:
        refuse_locally(
            ErrorCode.TOO_LARGE,
            f"ファイルが大きすぎます（{size:,}バイト）。{limit:,}バイト以下にするか、{f.MAX_PERSONS}人以下のファイルに分けてください。",
            as_json,
        )
    data = bytearray()
    with path.open("rb") as src, click.progressbar(length=size, label="読み込み中", file=sys.stderr, show_pos=True) as bar:
        while chunk := src.read(CHUNK):
            data += chunk
            bar.update(len(chunk))
    return bytes(data)


def read_persons(path: Path, as_json: bool) -> list[f.Person]:
    try:
        return TypeAdapter(list[f.Person]).validate_json(path.read_bytes())
    except ValidationError as exc:
        from services.runtime.errors import validation_to_fields

        fields = [fe.model_copy(update={"field": f"persons.{fe.field}"}) for fe in validation_to_fields(exc, None)]
        print_refusal(
            CommandRefused(ErrorBody(code=ErrorCode.VALIDATION, message="対象者ファイルの内容に誤りがあります。", fields=fields)),
            as_json,
        )
        sys.exit(1)


def register(cli: click.Group) -> None:
    @cli.group("filing")
    def filing() -> None:
        """届出・報告: submit, list, show, change, withdraw; officers complete and return."""

    @filing.command("kinds")
    def kinds() -> None:
        """The filing kinds, which organisation kind files each, and which can be returned."""
        for kind in f.FilingKind:
            spec = kind.spec
            click.echo(
                f"{kind.value:<28} {spec.organisation_kind.label:<8} {'返却可 ' if spec.returnable else '       '}{spec.label}"
            )

    @filing.command("submit")
    @click.option("--kind", "kind", type=click.Choice(KINDS), required=True, help="Filing kind (see `ens filing kinds`).")
    @click.option(
        "--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Bulk CSV made from the template."
    )
    @click.option(
        "--persons",
        "persons_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="JSON list of persons (single filing).",
    )
    @json_option
    def submit(kind: str, csv_path: Path | None, persons_path: Path | None, as_json: bool) -> None:
        """Submit a filing: a bulk CSV (--csv) or a JSON list of persons (--persons)."""
        if (csv_path is None) == (persons_path is None):
            raise click.UsageError("give exactly one of --csv or --persons")
        token = session_token()
        if csv_path is not None:
            data = read_csv(csv_path, as_json)
            click.echo(f"送信中: {csv_path.name}（{len(data):,}バイト）…", err=True)
            cmd: f.SubmitFiling | f.SubmitBulkFiling = f.SubmitBulkFiling(
                session_token=token, kind=f.FilingKind(kind), filename=csv_path.name, csv_base64=base64.b64encode(data).decode()
            )
        else:
            assert persons_path is not None  # one of --csv/--persons is required above
            cmd = f.SubmitFiling(session_token=token, kind=f.FilingKind(kind), persons=read_persons(persons_path, as_json))
        limit = upload_limit()
        call(lambda c: send(c, cmd, limit), as_json, accepted_text)

    @filing.command("list")
    @click.option("--status", type=click.Choice(STATUSES))
    @click.option("--kind", type=click.Choice(KINDS))
    @click.option("--org", "organisation_id", help="Officers: the organisation to list.")
    @click.option("--page", type=int, default=1, show_default=True)
    @click.option("--page-size", type=int, default=50, show_default=True)
    @json_option
    def list_(
        status: str | None, kind: str | None, organisation_id: str | None, page: int, page_size: int, as_json: bool
    ) -> None:
        """Your organisation's filings, newest first."""
        cmd = f.ListFilings(
            session_token=session_token(),
            status=f.FilingStatus(status) if status else None,
            kind=f.FilingKind(kind) if kind else None,
            organisation_id=organisation_id,
            page=page,
            page_size=page_size,
        )
        call(lambda c: c.call(cmd), as_json, page_text)

    @filing.command("show")
    @click.argument("reception_number")
    @json_option
    def show(reception_number: str, as_json: bool) -> None:
        """One filing with its persons."""
        call(
            lambda c: c.call(f.GetFiling(session_token=session_token(), reception_number=reception_number)), as_json, detail_text
        )

    @filing.command("change")
    @click.argument("reception_number")
    @click.option("--version", "version", type=int, required=True, help="The version you are changing (from `ens filing show`).")
    @click.option(
        "--persons",
        "persons_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        required=True,
        help="JSON list of persons.",
    )
    @json_option
    def change(reception_number: str, version: int, persons_path: Path, as_json: bool) -> None:
        """Change a pending filing, or fix a returned report (it becomes pending again)."""
        persons = read_persons(persons_path, as_json)
        cmd = f.ChangeFiling(
            session_token=session_token(), reception_number=reception_number, based_on_version=version, persons=persons
        )
        call(lambda c: c.call(cmd), as_json, accepted_text)

    @filing.command("withdraw")
    @click.argument("reception_number")
    @click.option("--version", "version", type=int, required=True)
    @json_option
    def withdraw(reception_number: str, version: int, as_json: bool) -> None:
        """Withdraw a pending or returned filing (final)."""
        cmd = f.WithdrawFiling(session_token=session_token(), reception_number=reception_number, based_on_version=version)
        call(lambda c: c.call(cmd), as_json, accepted_text)

    @filing.command("complete")
    @click.argument("reception_number")
    @click.option("--version", "version", type=int, required=True)
    @json_option
    def complete(reception_number: str, version: int, as_json: bool) -> None:
        """Officer: complete a pending filing (final)."""
        cmd = f.CompleteFiling(session_token=session_token(), reception_number=reception_number, based_on_version=version)
        call(lambda c: c.call(cmd), as_json, accepted_text)

    @filing.command("return")
    @click.argument("reception_number")
    @click.option("--version", "version", type=int, required=True)
    @click.option("--reason", "reasons", multiple=True, required=True, help="A reason for the fix; repeat for several.")
    @json_option
    def return_(reception_number: str, version: int, reasons: tuple[str, ...], as_json: bool) -> None:
        """Officer: return a Japanese-language school report for a fix, with reasons."""
        cmd = f.ReturnFiling(
            session_token=session_token(), reception_number=reception_number, based_on_version=version, reasons=list(reasons)
        )
        call(lambda c: c.call(cmd), as_json, accepted_text)

    @filing.command("reencrypt")
    @json_option
    def reencrypt(as_json: bool) -> None:
        """Operator: re-encrypt stored personal data under the current key (after adding a key)."""
        call(
            lambda c: c.call(f.ReencryptFilings(as_of=datetime.now(UTC))),
            as_json,
            lambda r: f"{r.processed}件を確認し、{r.changed}件を再暗号化しました。",
        )
