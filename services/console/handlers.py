"""The pages: each reads the request, sends the suite one or two commands, and renders a template.

One module for all pages (just over 400 lines): each page is a short function of the same shape,
and the routing table in app.py reads best against one file.

Every page that shows data does so through commands the services audit (GetAccount, GetFiling,
SetPassword with the officer's session; QueryDeliveryLog and ListJobs as the console's operator
identity), and each request first asks auth whether the officer's session is live
(IntrospectSession, audited too).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from contracts import auth as a
from contracts import filing as f
from contracts.client import CommandRefused, ServiceUnavailable
from contracts.common import ErrorCode
from contracts.notifier import DeliveryRecord, DeliveryStatus, GetSentMail, MailType, QueryDeliveryLog, ResendMail
from contracts.organisations import Role
from contracts.scheduler import ListJobs
from services.console import views
from services.console.mails import Preview, ShownMail, exact, rebuild
from services.console.ports import SentEvents, Suite
from services.console.security import CSRF_FIELD, LOGIN_CSRF_COOKIE, MAIL_CSP, SESSION_COOKIE, CookiePolicy, Csrf
from services.console.settings import ConsoleSettings
from services.notifier.domain.rendering import Renderer
from services.runtime.clock import Clock

MAX_INPUT = 254  # longer than any auth ID, password, address or reception number
REBUILT_KEPT = 64


@dataclass
class ConsoleDeps:
    settings: ConsoleSettings
    suite: Suite
    events: SentEvents | None
    renderer: Renderer
    previews: dict[str, Preview]
    csrf: Csrf
    cookies: CookiePolicy
    templates: Jinja2Templates
    clock: Clock
    rebuilt: OrderedDict[tuple[str, datetime], ShownMail] = field(default_factory=OrderedDict)


@dataclass(frozen=True)
class Officer:
    token: str
    auth_id: str
    expires_at: datetime | None
    csrf: str


class SignedOut(Exception):
    """No live officer session: sign in (again)."""


Handler = Callable[[Request, Officer], Awaitable[Response]]


def deps(request: Request) -> ConsoleDeps:
    d: ConsoleDeps = request.app.state.deps
    return d


def render(request: Request, name: str, status: int = 200, officer: Officer | None = None, **context: Any) -> Response:
    d = deps(request)
    return d.templates.TemplateResponse(
        request, name, {"officer": officer, "csrf_field": CSRF_FIELD, "now": d.clock.now(), **context}, status_code=status
    )


def refused_page(request: Request, officer: Officer | None, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", status=status, officer=officer, title=title, message=message)


async def current_officer(request: Request) -> Officer:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 256:
        raise SignedOut()
    d = deps(request)
    info = await d.suite.call(a.IntrospectSession(session_token=token))
    if not info.active or info.role is not Role.OFFICER or info.auth_id is None:
        raise SignedOut()
    return Officer(token=token, auth_id=info.auth_id, expires_at=info.expires_at, csrf=d.csrf.for_session(token))


def officer_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in officers only; a POST must carry the session's CSRF token."""

    @wraps(handler)
    async def page(request: Request) -> Response:
        d = deps(request)
        form: FormData | None = None
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=20)
        try:
            officer = await current_officer(request)
        except SignedOut:
            had_cookie = SESSION_COOKIE in request.cookies
            response = RedirectResponse("/login?ended=1" if had_cookie else "/login", status_code=303)
            if had_cookie:
                d.cookies.clear(response, SESSION_COOKIE)
            return response
        except ServiceUnavailable:
            return refused_page(request, None, 503, "サービスが応答しません", "しばらくしてから再度お試しください。")
        if form is not None and not d.csrf.session_ok(officer.token, _field(form, CSRF_FIELD)):
            return refused_page(
                request,
                officer,
                403,
                "リクエストを受け付けられません",
                "画面の有効期限が切れたか、不正な送信です。画面を開き直してから操作してください。",
            )
        try:
            return await handler(request, officer)
        except ServiceUnavailable:
            return refused_page(request, officer, 503, "サービスが応答しません", "しばらくしてから再度お試しください。")

    return page


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:MAX_INPUT] if isinstance(value, str) else ""


# ---- sign-in ------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    return RedirectResponse("/mail", status_code=303)


