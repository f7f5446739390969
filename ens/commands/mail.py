"""`ens mail log` (the helpdesk's "did my mail go out?"), `ens mail show` (the exact mail sent),
`ens mail resend` (an officer has it sent again) and `ens mail preview TYPE` (no NATS, no SMTP)."""

from __future__ import annotations

import base64
import email
import sys
import uuid
from datetime import datetime
from email import policy
from pathlib import Path

import click

from contracts.notifier import (
    DeliveryLog,
    DeliveryStatus,
    GetSentMail,
    MailResent,
    MailStatus,
    QueryDeliveryLog,
    ResendMail,
    SentMail,
)
from ens.clientutil import call, json_option, run_client, session_token
from services.notifier.samples import VARIANTS
from services.runtime.clock import JST

VARIANT_NAMES = [v.name for v in VARIANTS]

STATUS_LABELS = {
    DeliveryStatus.QUEUED: "送信待ち",
    DeliveryStatus.SENT: "送信済み",
    DeliveryStatus.RETRYING: "再送待ち",
    DeliveryStatus.FAILED: "送信失敗",
    DeliveryStatus.BOUNCED: "不達",
}

HISTORY_LABELS = {
    MailStatus.QUEUED: "受付",
    MailStatus.SENT: "送信",
    MailStatus.DEFERRED: "一時エラー",
    MailStatus.FAILED: "送信失敗",
    MailStatus.BOUNCED: "不達",
    MailStatus.RESENT: "再送信",
}


def _jst(moment: datetime | None) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def log_text(reply: DeliveryLog) -> str:
    if not reply.records:
        return "該当するメールはありません。"
    out = []
    for r in reply.records:
        answer = f"{r.smtp_code} {r.smtp_message or ''}".strip() if r.smtp_code else (r.smtp_message or "-")
        out.append(
            "\n".join(
                [
                    f"{_jst(r.sent_at or r.last_attempt_at or r.queued_at)} JST  {STATUS_LABELS[r.status]}（{r.status.value}）"
                    f"  {r.mail_type.number}. {r.mail_type.label}",
                    f"  宛先: {r.recipient}",
                    f"  件名: {r.subject or '-'}",
                    f"  認証ID: {r.auth_id or '-'}  受付番号: {r.reception_number or '-'}",
                    f"  受付: {_jst(r.queued_at)}  試行: {r.attempts}回  最終試行: {_jst(r.last_attempt_at)}"
                    + (f"  次回: {_jst(r.next_attempt_at)}" if r.next_attempt_at else ""),
                    f"  サーバ応答: {answer}",
                    f"  Message-ID: {r.message_id or '-'}  メールID: {r.mail_id}",
                    f"  トレースID: {r.trace_id or '-'}  テンプレート版: {r.template_version or '-'}",
                    *([f"  エンベロープ送信者: {r.envelope_sender}"] if r.envelope_sender else []),
                    *(
                        ["  ※この宛先は以前に不達（ハードバウンス）となったアドレスです（送信はしています）。"]
                        if r.address_flagged
                        else []
                    ),
                    *(
                        [
                            f"  不達: {_jst(r.bounced_at)}  {r.bounce_status_code or '-'}  {r.bounce_diagnostic or '-'}"
                            f"  報告MTA: {r.bounce_reporting_mta or '-'}"
                        ]
                        if r.status is DeliveryStatus.BOUNCED
                        else []
                    ),
                    *([f"  再送信元: {r.resent_from}"] if r.resent_from else []),
                    *([f"  再送信先: {r.resent_as}"] if r.resent_as else []),
                    *[
                        f"    {_jst(h.at)} {HISTORY_LABELS[h.status]}（{h.status.value}）試行{h.attempt}"
                        + (f" {h.smtp_code}" if h.smtp_code else "")
                        + (f" {h.status_code}" if h.status_code else "")
                        + (f" {h.smtp_message}" if h.smtp_message else "")
                        + (f" [{h.note}]" if h.note else "")
                        for h in r.history
                    ],
                ]
            )
        )
    return "\n\n".join(out)


