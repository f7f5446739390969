"""`ens mail log` (the helpdesk's "did my mail go out?") and `ens mail preview TYPE` (no NATS, no SMTP)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from contracts.notifier import DeliveryLog, DeliveryStatus, QueryDeliveryLog
from ens.clientutil import call, json_option
from services.notifier.samples import VARIANTS
from services.runtime.clock import JST

VARIANT_NAMES = [v.name for v in VARIANTS]

STATUS_LABELS = {
    DeliveryStatus.QUEUED: "送信待ち",
    DeliveryStatus.SENT: "送信済み",
    DeliveryStatus.RETRYING: "再送待ち",
    DeliveryStatus.FAILED: "送信失敗",
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
                    f"  トレースID: {r.trace_id or '-'}",
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
