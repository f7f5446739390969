"""Notices (お知らせ, Q3): officers publish and withdraw them; login and ListNotices show the
ones in force."""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts import auth as c
from contracts.common import Ack, FieldError
from services.auth.domain.errors import NoticeNotFound
from services.auth.domain.session import Caller
from services.auth.ports import AuthDeps
from services.runtime.errors import InvalidInput, field_error
from services.runtime.pipeline import CommandContext

Ctx = CommandContext[AuthDeps, Caller]


def notice_errors(cmd: c.PublishNotice, starts: datetime) -> list[FieldError]:
    errors = []
    if not cmd.title.strip():
        errors.append(field_error("title", "required", "入力してください。", "件名"))
    elif len(cmd.title) > 200:
        errors.append(field_error("title", "too_long", "200文字以内で入力してください。", "件名"))
    if not cmd.body.strip():
        errors.append(field_error("body", "required", "入力してください。", "本文"))
    elif len(cmd.body) > 10_000:
        errors.append(field_error("body", "too_long", "10000文字以内で入力してください。", "本文"))
    if cmd.ends_at is not None and cmd.ends_at <= starts:
        errors.append(field_error("ends_at", "before_start", "掲載終了日時は掲載開始日時より後にしてください。", "掲載終了日時"))
    return errors


async def in_force(deps: AuthDeps, now: datetime) -> list[c.Notice]:
    """The notices shown now, newest first."""
    shown = [n for n in await deps.notices.all() if n.starts_at <= now and (n.ends_at is None or now < n.ends_at)]
    return sorted(shown, key=lambda n: n.starts_at, reverse=True)


async def _new_notice_id() -> str:
    return uuid.uuid4().hex


async def publish_notice(cmd: c.PublishNotice, ctx: Ctx) -> c.NoticeView:
    await ctx.officer()
    starts = cmd.starts_at or ctx.deps.clock.now()
    errors = notice_errors(cmd, starts)
    if errors:
        raise InvalidInput(fields=errors)
    notice_id = await ctx.reserve("notice_id", _new_notice_id)  # a retried request finds its notice
    notice = c.Notice(notice_id=notice_id, title=cmd.title, body=cmd.body, starts_at=starts, ends_at=cmd.ends_at)
    await ctx.deps.notices.publish(notice)
    ctx.trail.target = notice.notice_id
    return c.NoticeView(notice=notice)


async def withdraw_notice(cmd: c.WithdrawNotice, ctx: Ctx) -> Ack:
    ctx.trail.target = cmd.notice_id
    await ctx.officer()
    if not await ctx.deps.notices.withdraw(cmd.notice_id):
        raise NoticeNotFound()
    return Ack()


async def list_notices(cmd: c.ListNotices, ctx: Ctx) -> c.NoticeList:
    return c.NoticeList(notices=await in_force(ctx.deps, ctx.deps.clock.now()))
