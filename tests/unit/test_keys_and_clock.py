from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.runtime.clock import FakeClock, business_day, jst_at
from services.runtime.keys import decode_key, encode_key

KV_KEY = re.compile(r"^[-/_=\.a-zA-Z0-9]+$")


@given(st.text())
def test_any_user_input_becomes_a_safe_reversible_key(value):
    key = encode_key(value)
    assert KV_KEY.match(key) and "." not in key and "*" not in key and ">" not in key
    assert decode_key(key) == value


def test_fake_clock_moves_only_when_told():
    clock = FakeClock(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(hours=24)
    assert clock.now() == datetime(2027, 1, 2, tzinfo=UTC)
    clock.advance(timedelta(minutes=1))
    assert clock.now().minute == 1


def test_business_day_is_japan_time():
    # 15:30 UTC on 31 Dec is 00:30 JST on 1 Jan
    assert business_day(datetime(2026, 12, 31, 15, 30, tzinfo=UTC)) == date(2027, 1, 1)
    assert jst_at(date(2027, 1, 1), time(9, 0)) == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
