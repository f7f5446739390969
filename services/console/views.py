"""What the pages show, made from contract replies: pure, so it is tested without a browser.

The delivery-log search: `QueryDeliveryLog` filters by auth ID, reception number, recipient
and mail ID only, and answers at most 1,000 records, newest first, unpaged. Mail type, status
and date range are filtered here over what it returned, and the pages are cut here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from contracts.notifier import DeliveryRecord, DeliveryStatus, MailType
from contracts.scheduler import JobName
from services.runtime.clock import JST

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

SERVER_FILTERS = ("auth_id", "reception_number", "recipient", "mail_id")
MAX_FILTER_LENGTH = 254  # the longest e-mail address; longer input cannot match anything

STATUS_LABELS: dict[DeliveryStatus, str] = {
    DeliveryStatus.QUEUED: "送信待ち",
    DeliveryStatus.SENT: "送信済み",
    DeliveryStatus.RETRYING: "再送待ち（一時エラー）",
    DeliveryStatus.FAILED: "送信失敗",
    DeliveryStatus.BOUNCED: "不達（返送）",
}

MAIL_STATUS_LABELS: dict[str, str] = {
    "queued": "送信待ち登録",
    "sent": "送信済み",
    "deferred": "一時エラー（再送待ち）",
    "failed": "送信失敗",
    "bounced": "不達（返送）",
    "resent": "再送",
}

ACCOUNT_STATUS_LABELS: dict[str, str] = {
    "pending": "登録待ち（翌日有効）",
    "active": "有効",
    "locked": "ロック中",
    "deregistered": "抹消済み",
    "expired": "有効期限切れ（認証ID）",
    "password_expired": "パスワード有効期限切れ",
}

JOB_LABELS: dict[JobName, str] = {
    JobName.ACTIVATE_REGISTRATIONS: "利用者情報登録の有効化（翌日09:00）と登録完了メール",
    JobName.PASSWORD_EXPIRY_WARNINGS: "パスワード有効期限切れ間近のお知らせ",
    JobName.EXPIRE_ACCOUNTS: "1年間利用のない認証IDの失効",
    JobName.PURGE_FILINGS: "保存期間を過ぎた届出・報告の削除",
}


def jst(value: datetime | None) -> str:
    if value is None:
        return "—"
    v = value.astimezone(JST)
    return f"{v.year}年{v.month}月{v.day}日 {v.hour:02d}:{v.minute:02d}"


def jst_seconds(value: datetime | None) -> str:
    if value is None:
        return "—"
    v = value.astimezone(JST)
    return f"{v.year}年{v.month}月{v.day}日 {v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def last_valid_day(expires_at: datetime | None) -> str:
    """An expiry is the first instant no longer valid (00:00 JST of the next day); officers are
    told the last day on which it still is, as every mail and message does (SPEC §1)."""
    if expires_at is None:
        return "—"
    d = (expires_at.astimezone(JST) - timedelta(microseconds=1)).date()
    return f"{d.year}年{d.month}月{d.day}日"


@dataclass(frozen=True)
class SearchForm:
    """The delivery-log search as the form sent it; `errors` name the fields that were refused."""

    auth_id: str = ""
    reception_number: str = ""
    recipient: str = ""
    mail_id: str = ""
    mail_type: MailType | None = None
    status: DeliveryStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def server_filters(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SERVER_FILTERS if getattr(self, name)}

    @property
    def submitted(self) -> bool:
        return bool(self.server_filters or self.mail_type or self.status or self.date_from or self.date_to or self.errors)

    def query(self, page: int | None = None) -> dict[str, str]:
        """The query string of this search (for paging links)."""
        out = dict(self.server_filters)
        if self.mail_type:
            out["mail_type"] = self.mail_type.value
        if self.status:
            out["status"] = self.status.value
        if self.date_from:
            out["date_from"] = self.date_from.isoformat()
        if self.date_to:
            out["date_to"] = self.date_to.isoformat()
        out["page"] = str(page if page is not None else self.page)
        return out


def parse_search(params: Mapping[str, str]) -> SearchForm:
    errors: dict[str, str] = {}
    text: dict[str, str] = {}
    for name in SERVER_FILTERS:
        value = params.get(name, "").strip()
        if len(value) > MAX_FILTER_LENGTH:
            errors[name] = f"{MAX_FILTER_LENGTH}文字以内で入力してください。"
            value = ""
        text[name] = value
    mail_type = _enum(params.get("mail_type", ""), MailType, "mail_type", errors)
    status = _enum(params.get("status", ""), DeliveryStatus, "status", errors)
    date_from = _date(params.get("date_from", ""), "date_from", errors)
    date_to = _date(params.get("date_to", ""), "date_to", errors)
    if date_from and date_to and date_from > date_to:
        errors["date_to"] = "終了日は開始日以降の日付を指定してください。"
    try:
        page = max(1, min(int(params.get("page", "1") or "1"), 10_000))
    except ValueError:
        page = 1
    return SearchForm(**text, mail_type=mail_type, status=status, date_from=date_from, date_to=date_to, page=page, errors=errors)


def _enum(raw: str, cls: type[E], name: str, errors: dict[str, str]) -> E | None:
    if not raw:
        return None
    try:
        return cls(raw)
    except ValueError:
        errors[name] = "一覧から選択してください。"
        return None


def _date(raw: str, name: str, errors: dict[str, str]) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "日付を YYYY-MM-DD の形で入力してください。"
        return None


def refine(records: Sequence[DeliveryRecord], form: SearchForm) -> list[DeliveryRecord]:
    """The console-side filters: mail type, status, and the JST day the mail was queued."""
    out = []
    for r in records:
        if form.mail_type and r.mail_type is not form.mail_type:
            continue
        if form.status and r.status is not form.status:
            continue
        day = r.queued_at.astimezone(JST).date()
        if form.date_from and day < form.date_from:
            continue
        if form.date_to and day > form.date_to:
            continue
        out.append(r)
    return out


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.number * self.size, self.total)


def paginate(items: Sequence[T], number: int, size: int) -> Page[T]:
    pages = max(1, -(-len(items) // size))
    number = max(1, min(number, pages))
    start = (number - 1) * size
    return Page(items=list(items[start : start + size]), number=number, size=size, total=len(items))
