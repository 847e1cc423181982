"""The monthly rollups (charging/models.py UsageMonthly) against the daily ones they sum (R-CHARGE-06).

The CDR writer keeps both in one statement (charging/cdr_pg.py, charging/cdr_writer.py). Anything that
writes usage_daily another way (a bulk load, a repair, a test's fixture) rebuilds the month's monthly
rows from it with `rebuild_monthly`; the integrity audit holds them equal (`monthly_mismatches`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from openability.charging.cdr_batch import MONTHLY_KEY
from openability.kernel.money import from_units

_KEY = ", ".join(MONTHLY_KEY)
# usage_daily summed per monthly key: what usage_monthly must hold
_FROM_DAILY = (
    f"SELECT {_KEY}, min(day) AS first_day, sum(calls) AS calls, sum(quantity) AS quantity, "
    f"sum(amount) AS amount FROM usage_daily"
)


async def rebuild_monthly(db: AsyncSession | AsyncConnection, month: str | None = None) -> int:
    """Replace the monthly rollups of `month` (None: every month) with usage_daily summed over the
    days, one INSERT … SELECT … GROUP BY. Returns the rows written."""
    where, params = ("WHERE month = :m", {"m": month}) if month is not None else ("", {})
    await db.execute(text(f"DELETE FROM usage_monthly {where}"), params)
    res: Any = await db.execute(
        text(
            f"INSERT INTO usage_monthly ({_KEY}, first_day, calls, quantity, amount) "
            f"{_FROM_DAILY} {where} GROUP BY {_KEY}"
        ),
        params,
    )
    return int(res.rowcount or 0)


async def monthly_mismatches(session: AsyncSession) -> list[str]:
    """The monthly rollup rows that are not their key's daily rows summed (calls, quantity, amount,
    first day), and the keys present on one side only: one sentence each."""
    on = " AND ".join(f"m.{c} = d.{c}" for c in MONTHLY_KEY)
    rows = (
        await session.execute(
            text(
                f"SELECT {', '.join(f'coalesce(m.{c}, d.{c})' for c in MONTHLY_KEY)}, "
                "m.first_day, m.calls, m.quantity, m.amount, d.first_day, d.calls, d.quantity, d.amount "
                f"FROM usage_monthly m FULL JOIN ({_FROM_DAILY} GROUP BY {_KEY}) d ON {on} "
                "WHERE m.id IS NULL OR d.partner_id IS NULL OR m.first_day <> d.first_day "
                "OR m.calls <> d.calls OR m.quantity <> d.quantity OR m.amount <> d.amount "
                f"ORDER BY {', '.join(str(i + 1) for i in range(len(MONTHLY_KEY)))}"
            )
        )
    ).all()
    out = []
    for r in rows:
        key = "/".join(str(v) for v in r[:7])
        monthly = (
            "none" if r[8] is None else f"{r[8]} calls, {r[9]} units, {from_units(int(r[10]))} from {r[7]}"
        )
        daily = (
            "none"
            if r[12] is None
            else f"{r[12]} calls, {r[13]} units, {from_units(int(r[14]))} from {r[11]}"
        )
        out.append(f"monthly rollup {key} is {monthly} but its daily rollups sum to {daily} (R-CHARGE-06)")
    return out
