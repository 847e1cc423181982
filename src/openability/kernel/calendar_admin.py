"""Operator maintenance of the working-day calendar (R-CS-04): overrides of single days and the
per-year "official schedule confirmed" mark. The State Council publishes each year's schedule late in
the previous year and the `holidays` package lags, so a year is unconfirmed until settings list it,
an operator confirms it, or an operator records overrides for it (kernel.calendar semantics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.calendar import CalendarOverride, WorkingCalendar, _china_year
from openability.kernel.db import Base, UTCDateTime
from openability.kernel.errors import InvalidArgument, NotFound, PermissionDenied
from openability.kernel.uow import UnitOfWork

MIN_YEAR, MAX_YEAR = 2000, 2100


class CalendarYear(Base):
    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(200), default="")
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _require_admin(uow: UnitOfWork) -> None:
    if not (uow.actor.is_operator or uow.actor.type == "system") or not uow.actor.has_role("admin"):
        raise PermissionDenied("calendar changes need the admin role")


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidArgument(f"year must be between {MIN_YEAR} and {MAX_YEAR}")


async def confirmed_years(uow: UnitOfWork) -> set[int]:
    years = set(uow.settings.calendar_confirmed_years)
    rows = (await uow.session.execute(select(CalendarYear.year, CalendarYear.confirmed))).all()
    for y, ok in rows:
        if ok:
            years.add(y)
        else:
            years.discard(y)  # an operator may withdraw a settings year
    return years


async def load_working_calendar(uow: UnitOfWork) -> WorkingCalendar:
    """The calendar a deadline is computed on: package base + overrides + confirmed years."""
    rows = (await uow.session.execute(select(CalendarOverride.day, CalendarOverride.is_working))).all()
    return WorkingCalendar({r[0]: r[1] for r in rows}, await confirmed_years(uow))


async def list_overrides(uow: UnitOfWork, year: int | None = None) -> list[CalendarOverride]:
    stmt = select(CalendarOverride).order_by(CalendarOverride.day)
    if year is not None:
        _check_year(year)
        stmt = stmt.where(
            CalendarOverride.day >= date(year, 1, 1), CalendarOverride.day <= date(year, 12, 31)
        )
    return list((await uow.session.scalars(stmt)).all())


async def set_override(uow: UnitOfWork, day: date, is_working: bool, note: str = "") -> CalendarOverride:
    _require_admin(uow)
    _check_year(day.year)
    row = await uow.session.get(CalendarOverride, day)
    before = {"is_working": row.is_working, "note": row.note} if row else None
    if row is None:
        row = CalendarOverride(day=day, is_working=is_working, note=note[:200])
        uow.session.add(row)
    row.is_working = is_working
    row.note = note[:200]
    row.updated_by = f"{uow.actor.type}:{uow.actor.id}"
    row.updated_at = uow.now
    uow.audit(
        "calendar.override_set",
        ("calendar_override", day.isoformat()),
        before=before,
        after={"is_working": is_working, "note": row.note},
    )
    await uow.session.flush()
    return row


async def delete_override(uow: UnitOfWork, day: date) -> None:
    _require_admin(uow)
    row = await uow.session.get(CalendarOverride, day)
    if row is None:
        raise NotFound(f"no calendar override for {day.isoformat()}")
    uow.audit(
        "calendar.override_deleted",
        ("calendar_override", day.isoformat()),
        before={"is_working": row.is_working, "note": row.note},
    )
    await uow.session.delete(row)
    await uow.session.flush()


async def set_year_confirmed(uow: UnitOfWork, year: int, confirmed: bool, note: str = "") -> CalendarYear:
    _require_admin(uow)
    _check_year(year)
    row = await uow.session.get(CalendarYear, year)
    before = {"confirmed": row.confirmed} if row else None
    if row is None:
        row = CalendarYear(year=year)
        uow.session.add(row)
    row.confirmed = confirmed
    row.note = note[:200]
    row.updated_by = f"{uow.actor.type}:{uow.actor.id}"
    row.updated_at = uow.now
    uow.audit(
        "calendar.year_confirmed" if confirmed else "calendar.year_unconfirmed",
        ("calendar_year", str(year)),
        before=before,
        after={"confirmed": confirmed, "note": row.note},
    )
    await uow.session.flush()
    return row


@dataclass(frozen=True)
class YearStatus:
    year: int
    confirmed: bool
    source: str  # settings | operator | overrides | none
    days_off: list[tuple[date, str]]
    make_up_days: list[date]
    overrides: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "confirmed": self.confirmed,
            "source": self.source,
            "days_off": [{"day": d.isoformat(), "name": n} for d, n in self.days_off],
            "make_up_days": [d.isoformat() for d in self.make_up_days],
            "overrides": self.overrides,
        }


async def calendar_status(uow: UnitOfWork, year: int) -> YearStatus:
    _check_year(year)
    cal = await load_working_calendar(uow)
    row = await uow.session.get(CalendarYear, year)
    overrides = await list_overrides(uow, year)
    if row is not None:
        source = "operator"
    elif year in uow.settings.calendar_confirmed_years:
        source = "settings"
    elif overrides:
        source = "overrides"
    else:
        source = "none"
    _, make_up = _china_year(year)
    return YearStatus(
        year=year,
        confirmed=cal.is_confirmed(year),
        source=source,
        days_off=cal.statutory_holidays(year),
        make_up_days=sorted(make_up),
        overrides=[
            {"day": o.day.isoformat(), "is_working": o.is_working, "note": o.note, "updated_by": o.updated_by}
            for o in overrides
        ],
    )


async def unconfirmed_years_ahead(uow: UnitOfWork, today: date, horizon_days: int = 60) -> list[int]:
    """Years a deadline computed today could reach that are not confirmed (console warning)."""
    cal = await load_working_calendar(uow)
    years = sorted({today.year, (today + timedelta(days=horizon_days)).year})
    return [y for y in years if not cal.is_confirmed(y)]
