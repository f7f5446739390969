"""The console's pure parts: the search form, the console-side filters and paging, dates as
officers read them, cookie flags and CSRF tokens."""

from __future__ import annotations

from datetime import UTC, date, datetime

from starlette.responses import Response

from contracts.notifier import DeliveryRecord, DeliveryStatus, MailType
from services.console import views
from services.console.mails import previews
from services.console.security import CookiePolicy, Csrf
from services.notifier.domain.rendering import Renderer
from services.notifier.settings import NotifierSettings


def record(n: int, mail_type: MailType, status: DeliveryStatus, queued: datetime) -> DeliveryRecord:
    return DeliveryRecord(
        mail_id=f"{n:032x}",
        event_id=f"e{n}",
        mail_type=mail_type,
        recipient="a@example.jp",
        status=status,
        attempts=1,
        queued_at=queued,
    )


def test_the_search_form_keeps_what_it_understood_and_names_what_it_did_not():
    form = views.parse_search(
        {
            "auth_id": " sakura-org1 ",
            "mail_type": "nope",
            "status": "sent",
            "date_from": "2027-04-02",
            "date_to": "2027-04-01",
            "page": "x",
        }
    )
    assert form.server_filters == {"auth_id": "sakura-org1"}
    assert form.status is DeliveryStatus.SENT and form.page == 1
    assert set(form.errors) == {"mail_type", "date_to"}
    assert not views.parse_search({}).submitted


def test_type_status_and_the_jst_day_filter_what_the_log_returned():
    late_evening_utc = datetime(2027, 4, 1, 16, 0, tzinfo=UTC)  # 2027-04-02 01:00 JST
    rows = [
        record(1, MailType.FILING_SUBMITTED, DeliveryStatus.SENT, late_evening_utc),
        record(2, MailType.FILING_SUBMITTED, DeliveryStatus.FAILED, late_evening_utc),
        record(3, MailType.PASSWORD_CHANGED, DeliveryStatus.SENT, datetime(2027, 4, 1, 1, 0, tzinfo=UTC)),
    ]
    form = views.SearchForm(
        auth_id="x", mail_type=MailType.FILING_SUBMITTED, status=DeliveryStatus.SENT, date_from=date(2027, 4, 2)
    )
    assert [r.event_id for r in views.refine(rows, form)] == ["e1"]
    assert [r.event_id for r in views.refine(rows, views.SearchForm(auth_id="x", date_to=date(2027, 4, 1)))] == ["e3"]


def test_pages_are_cut_and_a_page_past_the_end_shows_the_last():
    page = views.paginate(list(range(120)), 9, 50)
    assert (page.number, page.pages, page.first_index, page.last_index, page.items[0]) == (3, 3, 101, 120, 100)
    assert views.paginate([], 1, 50).pages == 1


def test_an_expiry_is_shown_as_its_last_valid_day():
    expires = datetime(2028, 4, 1, 15, 0, tzinfo=UTC)  # 2028-04-02 00:00 JST
    assert views.last_valid_day(expires) == "2028年4月1日"
    assert views.jst(expires) == "2028年4月2日 00:00"


def test_cookies_are_http_only_same_site_strict_and_secure_unless_turned_off():
    response = Response()
    CookiePolicy(secure=True).set(response, "ens_console_session", "token")
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "secure" in header and "path=/" in header
    plain = Response()
    CookiePolicy(secure=False).set(plain, "ens_console_session", "token")
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_a_csrf_token_belongs_to_one_session_and_one_key():
    csrf = Csrf(b"k" * 32)
    token = csrf.for_session("session-a")
    assert csrf.session_ok("session-a", token)
    assert not csrf.session_ok("session-b", token)
    assert not csrf.session_ok("session-a", "")
    assert not Csrf(b"j" * 32).session_ok("session-a", token)
    assert Csrf.login_ok("abc", "abc") and not Csrf.login_ok("abc", "abd") and not Csrf.login_ok(None, None)


def test_every_mail_type_has_a_preview_with_text_and_html():
    shown = previews(Renderer(NotifierSettings.model_construct()))
    assert {p.mail_type for p in shown} == set(MailType)
    assert all(p.mail.text and p.mail.html and p.mail.subject for p in shown)
    assert len(shown) > len(MailType)  # the variants (officer reset, bulk, fix, 30/7 days)