def _login_page(request: Request, status: int = 200, **context: Any) -> Response:
    d = deps(request)
    token = Csrf.new_login_token()
    response = render(request, "login.html", status=status, login_csrf=token, **context)
    d.cookies.set(response, LOGIN_CSRF_COOKIE, token)
    return response


async def login_form(request: Request) -> Response:
    notice = None
    if request.query_params.get("ended"):
        notice = "セッションの有効期限が切れたため、ログアウトしました。再度ログインしてください。"
    elif request.query_params.get("signed_out"):
        notice = "ログアウトしました。"
    return _login_page(request, notice=notice)


async def login(request: Request) -> Response:
    d = deps(request)
    form = await request.form(max_files=0, max_fields=10)
    if not Csrf.login_ok(request.cookies.get(LOGIN_CSRF_COOKIE), _field(form, CSRF_FIELD)):
        return refused_page(
            request,
            None,
            403,
            "リクエストを受け付けられません",
            "画面の有効期限が切れたか、不正な送信です。ログイン画面を開き直してください。",
        )
    auth_id, password = _field(form, "auth_id"), _field(form, "password")
    errors = {name: "入力してください。" for name, value in (("auth_id", auth_id), ("password", password)) if not value}
    if errors:
        return _login_page(request, 400, auth_id=auth_id, errors=errors)
    try:
        result = await d.suite.call(a.Login(auth_id=auth_id, password=password))
    except ServiceUnavailable:
        return refused_page(request, None, 503, "サービスが応答しません", "しばらくしてから再度お試しください。")
    except CommandRefused as refused:
        locked_until = refused.error.details.get("locked_until") if refused.code is ErrorCode.ACCOUNT_LOCKED else None
        return _login_page(
            request,
            401,
            auth_id=auth_id,
            error=refused.error.message,
            locked_until=views.jst(datetime.fromisoformat(locked_until)) if isinstance(locked_until, str) else None,
        )
    if result.role is not Role.OFFICER:
        # An organisation's right credentials: end the session they just opened, sign nobody in.
        try:
            await d.suite.call(a.Logout(session_token=result.session_token))
        except CommandRefused:
            pass  # already ended; nothing to undo
        return _login_page(
            request, 403, auth_id=auth_id, error="このコンソールは職員専用です。職員の認証IDでログインしてください。"
        )
    response = RedirectResponse("/mail", status_code=303)
    d.cookies.set(response, SESSION_COOKIE, result.session_token)
    d.cookies.clear(response, LOGIN_CSRF_COOKIE)
    return response


@officer_page
async def logout(request: Request, officer: Officer) -> Response:
    d = deps(request)
    try:
        await d.suite.call(a.Logout(session_token=officer.token))
    except CommandRefused as refused:
        if refused.code is not ErrorCode.UNAUTHENTICATED:
            raise
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    d.cookies.clear(response, SESSION_COOKIE)
    return response


# ---- delivery log -------------------------------------------------------------------------


async def _log(d: ConsoleDeps, limit: int | None = None, **filters: str) -> list[DeliveryRecord]:
    query = QueryDeliveryLog.model_validate({"limit": limit or d.settings.log_limit, **filters})
    return (await d.suite.call(query)).records


@officer_page
async def mail_search(request: Request, officer: Officer) -> Response:
    d = deps(request)
    form = views.parse_search(request.query_params)
    context: dict[str, Any] = {"form": form, "mail_types": list(MailType), "statuses": list(DeliveryStatus)}
    if not form.submitted:
        return render(request, "mail_search.html", officer=officer, **context)
    errors = dict(form.errors)
    if not form.server_filters and not errors:
        errors["filters"] = "認証ID・受付番号・宛先メールアドレス・メールIDのいずれかを入力してください。"
    if errors:
        return render(request, "mail_search.html", status=400, officer=officer, errors=errors, **context)
    try:
        records = await _log(d, None, **form.server_filters)
    except CommandRefused as refused:
        if refused.code is not ErrorCode.VALIDATION:
            raise
        errors = {fe.field: fe.message for fe in refused.error.fields}
        return render(request, "mail_search.html", status=400, officer=officer, errors=errors, **context)
    page = views.paginate(views.refine(records, form), form.page, d.settings.page_size)
    return render(
        request,
        "mail_search.html",
        officer=officer,
        page=page,
        truncated=len(records) >= d.settings.log_limit,
        page_link=lambda n: "/mail?" + urlencode(form.query(n)),
        **context,
    )


def _mail_id_ok(mail_id: str) -> bool:
    return 0 < len(mail_id) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in mail_id)


