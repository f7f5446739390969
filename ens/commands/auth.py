"""`ens officer|login|logout|passwd|email|account|notice`: the auth service's commands.

Passwords are read from a hidden prompt (or one line of stdin each), never from arguments;
the operator token comes from ENS_AUTH_OPERATOR_TOKEN.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime

import click

from contracts import auth as a
from contracts.organisations import OrganisationKind
from ens.clientutil import ask_secret, call, clear_session, cli_settings, json_option, save_session, session_token
from services.runtime.clock import JST, jp_date, last_day_before


def _jst(moment: datetime | None) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M JST") if moment else "-"


def _last_day(ends_at: datetime | None) -> str:
    """A period's end as every mail and message shows it: its last valid day (Japan time)."""
    return f"{jp_date(last_day_before(ends_at))}まで" if ends_at else "-"


def login_text(reply: a.LoginResult) -> str:
    lines = [
        f"ログインしました: {reply.auth_id}（{'職員' if reply.role == 'officer' else '機関'}）",
        f"  セッション有効期限: 無操作 {_jst(reply.idle_expires_at)} / 最長 {_jst(reply.absolute_expires_at)}",
        f"  パスワード有効期限: {_last_day(reply.password_expires_at)}",
    ]
    if reply.address_warning:
        lines.append(f"ご注意: {reply.address_warning}")
    for notice in reply.notices:
        lines.append(f"お知らせ: {notice.title}\n  {notice.body}")
    return "\n".join(lines)


def account_text(reply: a.AccountView) -> str:
    acc = reply.account
    rows = [
        ("認証ID", acc.auth_id),
        ("区分", acc.role.value),
        (
            "機関",
            f"{acc.organisation.name}（{acc.organisation.organisation_id}, {acc.organisation.kind.label}）"
            if acc.organisation
            else "-",
        ),
        ("メールアドレス", acc.email),
        ("状態", acc.status),
        ("登録日時", _jst(acc.registered_at)),
        ("有効日", str(acc.effective_on or "-")),
        ("最終利用", _jst(acc.last_used_at)),
        ("パスワード有効期限", _last_day(acc.password_expires_at)),
        ("認証ID有効期限", _last_day(acc.account_expires_at)),
        ("連続ログイン失敗", str(acc.failed_logins)),
        ("ロック解除", _jst(acc.locked_until)),
        ("配信不能", _undeliverable(acc.undeliverable)),
    ]
    return "\n".join(f"{k}: {v}" for k, v in rows)


def _undeliverable(flag: a.UndeliverableAddress | None) -> str:
    if flag is None:
        return "-"
    why = " ".join(x for x in (flag.status_code, flag.reason) if x)
    return f"{_jst(flag.since)}から（{flag.email}: {why or '理由不明'}; メール {flag.mail_id or '-'}）"


def notices_text(reply: a.NoticeList) -> str:
    if not reply.notices:
        return "掲載中のお知らせはありません。"
    return "\n".join(f"{n.notice_id}  {_jst(n.starts_at)}〜{_jst(n.ends_at)}  {n.title}" for n in reply.notices)


def ok_text(message: str) -> Callable[[object], str]:
    return lambda _reply: message


CHANNELS = {
    "counter": a.RequestChannel.COUNTER,
    "post": a.RequestChannel.POST,
    "窓口": a.RequestChannel.COUNTER,
    "郵送": a.RequestChannel.POST,
}


def request_options(*, required: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Where the organisation's request came from (窓口 or 郵送, bureau, form reference): it goes
    into the audit trail as evidence (Q17). All three together, or (where optional) none."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(
            [
                click.option(
                    "--channel",
                    type=click.Choice(list(CHANNELS)),
                    required=required,
                    help="How the request came: counter (窓口) or post (郵送).",
                ),
                click.option("--bureau", required=required, help="Regional bureau that received it, e.g. 東京出入国在留管理局."),
                click.option("--form-ref", "form_ref", required=required, help="Reference number of the request form."),
            ]
        ):
            command = option(command)
        return command

    return decorate


def provenance(channel: str | None, bureau: str | None, form_ref: str | None) -> a.RequestProvenance | None:
    given = [v for v in (channel, bureau, form_ref) if v]
    if not given:
        return None
    if len(given) != 3:
        raise click.UsageError("--channel, --bureau and --form-ref go together.")
    assert channel is not None and bureau is not None and form_ref is not None
    return a.RequestProvenance(channel=CHANNELS[channel], bureau=bureau, form_reference=form_ref)


