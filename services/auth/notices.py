"""Notices (お知らせ, Q3): published and withdrawn by officers, shown at login while in force."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from contracts import auth as c
from contracts.common import Ack
from services.auth.ports import Records
from services.runtime.errors import InvalidInput, NotFound, field_error
from services.runtime.outbox import StaleRevision


class Feed(Protocol):
    def put(self, notice_id: str, state: dict[str, Any] | None) -> None: ...
    def current(self) -> list[dict[str, Any]]: ...


class Notices:
    """Without a feed (unit tests) the records are read on every call."""

    def __init__(self, records: Records, feed: Feed | None = None) -> None:
        self._records = records
        self._feed = feed

    async def publish(self, cmd: c.PublishNotice, now: datetime) -> c.NoticeView:
        errors = []
        if not cmd.title.strip():
            errors.append(field_error("title", "required", "入力してください。", "件名"))
        elif len(cmd.title) > 200:
            errors.append(field_error("title", "too_long", "200文字以内で入力してください。", "件名"))
        if not cmd.body.strip():
            errors.append(field_error("body", "required", "入力してください。", "本文"))
        elif len(cmd.body) > 10_000:
            errors.append(field_error("body", "too_long", "10000文字以内で入力してください。", "本文"))
        starts = cmd.starts_at or now
        if cmd.ends_at is not None and cmd.ends_at <= starts:
            errors.append(
                field_error("ends_at", "before_start", "掲載終了日時は掲載開始日時より後にしてください。", "掲載終了日時")
            )
        if errors:
            raise InvalidInput(fields=errors)
        notice = c.Notice(notice_id=uuid.uuid4().hex, title=cmd.title, body=cmd.body, starts_at=starts, ends_at=cmd.ends_at)
        state = notice.model_dump(mode="json")
        await self._records.put(notice.notice_id, state, expected=None)
        if self._feed is not None:
            self._feed.put(notice.notice_id, state)
        return c.NoticeView(notice=notice)

    async def withdraw(self, notice_id: str) -> Ack:
        entry = await self._records.get(notice_id)
        if entry is None:
            raise NotFound(fields=[field_error("notice_id", "not_found", "該当するお知らせはありません。", "お知らせ")])
        try:
            await self._records.delete(notice_id, entry)
        except StaleRevision:
            raise NotFound(fields=[field_error("notice_id", "not_found", "該当するお知らせはありません。", "お知らせ")]) from None
        if self._feed is not None:
            self._feed.put(notice_id, None)
        return Ack()

    async def in_force(self, now: datetime) -> list[c.Notice]:
        notices = []
        for state in await self._states():
            notice = c.Notice.model_validate(state)
            if notice.starts_at <= now and (notice.ends_at is None or now < notice.ends_at):
                notices.append(notice)
        return sorted(notices, key=lambda n: n.starts_at, reverse=True)

    async def _states(self) -> list[dict[str, Any]]:
        if self._feed is not None:
            return self._feed.current()
        return [e.state for key in await self._records.keys() if (e := await self._records.get(key)) is not None]
