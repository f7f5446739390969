"""Time as a port: services ask a Clock, tests hand them a FakeClock they move by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2027, 4, 1, 0, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


# Japan has kept UTC+9 all year since 1951: a fixed offset formats the same as Asia/Tokyo for
# any date a message mentions, at a fraction of ZoneInfo's cost per conversion.
JST_OFFSET = timezone(timedelta(hours=9), "JST")


def jp_date(day: date) -> str:
    """The one way a day is written to people, in mails and messages alike: 2027年4月1日."""
    return f"{day.year}年{day.month}月{day.day}日"


def jp_datetime(moment: datetime) -> str:
    """The one way a moment is written to people (Japan time): 2027年4月1日 09:30."""
    v = moment.astimezone(JST_OFFSET)
    return f"{jp_date(v.date())} {v.hour:02d}:{v.minute:02d}"


def last_day_before(moment: datetime) -> date:
    """The last Japan-time day that still counts when a period ends at `moment` (exclusive):
    a period ending at 00:00 JST on 2 April was valid through 1 April."""
    return (moment - timedelta(microseconds=1)).astimezone(JST_OFFSET).date()


def business_day(moment: datetime) -> date:
    """The Japan-time calendar day of a moment."""
    return moment.astimezone(JST).date()


def jst_at(day: date, at: time) -> datetime:
    """A JST wall-clock time on a day, as UTC."""
    return datetime.combine(day, at, tzinfo=JST).astimezone(UTC)