async def _one_mail(d: ConsoleDeps, mail_id: str) -> DeliveryRecord | None:
    if not _mail_id_ok(mail_id):
        return None
    records = await _log(d, limit=1, mail_id=mail_id)
    return records[0] if records else None


async def _shown(d: ConsoleDeps, record: DeliveryRecord) -> tuple[ShownMail | None, str | None]:
    """The mail as sent (the exact bytes the notifier kept), else rebuilt, or why it cannot be shown."""
    key = (record.mail_id, record.queued_at)
    if key in d.rebuilt:
        d.rebuilt.move_to_end(key)
        return d.rebuilt[key], None
    shown: ShownMail | None = None
    if record.status is not DeliveryStatus.QUEUED or record.attempts:
        try:
            sent = await d.suite.call(GetSentMail(mail_id=record.mail_id))
        except CommandRefused as refused:
            if refused.code in (ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL):
                raise
        else:
            shown = exact(base64.b64decode(sent.data_base64))
    if shown is None:
        if d.events is None:
            return None, "イベントの参照が設定されていないため（ENS_CONSOLE_EVENTS_IDENTITY）、本文は表示できません。"
        event = await d.events.find(record)
        if event is None:
            return None, "このメールの元になったイベントはイベントストリームの保存期間を過ぎたため、本文を再現できません。"
        shown = rebuild(event, record, d.renderer)
        if shown is None:
            return None, "イベントからこのメールを特定できませんでした。"
    # The detail page and its HTML frame ask for the same mail one after the other; a mail's
    # bytes never change, so a few are kept.
    d.rebuilt[key] = shown
    while len(d.rebuilt) > REBUILT_KEPT:
        d.rebuilt.popitem(last=False)
    return shown, None


async def _mail_page(request: Request, officer: Officer, status: int = 200, **context: Any) -> Response:
    d = deps(request)
    record = await _one_mail(d, request.path_params["mail_id"])
    if record is None:
        return refused_page(request, officer, 404, "メールが見つかりません", "該当するメールIDの送信記録はありません。")
    shown, why_not = await _shown(d, record)
    return render(
        request,
        "mail_detail.html",
        status=status,
        officer=officer,
        record=record,
        mail=shown,
        why_not=why_not,
        resendable=record.status in RESENDABLE,
        done=request.query_params.get("done") == "resent",
        form_nonce=secrets.token_urlsafe(16),
        **context,
    )


@officer_page
async def mail_detail(request: Request, officer: Officer) -> Response:
    return await _mail_page(request, officer)


RESENDABLE = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)


@officer_page
async def resend(request: Request, officer: Officer) -> Response:
    """Send a mail again, to the account's address registered now, with the officer's reason."""
    d = deps(request)
    form = await request.form()
    mail_id = request.path_params["mail_id"]
    if not _mail_id_ok(mail_id):
        return refused_page(request, officer, 404, "メールが見つかりません", "該当するメールIDの送信記録はありません。")
    reason = _field(form, "reason").strip()
    if not reason:
        return await _mail_page(request, officer, 400, resend_error="再送の理由を入力してください。")
    # One key per form shown: a double submit or a retry after a lost answer resends once.
    request_id = (
        "console-" + hashlib.sha256(f"{officer.auth_id}|{mail_id}|{_field(form, 'form_nonce')}".encode()).hexdigest()[:40]
    )
    try:
        reply = await d.suite.call(
            ResendMail(session_token=officer.token, mail_id=mail_id, reason=reason[:200], request_id=request_id)
        )
    except CommandRefused as refused:
        if refused.code in (ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL):
            raise
        return await _mail_page(request, officer, 400, resend_error=refused.error.message)
    return RedirectResponse(f"/mail/{quote(reply.resent_as)}?done=resent", status_code=303)


@officer_page
async def mail_html(request: Request, officer: Officer) -> Response:
    d = deps(request)
    record = await _one_mail(d, request.path_params["mail_id"])
    shown = (await _shown(d, record))[0] if record is not None else None
    if shown is None:
        return HTMLResponse("", status_code=404, headers={"Content-Security-Policy": MAIL_CSP})
    return _sandboxed(shown.html)


def _sandboxed(html: str) -> Response:
    return HTMLResponse(html, headers={"Content-Security-Policy": MAIL_CSP, "X-Frame-Options": "SAMEORIGIN"})