def register(cli: click.Group) -> None:
    @cli.group("officer")
    def officer() -> None:
        """Officer accounts (operator only)."""

    @officer.command("create")
    @click.option("--auth-id", required=True, help="The officer's auth ID.")
    @click.option("--name", required=True, help="The officer's name.")
    @click.option("--email", required=True, help="The officer's e-mail address.")
    @json_option
    def officer_create(auth_id: str, name: str, email: str, as_json: bool) -> None:
        """Create an officer account; needs ENS_AUTH_OPERATOR_TOKEN. The password is asked for."""
        secret = cli_settings().operator_token
        token = secret.get_secret_value() if secret is not None else ""
        if not token:
            click.echo("ens: setting ENS_AUTH_OPERATOR_TOKEN: is required for operator commands", err=True)
            sys.exit(2)
        password = ask_secret("パスワード", confirm=True)
        cmd = a.CreateOfficer(operator_token=token, auth_id=auth_id, password=password, name=name, email=email)
        call(lambda c: c.call(cmd), as_json, ok_text(f"職員アカウント {auth_id} を作成しました。"))

    @cli.command("login")
    @click.argument("auth_id")
    @json_option
    def login(auth_id: str, as_json: bool) -> None:
        """Log in with AUTH_ID; the password is asked for. The session is saved for later commands."""
        password = ask_secret("パスワード")
        reply = call(lambda c: c.call(a.Login(auth_id=auth_id, password=password)), as_json, login_text)
        if isinstance(reply, a.LoginResult):
            save_session(reply.model_dump(mode="json", include={"session_token", "auth_id", "role", "absolute_expires_at"}))

    @cli.command("logout")
    @json_option
    def logout(as_json: bool) -> None:
        """End the saved session."""
        token = session_token()
        call(lambda c: c.call(a.Logout(session_token=token)), as_json, ok_text("ログアウトしました。"))
        clear_session()

    @cli.command("passwd")
    @json_option
    def passwd(as_json: bool) -> None:
        """Change your password (current, then new)."""
        token = session_token()
        current = ask_secret("現在のパスワード")
        new = ask_secret("新しいパスワード", confirm=True)
        cmd = a.ChangePassword(session_token=token, current_password=current, new_password=new)
        call(lambda c: c.call(cmd), as_json, ok_text("パスワードを変更しました。"))

    @cli.command("email")
    @click.argument("new_email")
    @json_option
    def email(new_email: str, as_json: bool) -> None:
        """Change your e-mail address to NEW_EMAIL (the old address is notified too)."""
        cmd = a.ChangeEmail(session_token=session_token(), new_email=new_email)
        call(lambda c: c.call(cmd), as_json, ok_text(f"メールアドレスを {new_email} に変更しました。"))

    @cli.group("account")
    def account() -> None:
        """Officer actions on organisations' accounts."""

    @account.command("register")
    @click.option("--organisation-id", required=True, help="13-digit corporate number or officer-assigned code.")
    @click.option("--kind", required=True, type=click.Choice([k.value for k in OrganisationKind]))
    @click.option("--name", required=True, help="Organisation name.")
    @click.option("--auth-id", required=True, help="The auth ID the organisation chose.")
    @click.option("--email", required=True, help="Contact e-mail address.")
    @request_options(required=False)
    @json_option
    def account_register(
        organisation_id: str,
        kind: str,
        name: str,
        auth_id: str,
        email: str,
        channel: str | None,
        bureau: str | None,
        form_ref: str | None,
        as_json: bool,
    ) -> None:
        """Register an organisation's account (takes effect the next day); the password from its form is asked for."""
        request = provenance(channel, bureau, form_ref)
        password = ask_secret("初期パスワード", confirm=True)
        cmd = a.RegisterAccount(
            session_token=session_token(),
            organisation=a.Organisation(organisation_id=organisation_id, kind=OrganisationKind(kind), name=name),
            auth_id=auth_id,
            initial_password=password,
            email=email,
            request=request,
        )
        call(
            lambda c: c.call(cmd), as_json, lambda r: f"登録しました: {r.auth_id}（{jp_date(r.effective_on)}から有効になります）"
        )

    @account.command("show")
    @click.option("--auth-id", default=None)
    @click.option("--organisation-id", default=None)
    @json_option
    def account_show(auth_id: str | None, organisation_id: str | None, as_json: bool) -> None:
        """Show an account's state by auth ID or organisation."""
        cmd = a.GetAccount(session_token=session_token(), auth_id=auth_id, organisation_id=organisation_id)
        call(lambda c: c.call(cmd), as_json, account_text)

    @account.command("reissue-id")
    @click.argument("organisation_id")
    @request_options(required=False)
    @json_option
    def account_reissue(
        organisation_id: str, channel: str | None, bureau: str | None, form_ref: str | None, as_json: bool
    ) -> None:
        """Mail the organisation's account holder its auth ID (認証ID再通知)."""
        request = provenance(channel, bureau, form_ref)
        cmd = a.ReissueAuthId(session_token=session_token(), organisation_id=organisation_id, request=request)
        call(lambda c: c.call(cmd), as_json, ok_text("認証IDを再通知しました。"))

    @account.command("set-password")
    @click.argument("auth_id")
    @request_options(required=False)
    @json_option
    def account_set_password(auth_id: str, channel: str | None, bureau: str | None, form_ref: str | None, as_json: bool) -> None:
        """Set the new password written on AUTH_ID's request form (clears its lockout); it is asked for."""
        request = provenance(channel, bureau, form_ref)
        password = ask_secret("新しいパスワード", confirm=True)
        cmd = a.SetPassword(session_token=session_token(), auth_id=auth_id, new_password=password, request=request)
        call(lambda c: c.call(cmd), as_json, ok_text(f"{auth_id} のパスワードを設定しました。"))

    @account.command("deregister")
    @click.argument("auth_id")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @request_options(required=False)
    @json_option
    def account_deregister(
        auth_id: str, yes: bool, channel: str | None, bureau: str | None, form_ref: str | None, as_json: bool
    ) -> None:
        """Deregister (抹消) AUTH_ID: it stops working at once and its sessions end."""
        request = provenance(channel, bureau, form_ref)
        if not yes and sys.stdin.isatty():
            click.confirm(f"{auth_id} を抹消します。よろしいですか？", abort=True)
        cmd = a.Deregister(session_token=session_token(), auth_id=auth_id, request=request)
        call(lambda c: c.call(cmd), as_json, ok_text(f"{auth_id} を抹消しました。"))

    @account.command("change-email")
    @click.argument("auth_id")
    @click.argument("new_email")
    @request_options(required=True)
    @json_option
    def account_change_email(auth_id: str, new_email: str, channel: str, bureau: str, form_ref: str, as_json: bool) -> None:
        """On the organisation's request, change AUTH_ID's e-mail address to NEW_EMAIL (mail to the new address, notice to the old)."""
        request = provenance(channel, bureau, form_ref)
        assert request is not None
        cmd = a.ChangeAccountEmail(session_token=session_token(), auth_id=auth_id, new_email=new_email, request=request)
        call(lambda c: c.call(cmd), as_json, ok_text(f"{auth_id} のメールアドレスを {new_email} に変更しました。"))

    @account.command("change-details")
    @click.argument("organisation_id")
    @click.option("--name", required=True, help="The organisation's registered name from now on.")
    @request_options(required=True)
    @json_option
    def account_change_details(organisation_id: str, name: str, channel: str, bureau: str, form_ref: str, as_json: bool) -> None:
        """On the organisation's request, change its registered details (機関名)."""
        request = provenance(channel, bureau, form_ref)
        assert request is not None
        cmd = a.ChangeOrganisationDetails(
            session_token=session_token(), organisation_id=organisation_id, name=name, request=request
        )
        call(lambda c: c.call(cmd), as_json, account_text)

    @cli.group("notice")
    def notice() -> None:
        """Notices (お知らせ) shown at login."""

    @notice.command("publish")
    @click.option("--title", required=True)
    @click.option("--body", required=True)
    @click.option("--starts-at", type=click.DateTime(), default=None, help="JST; default now.")
    @click.option("--ends-at", type=click.DateTime(), default=None, help="JST; default open-ended.")
    @json_option
    def notice_publish(title: str, body: str, starts_at: datetime | None, ends_at: datetime | None, as_json: bool) -> None:
        """Publish a notice (officer)."""
        cmd = a.PublishNotice(
            session_token=session_token(),
            title=title,
            body=body,
            starts_at=starts_at.replace(tzinfo=JST) if starts_at else None,
            ends_at=ends_at.replace(tzinfo=JST) if ends_at else None,
        )
        call(lambda c: c.call(cmd), as_json, lambda r: f"お知らせを掲載しました: {r.notice.notice_id}")

    @notice.command("withdraw")
    @click.argument("notice_id")
    @json_option
    def notice_withdraw(notice_id: str, as_json: bool) -> None:
        """Withdraw a notice (officer)."""
        cmd = a.WithdrawNotice(session_token=session_token(), notice_id=notice_id)
        call(lambda c: c.call(cmd), as_json, ok_text("お知らせを取り下げました。"))

    @notice.command("list")
    @json_option
    def notice_list(as_json: bool) -> None:
        """The notices in force now."""
        call(lambda c: c.call(a.ListNotices()), as_json, notices_text)