def register(cli: click.Group) -> None:
    @cli.group()
    def mail() -> None:
        """Mail: the delivery log and template previews."""

    @mail.command("log")
    @click.option("--auth-id", help="認証ID")
    @click.option("--reception-number", help="受付番号")
    @click.option("--to", "recipient", help="宛先メールアドレス")
    @click.option("--mail-id", help="メールID")
    @click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
    @json_option
    def log(
        auth_id: str | None, reception_number: str | None, recipient: str | None, mail_id: str | None, limit: int, as_json: bool
    ) -> None:
        """Which mails went where, when, with the server's answer (give at least one filter)."""
        cmd = QueryDeliveryLog(
            auth_id=auth_id, reception_number=reception_number, recipient=recipient, mail_id=mail_id, limit=limit
        )
        call(lambda c: c.call(cmd), as_json, log_text)

    @mail.command("show")
    @click.argument("mail_id")
    @click.option("--raw", is_flag=True, help="The bytes exactly as handed to the SMTP server (CRLF), nothing else.")
    @json_option
    def show(mail_id: str, raw: bool, as_json: bool) -> None:
        """The exact mail sent as MAIL_ID: its headers and decoded text part (or --raw bytes)."""
        cmd = GetSentMail(mail_id=mail_id)
        if raw and not as_json:
            reply = _quiet(cmd)
            sys.stdout.buffer.write(base64.b64decode(reply.data_base64))
            sys.stdout.buffer.flush()
            return
        call(lambda c: c.call(cmd), as_json, sent_mail_text)

    @mail.command("resend")
    @click.argument("mail_id")
    @click.option("--reason", required=True, help="再送信の理由（1〜200文字）")
    @click.option("--request-id", help="Idempotency key: give the same one to retry the same resend (default: a new one).")
    @json_option
    def resend(mail_id: str, reason: str, request_id: str | None, as_json: bool) -> None:
        """Officer: send MAIL_ID again (failed, bounced, or sent and reported missing) to the
        account's address registered now, as a new mail linked to it."""
        cmd = ResendMail(session_token=session_token(), mail_id=mail_id, reason=reason, request_id=request_id or uuid.uuid4().hex)
        call(lambda c: c.call(cmd), as_json, resent_text)

    @mail.command("preview")
    @click.argument("variant", required=False, type=click.Choice(VARIANT_NAMES))
    @click.option("--html", "show_html", is_flag=True, help="Show the HTML part instead of the text part.")
    @click.option("--eml", type=click.Path(dir_okay=False, path_type=Path), help="Write the message as an .eml file.")
    def preview(variant: str | None, show_html: bool, eml: Path | None) -> None:
        """Render a mail with sample data (no NATS, no SMTP): VARIANT is a mail type or one of its
        variants (officer reset vs own change, fix vs change, bulk vs single, 30 vs 7 days);
        without it, every variant one after another."""
        from services.notifier.domain.rendering import Renderer
        from services.notifier.domain.routing import mails_for
        from services.notifier.samples import AT
        from services.notifier.settings import NotifierSettings
        from services.runtime.settings import SettingsError, load_settings

        try:
            settings = load_settings(NotifierSettings)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        if eml is not None and variant is None:
            raise click.UsageError("--eml writes one mail: name its VARIANT.")
        renderer = Renderer(settings)
        for v in VARIANTS if variant is None else [v for v in VARIANTS if v.name == variant]:
            mail = next(m for m in mails_for(v.event) if m.mail_type == v.mail_type)
            out = renderer.render(mail, composed_at=AT)
            if eml is not None:
                eml.write_bytes(out.data)
                click.echo(f"{eml}: {out.subject} ({len(out.data)} bytes)")
                return
            click.echo(f"==== {v.name} (mail {v.mail_type.number}: {v.mail_type.label})")
            click.echo(f"From: {settings.sender_name} <{settings.sender}>")
            click.echo(f"To: {out.recipient}")
            click.echo(f"Subject: {out.subject}")
            click.echo(f"Message-ID: {out.message_id}")
            click.echo("")
            click.echo(out.html if show_html else out.text)


def _quiet(cmd: GetSentMail) -> SentMail:
    """The reply without printing it (for --raw); a refusal is printed and exits 1 as usual."""
    from contracts.client import CommandRefused
    from ens.clientutil import print_refusal

    try:
        reply = run_client(lambda c: c.call(cmd))
    except CommandRefused as exc:
        print_refusal(exc, False)
        sys.exit(1)
    assert isinstance(reply, SentMail)
    return reply


def sent_mail_text(reply: SentMail) -> str:
    data = base64.b64decode(reply.data_base64)
    parsed = email.message_from_bytes(data, policy=policy.default)
    head = [f"{name}: {parsed[name]}" for name in ("From", "To", "Subject", "Date", "Message-ID") if parsed[name]]
    body = parsed.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return "\n".join(
        [
            f"メールID: {reply.mail_id}  テンプレート版: {reply.template_version or '-'}  {len(data)} bytes",
            *head,
            "",
            text.rstrip(),
            "",
            "（送信したそのままのバイト列は --raw で表示します）",
        ]
    )


def resent_text(reply: MailResent) -> str:
    return f"再送信を受け付けました: {reply.mail_id} -> 新しいメールID {reply.resent_as}（宛先: {reply.recipient}）"