# ---- accounts -----------------------------------------------------------------------------


async def _account_page(request: Request, officer: Officer, status: int = 200, **context: Any) -> Response:
    d = deps(request)
    auth_id = str(context.pop("auth_id", "") or request.query_params.get("auth_id", "")).strip()[:MAX_INPUT]
    organisation_id = request.query_params.get("organisation_id", "").strip()[:MAX_INPUT]
    if not auth_id and not organisation_id:
        return render(request, "account.html", status=status, officer=officer, **context)
    try:
        view = await d.suite.call(
            a.GetAccount(
                session_token=officer.token, auth_id=auth_id or None, organisation_id=None if auth_id else organisation_id
            )
        )
    except CommandRefused as refused:
        if refused.code in (ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL):
            raise
        return render(
            request,
            "account.html",
            status=404 if refused.code is ErrorCode.NOT_FOUND else 400,
            officer=officer,
            query_auth_id=auth_id,
            query_organisation_id=organisation_id,
            lookup_error=refused.error.message,
            **context,
        )
    account = view.account
    mails = await _log(d, limit=20, auth_id=account.auth_id)
    return render(
        request,
        "account.html",
        status=status,
        officer=officer,
        account=account,
        status_label=views.ACCOUNT_STATUS_LABELS.get(account.status, account.status),
        mails=mails,
        query_auth_id=auth_id,
        query_organisation_id=organisation_id,
        **context,
    )


@officer_page
async def account_page(request: Request, officer: Officer) -> Response:
    done = request.query_params.get("done") == "password"
    return await _account_page(request, officer, password_done=done)


@officer_page
async def set_password(request: Request, officer: Officer) -> Response:
    d = deps(request)
    form = await request.form()
    auth_id = _field(form, "auth_id")
    new, again = _field(form, "new_password"), _field(form, "new_password_confirm")
    if not new or new != again:
        message = "入力してください。" if not new else "確認用のパスワードが一致しません。"
        return await _account_page(request, officer, 400, auth_id=auth_id, password_errors={"new_password": message})
    try:
        provenance = a.RequestProvenance(
            channel=a.RequestChannel.POST if _field(form, "channel") == "post" else a.RequestChannel.COUNTER,
            bureau=_field(form, "bureau")[:40],
            form_reference=_field(form, "form_reference")[:40],
        )
        await d.suite.call(a.SetPassword(session_token=officer.token, auth_id=auth_id, new_password=new, request=provenance))
    except CommandRefused as refused:
        if refused.code in (ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL):
            raise
        fields = {fe.field: fe.message for fe in refused.error.fields} or {"new_password": refused.error.message}
        return await _account_page(request, officer, 400, auth_id=auth_id, password_errors=fields)
    return RedirectResponse("/accounts?" + urlencode({"auth_id": auth_id, "done": "password"}), status_code=303)


# ---- filings, templates, jobs -------------------------------------------------------------


@officer_page
async def filing_page(request: Request, officer: Officer) -> Response:
    d = deps(request)
    number = request.query_params.get("reception_number", "").strip()[:MAX_INPUT]
    if not number:
        return render(request, "filing.html", officer=officer)
    try:
        detail = await d.suite.call(f.GetFiling(session_token=officer.token, reception_number=number))
    except CommandRefused as refused:
        if refused.code in (ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL):
            raise
        status = 404 if refused.code is ErrorCode.NOT_FOUND else 400
        return render(request, "filing.html", status=status, officer=officer, number=number, lookup_error=refused.error.message)
    mails = await _log(d, limit=100, reception_number=detail.filing.reception_number)
    return render(request, "filing.html", officer=officer, number=number, filing=detail.filing, mails=mails)


@officer_page
async def templates_page(request: Request, officer: Officer) -> Response:
    return render(request, "templates.html", officer=officer, previews=list(deps(request).previews.values()))


@officer_page
async def template_html(request: Request, officer: Officer) -> Response:
    preview = deps(request).previews.get(request.path_params["key"])
    if preview is None:
        return HTMLResponse("", status_code=404, headers={"Content-Security-Policy": MAIL_CSP})
    return _sandboxed(preview.mail.html)


@officer_page
async def jobs_page(request: Request, officer: Officer) -> Response:
    jobs = (await deps(request).suite.call(ListJobs())).jobs
    return render(request, "jobs.html", officer=officer, jobs=jobs, labels=views.JOB_LABELS)
