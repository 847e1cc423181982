"""The migration that adds the monthly rollups (usage_monthly) fills them from the daily rollups already
stored, so a month used before it is billed from them as from its days (R-CHARGE-06); its downgrade
drops the table and leaves the daily rows as they were."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from openability.kernel.migrate import alembic_config, upgrade

BEFORE = "a7c4e9b2d6f1"


def _insert(con: sqlite3.Connection, table: str, **values: object) -> None:
    """A row with the given values; every other NOT NULL column gets a plain filler of its type."""
    for _, name, type_, notnull, default, pk in con.execute(f"PRAGMA table_info({table})").fetchall():
        if name in values or not notnull or default is not None or (pk and "INT" in type_.upper()):
            continue
        t = type_.upper()
        values[name] = (
            0 if "INT" in t else "2026-11-01 00:00:00.000000" if "DATETIME" in t or "TIMESTAMP" in t else "x"
        )
    cols = ", ".join(values)
    con.execute(
        f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in values)})", list(values.values())
    )


def test_r_charge_06_existing_daily_rollups_are_summed_into_monthly_ones(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url, revision=BEFORE)
    con = sqlite3.connect(db)
    _insert(con, "partners", id="prt_a", kind="AP", billing_mode="prepaid", status="active", scope="national")
    _insert(con, "capabilities", code="sms")
    _insert(
        con, "products", id="prd_sms", capability_code="sms", code="sms-x", audience="all", status="active"
    )
    daily = (
        "INSERT INTO usage_daily (partner_id, product_id, day, price_plan_id, band, scope, slot, month, calls,"
        " quantity, amount) VALUES ('prt_a', 'prd_sms', ?, ?, 'list', 'national', ?, ?, ?, ?, ?)"
    )
    con.executemany(
        daily,
        [
            ("2026-11-15", "pp_v1", 0, "2026-11", 2, 15, 7500),
            ("2026-11-03", "pp_v1", 0, "2026-11", 1, 5, 2500),
            ("2026-11-15", "pp_v1", 1, "2026-11", 3, 3, 1500),  # the same key on another slot
            ("2026-11-20", "pp_v2", 0, "2026-11", 1, 4, 1800),  # a new price version
            ("2026-12-01", "pp_v2", 0, "2026-12", 1, 1, 450),
        ],
    )
    con.commit()
    con.close()

    upgrade(url)

    con = sqlite3.connect(db)
    got = con.execute(
        "SELECT month, price_plan_id, slot, first_day, calls, quantity, amount FROM usage_monthly"
        " ORDER BY month, price_plan_id, slot"
    ).fetchall()
    con.close()
    assert got == [
        ("2026-11", "pp_v1", 0, "2026-11-03", 3, 20, 10000),
        ("2026-11", "pp_v1", 1, "2026-11-15", 3, 3, 1500),
        ("2026-11", "pp_v2", 0, "2026-11-20", 1, 4, 1800),
        ("2026-12", "pp_v2", 0, "2026-12-01", 1, 1, 450),
    ]

    command.downgrade(alembic_config(url), BEFORE)
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    days = con.execute("SELECT count(*), sum(calls), sum(amount) FROM usage_daily").fetchone()
    con.close()
    assert "usage_monthly" not in tables
    assert days == (5, 8, 13750)
