"""The console's pages over the real suite (real nats-server, the four services on a fake clock,
a real SMTP sink), driven in-process through its ASGI app; the browser tests are in e2e/."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from contracts import auth as a
from contracts.client import CommandRefused
from contracts.common import ErrorBody, ErrorCode
from contracts.notifier import GetSentMail, MailType
from services.console.adapters.events import EventArchive
from services.console.app import build
from services.console.settings import ConsoleSettings
from services.runtime.clock import JST
from services.runtime.settings import RuntimeSettings
from tests.support import bus
from tests.support.console import OFFICER, OFFICER_PASSWORD, ORG_ID, ORG_PASSWORD, World, world


@pytest.fixture
async def w(monkeypatch, nats_url, client, mail_sink) -> AsyncIterator[World]:
    async with world(monkeypatch, nats_url, client, mail_sink) as built:
        yield built


@pytest.fixture
async def browser(w: World) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=w.console.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        yield http


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(http: httpx.AsyncClient, auth_id: str = OFFICER, password: str = OFFICER_PASSWORD) -> httpx.Response:
    form = await http.get("/login")
    token = CSRF.search(form.text).group(1)
    return await http.post("/login", data={"csrf_token": token, "auth_id": auth_id, "password": password})


def csrf_of(page: httpx.Response) -> str:
    return CSRF.search(page.text).group(1)


async def test_an_officer_signs_in_finds_a_filings_mail_and_sees_what_the_sink_received(w, browser):
    signed = await sign_in(browser)
    assert signed.status_code == 303 and signed.headers["location"] == "/mail"
    found = await browser.get("/mail", params={"reception_number": w.reception_number})
    assert found.status_code == 200 and f"/mail/{w.filing_mail.mail_id}" in found.text
    detail = await browser.get(f"/mail/{w.filing_mail.mail_id}")
    sent = w.sent(w.filing_mail)
    assert detail.status_code == 200
    assert str(sent["Subject"]) in detail.text
    assert 'id="mail-exact"' in detail.text  # the bytes the notifier kept, not a rebuild
    assert w.filing_mail.template_version and w.filing_mail.template_version in detail.text
    assert 'id="mail-history"' in detail.text and "送信済み" in detail.text
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert html.unescape(re.search(r'<pre id="mail-text"[^>]*>(.*?)</pre>', detail.text, re.S).group(1)).strip() == text.strip()
    frame = await browser.get(f"/mail/{w.filing_mail.mail_id}/html")
    assert frame.text == sent.get_body(("html",)).get_content()
    assert "script-src" not in frame.headers["content-security-policy"]  # default-src 'none' covers scripts
    assert (
        "default-src 'none'" in frame.headers["content-security-policy"] and "sandbox" in frame.headers["content-security-policy"]
    )


async def test_the_console_side_filters_type_status_and_dates_over_what_the_log_returned(w, browser):
    await sign_in(browser)
    day = w.filing_mail.queued_at.astimezone(JST).date()
    hit = await browser.get(
        "/mail", params={"auth_id": ORG_ID, "mail_type": "filing_submitted", "status": "sent", "date_from": day.isoformat()}
    )
    assert w.filing_mail.mail_id in hit.text and "<td>1. 利用者情報登録</td>" not in hit.text
    miss = await browser.get("/mail", params={"auth_id": ORG_ID, "date_from": (day + timedelta(days=1)).isoformat()})
    assert w.filing_mail.mail_id not in miss.text and "該当するメールはありません" in miss.text
    no_filter = await browser.get("/mail", params={"mail_type": "filing_submitted"})
    assert no_filter.status_code == 400 and "いずれかを入力してください" in no_filter.text


async def test_an_organisations_right_credentials_do_not_sign_in_and_their_session_is_ended(w, browser):
    refused = await sign_in(browser, ORG_ID, ORG_PASSWORD)
    assert refused.status_code == 403 and "職員専用" in refused.text
    assert "ens_console_session" not in refused.cookies
    assert (await browser.get("/mail")).headers["location"] == "/login"


async def test_a_form_without_the_csrf_token_is_refused(w, browser):
    form = await browser.get("/login")
    assert form.status_code == 200
    no_token = await browser.post("/login", data={"auth_id": OFFICER, "password": OFFICER_PASSWORD})
    assert no_token.status_code == 403 and "ens_console_session" not in no_token.cookies
    await sign_in(browser)
    page = await browser.get("/accounts", params={"auth_id": ORG_ID})
    forged = await browser.post(
        "/accounts/password", data={"auth_id": ORG_ID, "new_password": "Other#456xyz", "new_password_confirm": "Other#456xyz"}
    )
    assert forged.status_code == 403
    wrong = await browser.post("/logout", data={"csrf_token": csrf_of(page)[:-2] + "00"})
    assert wrong.status_code == 403
    assert (await browser.get("/jobs")).status_code == 200  # still signed in: nothing was done


async def test_five_wrong_passwords_lock_and_the_sign_in_page_says_until_when(w, browser):
    await w.add_officer("officer02", "Officer#2027y")
    for _ in range(5):
        failed = await sign_in(browser, "officer02", "Wrong#password1")
        assert failed.status_code == 401 and "認証IDまたはパスワードが正しくありません" in failed.text
    locked = await sign_in(browser, "officer02", "Officer#2027y")
    until = w.clock.now() + timedelta(hours=24)
    assert locked.status_code == 401 and 'id="locked-until"' in locked.text
    assert f"{until.astimezone(JST):%H:%M}" in locked.text


async def test_a_session_idle_past_its_limit_is_signed_out(w, browser):
    await sign_in(browser)
    w.clock.advance(minutes=29)
    assert (await browser.get("/jobs")).status_code == 200  # activity restarts the idle period
    w.clock.advance(minutes=29)
    assert (await browser.get("/jobs")).status_code == 200
    w.clock.advance(minutes=31)
    ended = await browser.get("/jobs")
    assert ended.status_code == 303 and ended.headers["location"] == "/login?ended=1"
    assert "セッションの有効期限が切れた" in (await browser.get("/login?ended=1")).text


async def test_the_account_page_shows_the_lock_and_a_reset_on_request_lifts_it(w, browser):
    for _ in range(5):
        with pytest.raises(CommandRefused):
            await w.client.call(a.Login(auth_id=ORG_ID, password="Wrong#password1"))
    await sign_in(browser)
    page = await browser.get("/accounts", params={"auth_id": ORG_ID})
    assert "ロック中" in page.text and 'id="account-locked-until"' in page.text and "パスワードの最終有効日" in page.text
    mismatch = await browser.post(
        "/accounts/password",
        data={"csrf_token": csrf_of(page), "auth_id": ORG_ID, "new_password": "Fresh#2027pw", "new_password_confirm": "x"},
    )
    assert mismatch.status_code == 400 and "一致しません" in mismatch.text
    unrecorded = await browser.post(
        "/accounts/password",
        data={
            "csrf_token": csrf_of(page),
            "auth_id": ORG_ID,
            "new_password": "Fresh#2027pw",
            "new_password_confirm": "Fresh#2027pw",
        },
    )
    assert unrecorded.status_code == 400 and "入力してください" in unrecorded.text  # where the request came from is required
    done = await browser.post(
        "/accounts/password",
        data={
            "csrf_token": csrf_of(page),
            "auth_id": ORG_ID,
            "new_password": "Fresh#2027pw",
            "new_password_confirm": "Fresh#2027pw",
            "channel": "post",
            "bureau": "東京出入国在留管理局",
            "form_reference": "申出-2027-0042",
        },
    )
    assert done.status_code == 303
    after = await browser.get(done.headers["location"])
    assert 'id="password-done"' in after.text and "ロック中" not in after.text
    assert (await w.client.call(a.Login(auth_id=ORG_ID, password="Fresh#2027pw"))).role.value == "organisation"


async def test_every_page_is_uncached_framed_by_nobody_and_scriptless(w, browser):
    await sign_in(browser)
    pages = [
        "/login",
        "/mail",
        f"/mail?reception_number={w.reception_number}",
        f"/mail/{w.filing_mail.mail_id}",
        f"/accounts?auth_id={ORG_ID}",
        f"/filings?reception_number={w.reception_number}",
        "/templates",
        "/jobs",
    ]
    for path in pages:
        response = await browser.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert "default-src 'none'" in response.headers["content-security-policy"], path
        assert "<script" not in response.text, path


async def test_the_filing_page_shows_status_and_mails_but_no_persons(w, browser):
    await sign_in(browser)
    page = await browser.get("/filings", params={"reception_number": w.reception_number})
    assert "処理待ち" in page.text and w.filing_mail.mail_id in page.text
    assert "NGUYEN" not in page.text and "AB12345678CD" not in page.text
    missing = await browser.get("/filings", params={"reception_number": "R0000000000000"})
    assert missing.status_code in (400, 404)


async def test_templates_show_every_type_text_and_html_and_jobs_list_each_job(w, browser):
    await sign_in(browser)
    templates = await browser.get("/templates")
    for t in MailType:
        assert f'id="{t.value}-0"' in templates.text
    frame = await browser.get("/templates/password_changed-1/html")
    assert frame.status_code == 200 and "sandbox" in frame.headers["content-security-policy"]
    jobs = await browser.get("/jobs")
    for name in ("activate_registrations", "password_expiry_warnings", "expire_accounts", "purge_filings"):
        assert name in jobs.text


async def test_signing_out_ends_the_suites_session(w, browser):
    await sign_in(browser)
    page = await browser.get("/jobs")
    token = browser.cookies["ens_console_session"]
    out = await browser.post("/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303 and out.headers["location"] == "/login?signed_out=1"
    info = await w.client.call(a.IntrospectSession(session_token=token))
    assert not info.active


async def test_a_post_of_unknown_or_large_length_is_refused_before_it_is_read(w, browser):
    big = await browser.post(
        "/login", content=b"a=" + b"x" * 20_000, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert big.status_code == 413 and big.headers["cache-control"] == "no-store"

    async def chunks():
        yield b"auth_id=x"

    unknown = await browser.post("/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert unknown.status_code == 411


class EventGone:
    async def find(self, record):
        return None


class NoBytesKept:
    """The suite, as it answered for a mail sent before the notifier kept its bytes."""

    def __init__(self, client) -> None:
        self._client = client

    async def call(self, command, **kwargs):
        if isinstance(command, GetSentMail):
            raise CommandRefused(ErrorBody(code=ErrorCode.NOT_FOUND, message="not kept"))
        return await self._client.call(command, **kwargs)


async def test_a_mail_sent_before_its_bytes_were_kept_is_rebuilt_from_its_event(w, nats_url):
    console = build(RuntimeSettings(nats_url=nats_url), ConsoleSettings(port=0, secure_cookie=False), w.clock)
    reader = await bus.connect_as(nats_url, "events-reader")
    try:
        await console.connect(suite=NoBytesKept(w.client), events=EventArchive(reader))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=console.app), base_url="http://127.0.0.1:8080") as http:
            await sign_in(http)
            detail = await http.get(f"/mail/{w.filing_mail.mail_id}")
    finally:
        await reader.close()
    sent = w.sent(w.filing_mail)
    assert "件名と Message-ID は送信時の記録と一致しています" in detail.text and 'id="mail-exact"' not in detail.text
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert html.unescape(re.search(r'<pre id="mail-text"[^>]*>(.*?)</pre>', detail.text, re.S).group(1)).strip() == text.strip()


async def test_a_mail_whose_event_left_the_stream_shows_its_log_and_says_why_there_is_no_body(w, nats_url):
    console = build(RuntimeSettings(nats_url=nats_url), ConsoleSettings(port=0, secure_cookie=False, events_identity=""), w.clock)
    await console.connect(suite=NoBytesKept(w.client), events=EventGone())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=console.app), base_url="http://127.0.0.1:8080") as http:
        await sign_in(http)
        detail = await http.get(f"/mail/{w.filing_mail.mail_id}")
        frame = await http.get(f"/mail/{w.filing_mail.mail_id}/html")
    assert detail.status_code == 200 and w.filing_mail.recipient in detail.text
    assert "保存期間を過ぎたため、本文を再現できません" in detail.text and 'id="mail-text"' not in detail.text
    assert frame.status_code == 404


async def test_an_officer_resends_a_mail_with_a_reason_and_it_reaches_the_current_address_once(w, browser):
    await sign_in(browser)
    page = await browser.get(f"/mail/{w.filing_mail.mail_id}")
    nonce = re.search(r'name="form_nonce" value="([^"]+)"', page.text).group(1)
    empty = await browser.post(
        f"/mail/{w.filing_mail.mail_id}/resend", data={"csrf_token": csrf_of(page), "form_nonce": nonce, "reason": " "}
    )
    assert empty.status_code == 400 and "再送の理由を入力してください" in empty.text
    form = {"csrf_token": csrf_of(page), "form_nonce": nonce, "reason": "機関から届かないと電話あり"}
    before = len(w.sink.mails)
    first = await browser.post(f"/mail/{w.filing_mail.mail_id}/resend", data=form)
    again = await browser.post(f"/mail/{w.filing_mail.mail_id}/resend", data=form)  # a double submit
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    new_page = await browser.get(first.headers["location"])
    assert 'id="resend-done"' in new_page.text and f'href="/mail/{w.filing_mail.mail_id}"' in new_page.text
    for _ in range(200):
        if len(w.sink.mails) > before:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert len(w.sink.mails) == before + 1
    original = await browser.get(f"/mail/{w.filing_mail.mail_id}")
    assert 'id="mail-resent-as"' in original.text and "機関から届かないと電話あり" in original.text
