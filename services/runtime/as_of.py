"""A job's as-of in the future is refused (SPEC §4), by every service that takes one, not only by
the scheduler or the CLI: a run dated tomorrow would do tomorrow's work now (activate
registrations before their day, expire accounts and purge filings before their time). An
operator who means it sets `force`.

`not_in_future(use_case)` wraps a job's use case in a handler table; the service's deps give
the clock.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from contracts.common import Reply
from services.runtime.clock import Clock, jp_datetime
from services.runtime.errors import InvalidInput, field_error
from services.runtime.pipeline import CommandContext

# Hosts' clocks drift apart a little; a scheduler's slot time must not be refused for seconds.
CLOCK_SKEW = timedelta(minutes=5)

FUTURE_REFUSED = "基準時刻（as_of）が現在より後です。未来の日付で実行すると、その日の処理（有効化・期限切れ・削除）を今行ってしまうため、実行しません（運用者が force を指定した場合を除く）。"


class HasClock(Protocol):
    @property
    def clock(self) -> Clock: ...


class Dated(Protocol):
    @property
    def as_of(self) -> datetime: ...


D = TypeVar("D", bound=HasClock)
C = TypeVar("C", bound=Dated)
R = TypeVar("R", bound=Reply)


def refuse_future(as_of: datetime, now: datetime, *, force: bool) -> None:
    if as_of > now + CLOCK_SKEW and not force:
        raise InvalidInput(
            FUTURE_REFUSED,
            fields=[field_error("as_of", "future", f"{jp_datetime(as_of)} は現在より後の時刻です。", "基準時刻")],
            details={"as_of": as_of.isoformat(), "now": now.isoformat()},
        )


def not_in_future(
    use_case: Callable[[C, CommandContext[D, Any]], Awaitable[R]],
) -> Callable[[C, CommandContext[D, Any]], Awaitable[R]]:
    @functools.wraps(use_case)
    async def guarded(cmd: C, ctx: CommandContext[D, Any]) -> R:
        as_of: datetime = cmd.as_of
        if as_of > ctx.deps.clock.now() + CLOCK_SKEW:
            ctx.trail.actor = ctx.trail.actor or "system"
            ctx.trail.details.update(as_of=as_of.isoformat(), force=bool(getattr(cmd, "force", False)))
        refuse_future(as_of, ctx.deps.clock.now(), force=bool(getattr(cmd, "force", False)))
        return await use_case(cmd, ctx)

    return guarded
