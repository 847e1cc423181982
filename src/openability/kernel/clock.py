"""Injectable clock. Code never calls datetime.now(): it asks the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock tests and demos move by hand."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("aware datetime required")
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._at = self._at + (delta if delta is not None else timedelta(**kwargs))
        return self._at


def utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: store and compare aware datetimes only")
    return dt.astimezone(UTC)


def business_date(dt: datetime) -> date:
    """The Asia/Shanghai calendar date of an instant."""
    return utc(dt).astimezone(SHANGHAI).date()


def month_key(dt: datetime) -> str:
    """Billing month (Asia/Shanghai) as 'YYYY-MM'."""
    d = business_date(dt)
    return f"{d.year:04d}-{d.month:02d}"


def next_month(month: str) -> str:
    """'YYYY-MM' of the month after `month`."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def previous_month(month: str) -> str:
    """'YYYY-MM' of the month before `month`."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """UTC [start, end) of a 'YYYY-MM' billing month in Asia/Shanghai."""
    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = datetime(year + (mon // 12), mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def end_of_business_day(d: date) -> datetime:
    """24:00 Asia/Shanghai of a date, i.e. 00:00 of the next day, as UTC."""
    return datetime(d.year, d.month, d.day, tzinfo=SHANGHAI).astimezone(UTC) + timedelta(days=1)
