"""Working-day calendar: mainland-China official calendar (holidays' China + 调休 make-up days)
plus an operator-maintained override table (the State Council publishes each year late)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Date, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, UTCDateTime

if TYPE_CHECKING:
    from holidays import HolidayBase

log = logging.getLogger(__name__)


class CalendarOverride(Base):
    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _china(year: int, language: str | None = None) -> HolidayBase:
    """The package's China calendar of a year. Imported when first asked: `holidays` loads every
    country's module (~11 MiB), which a process that never counts working days does not need."""
    import holidays

    return holidays.country_holidays("CN", years=year, language=language)


@lru_cache(maxsize=64)
def _china_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    cn = _china(year)
    days_off = frozenset(d for d in cn if d.year == year)
    make_up = frozenset(d for d in getattr(cn, "weekend_workdays", set()) if d.year == year)
    return days_off, make_up


class WorkingCalendar:
    """Pure value object: answers working-day questions; no I/O once built."""

    def __init__(
        self, overrides: Mapping[date, bool] | None = None, confirmed_years: Iterable[int] = ()
    ) -> None:
        self.overrides: dict[date, bool] = dict(overrides or {})
        self.confirmed_years = frozenset(confirmed_years)
        self.warnings: set[int] = set()

    def is_confirmed(self, year: int) -> bool:
        """A year counts as confirmed if listed in settings or the operator recorded overrides for it."""
        return year in self.confirmed_years or any(d.year == year for d in self.overrides)

    def is_working_day(self, d: date) -> bool:
        if d in self.overrides:
            return self.overrides[d]
        if not self.is_confirmed(d.year) and d.year not in self.warnings:
            self.warnings.add(d.year)
            log.warning("working-day calendar for %s is not confirmed; using the package's estimate", d.year)
        days_off, make_up = _china_year(d.year)
        if d in make_up:
            return True
        if d in days_off:
            return False
        return d.weekday() < 5

    def holiday_name(self, d: date) -> str | None:
        cn = _china(d.year, "zh_CN")
        name = cn.get(d)
        return str(name) if name else None

    def nth_working_day_after(self, d: date, n: int) -> date:
        """The Nth working day strictly after d (R-CS-04: counting starts the day after receipt)."""
        if n < 1:
            raise ValueError("n must be >= 1")
        cur = d
        count = 0
        while count < n:
            cur += timedelta(days=1)
            if self.is_working_day(cur):
                count += 1
        return cur

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        n, cur = 0, start
        while cur < end:
            cur += timedelta(days=1)
            if self.is_working_day(cur):
                n += 1
        return n

    def statutory_holidays(self, year: int) -> list[tuple[date, str]]:
        cn = _china(year, "zh_CN")
        return sorted((d, str(name)) for d, name in cn.items() if d.year == year)


async def load_calendar(session: AsyncSession, confirmed_years: Iterable[int]) -> WorkingCalendar:
    rows = (await session.execute(select(CalendarOverride.day, CalendarOverride.is_working))).all()
    return WorkingCalendar({r[0]: r[1] for r in rows}, confirmed_years)
