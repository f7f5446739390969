"""The console in a real browser: Debian's Chromium, headless, driven by Selenium, against the
console served by uvicorn over TCP, in front of the real suite (real nats-server, the four
services on a fake clock, a real SMTP sink).

Selenium's calls block, and the suite runs in the test's event loop, so each browser step runs
in a thread (`step`). Set CONSOLE_SCREENSHOTS=docs/console to write the screenshots of the
main pages that the README links (headless Chromium, 1280 wide).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from services.runtime.clock import JST
from tests.support.console import OFFICER, OFFICER_PASSWORD, ORG_ID, ORG_PASSWORD, World, world

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "console browser tests skipped: Debian's chromium and chromedriver are not installed (scripts/install-browser.sh)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (after the skip: the browser may be absent)
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

T = TypeVar("T")
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=ja"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()


async def step(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


@pytest.fixture
async def w(monkeypatch, nats_url, client, mail_sink, driver) -> AsyncIterator[World]:
    async with world(monkeypatch, nats_url, client, mail_sink, serve=True) as built:
        await step(driver.delete_all_cookies)
        yield built


class Page:
    """The browser, one step per call, each in a thread."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.d = driver
        self.base = base

    async def open(self, path: str) -> None:
        await step(self.d.get, self.base + path)

    async def fill(self, field_id: str, value: str) -> None:
        def do() -> None:
            box = self.d.find_element(By.ID, field_id)
            box.clear()
            box.send_keys(value)

        await step(do)

    async def submit(self, css: str = "main form button[type=submit]") -> None:
        await self.click(css)

    async def click(self, css: str) -> None:
        """Click, and wait until the page it leads to has replaced this one."""

        def do() -> None:
            # Chromium can still be swapping in the previous page's document when a
            # step begins ("Node with given id does not belong to the document"):
            # wait for a settled page, and find the button again if it went stale.
            wait = WebDriverWait(self.d, 20, ignored_exceptions=(StaleElementReferenceException, WebDriverException))
            wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
            old = self.d.find_element(By.TAG_NAME, "html")
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, css).click() is None)
            wait.until(expected_conditions.staleness_of(old))
            wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

        await step(do)

    async def text(self, css: str = "main") -> str:
        return await step(lambda: self.d.find_element(By.CSS_SELECTOR, css).text)

    async def path(self) -> str:
        url = await step(lambda: self.d.current_url)
        return url.removeprefix(self.base)

    async def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)

            def do() -> None:
                height = self.d.execute_script("return document.documentElement.scrollHeight")
                self.d.set_window_size(1280, min(max(int(height), 900), 4000))
                self.d.save_screenshot(str(Path(SHOTS) / f"{name}.png"))
                self.d.set_window_size(1280, 900)

            await step(do)

    async def sign_in(self, auth_id: str, password: str) -> None:
        await self.open("/login")
        await self.fill("auth_id", auth_id)
        await self.fill("password", password)
        await self.submit()


@pytest.fixture
def page(w: World, driver: WebDriver) -> Page:
    return Page(driver, w.console.url)


async def test_an_officer_finds_a_mail_by_reception_number_and_sees_what_the_sink_received(w, page, driver):
    await page.open("/login")
    await page.shot("login")
    await page.sign_in(OFFICER, OFFICER_PASSWORD)
    assert await page.path() == "/mail"
    await page.fill("reception_number", w.reception_number)
    await page.submit("form.search button[type=submit]")
    assert w.filing_mail.recipient in await page.text("table")
    await page.shot("mail-search")
    await page.click(f"a[href='/mail/{w.filing_mail.mail_id}']")
    assert await page.path() == f"/mail/{w.filing_mail.mail_id}"
    sent = w.sent(w.filing_mail)
    assert await page.text("#mail-subject") == str(sent["Subject"])
    shown = await page.text("#mail-text")
    assert shown.split() == sent.get_body(("plain",)).get_content().split()

    def html_shows_the_reception_number() -> bool:
        driver.switch_to.frame(driver.find_element(By.ID, "mail-html"))
        try:
            return bool(WebDriverWait(driver, 20).until(lambda d: w.reception_number in d.find_element(By.TAG_NAME, "body").text))
        finally:
            driver.switch_to.default_content()

    assert await step(html_shows_the_reception_number)
    await page.shot("mail-detail")

    # "The mail did not arrive": resend it with a reason, and see the new attempt.
    before = len(w.sink.mails)
    await page.fill("reason", "機関から届かないと電話あり")
    await page.submit("form[action$='/resend'] button[type=submit]")
    assert "再送を受け付けました" in await page.text("#resend-done")
    assert await page.text("#mail-resent-from") == w.filing_mail.mail_id
    for _ in range(200):
        if len(w.sink.mails) > before:
            break
        await asyncio.sleep(0.05)
    assert len(w.sink.mails) == before + 1
    await page.open(await page.path())  # the new mail's page, now sent
    assert "送信済み" in await page.text("#mail-history")
    await page.shot("mail-resent")
    if SHOTS:
        await page.open(f"/accounts?auth_id={ORG_ID}")
        await page.shot("account")
        await page.open(f"/filings?reception_number={w.reception_number}")
        await page.shot("filing")
        await page.open("/templates")
        await page.shot("templates")
        await page.open("/jobs")
        await page.shot("jobs")


async def test_a_wrong_password_five_times_locks_and_the_page_says_until_when(w, page):
    await w.add_officer("officer02", "Officer#2027y")
    for _ in range(5):
        await page.sign_in("officer02", "Wrong#password1")
        assert "認証IDまたはパスワードが正しくありません" in await page.text("#login-error")
    await page.sign_in("officer02", "Officer#2027y")
    until = (w.clock.now() + timedelta(hours=24)).astimezone(JST)
    assert await page.text("#locked-until") == f"{until.year}年{until.month}月{until.day}日 {until:%H:%M}"
    assert await page.path() == "/login"


async def test_a_session_idle_past_its_limit_is_signed_out(w, page):
    await page.sign_in(OFFICER, OFFICER_PASSWORD)
    await page.open("/jobs")
    assert "定時処理" in await page.text("h1")
    w.clock.advance(minutes=31)
    await page.open("/jobs")
    assert await page.path() == "/login?ended=1"
    assert "セッションの有効期限が切れた" in await page.text("main")


async def test_a_request_without_the_csrf_token_is_refused(w, page, driver):
    await page.sign_in(OFFICER, OFFICER_PASSWORD)
    await page.open(f"/accounts?auth_id={ORG_ID}")
    await page.fill("new_password", "Fresh#2027pw")
    await page.fill("new_password_confirm", "Fresh#2027pw")
    await page.fill("bureau", "東京出入国在留管理局")
    await page.fill("form_reference", "申出-2027-0042")
    # What a forged form lacks: the token. WebDriver's script runs outside the page's CSP.
    await step(driver.execute_script, "document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    await page.submit("form[action='/accounts/password'] button[type=submit]")
    assert "リクエストを受け付けられません" in await page.text("h1")
    await page.open(f"/accounts?auth_id={ORG_ID}")
    assert "新しいパスワードを設定しました" not in await page.text("main")


async def test_an_organisations_credentials_cannot_sign_in(w, page):
    await page.sign_in(ORG_ID, ORG_PASSWORD)
    assert await page.path() == "/login"
    assert "職員専用" in await page.text("#login-error")
    await page.open("/mail")
    assert await page.path() == "/login"
