"""Clocks. Every timer reads time through the ``Clock`` port so tests freeze and advance it."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Current instant, tz-aware UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, demo data, support tooling)."""

    def __init__(self, at: dt.datetime | None = None) -> None:
        start = at or dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a tz-aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            return self._now

    def set(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a tz-aware datetime")
        with self._lock:
            self._now = at.astimezone(UTC)


def add_months(at: dt.datetime, months: int) -> dt.datetime:
    """Calendar months, clamped to the month's last day (31 Dec + 2 months = 28/29 Feb)."""
    month_index = at.month - 1 + months
    year = at.year + month_index // 12
    month = month_index % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last_day = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return at.replace(year=year, month=month, day=min(at.day, last_day))
