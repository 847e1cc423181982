"""The migration that keys the daily rollups by price version, band and scope rebuilds the existing rows
from the CDRs, so a month used before it is still re-rated exactly by the bill run (R-CHARGE-06)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openability.kernel.migrate import upgrade

BEFORE = "5c1a0c7e3d21"


def insert(con: sqlite3.Connection, table: str, **values: object) -> None:
    """A row with the given values; every other NOT NULL column gets a plain filler of its type."""
    for _, name, type_, notnull, default, pk in con.execute(f"PRAGMA table_info({table})").fetchall():
        if name in values or not notnull or default is not None or (pk and "INT" in type_.upper()):
            continue
        t = type_.upper()
        values[name] = (
            0
            if "INT" in t
            else "2026-11-01 00:00:00.000000"
            if "DATETIME" in t or "TIMESTAMP" in t
            else "[]"
            if "JSON" in t
            else "x"
        )
    cols = ", ".join(values)
    con.execute(
        f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in values)})", list(values.values())
    )


def test_r_charge_06_existing_rollups_are_rebuilt_per_price_version_band_and_scope(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    upgrade(f"sqlite+aiosqlite:///{db}", revision=BEFORE)
    con = sqlite3.connect(db)
    insert(con, "partners", id="prt_a", kind="AP", billing_mode="prepaid", status="active", scope="national")
    insert(con, "capabilities", code="sms")
    insert(
        con, "products", id="prd_sms", capability_code="sms", code="sms-x", audience="all", status="active"
    )
    insert(con, "journal_entries", id="je", kind="charge")
    cdr = (
        "INSERT INTO usage_records (id, partner_id, product_id, capability, operation, client_id, request_key,"
        " quantity, unit, amount, billing_mode, price_plan_id, band, scope, month, journal_entry_id,"
        " occurred_at, recipients, response, request_hash)"
        " VALUES (?, 'prt_a', 'prd_sms', 'sms', 'sendMessage', 'cli', ?, ?, 'segment', ?, 'prepaid', ?, 'list',"
        " 'national', ?, 'je', ?, '[]', '{}', '')"
    )
    rows = [
        # 15 November, Beijing time: version 1 in the morning, version 2 from the afternoon
        ("c1", "k1", 10, 5000, "pp_v1", "2026-11", "2026-11-15 01:00:00.000000"),
        ("c2", "k2", 5, 2500, "pp_v1", "2026-11", "2026-11-15 02:00:00.000000"),
        ("c3", "k3", 4, 2400, "pp_v2", "2026-11", "2026-11-15 08:00:00.000000"),
        # 16:30 UTC on 30 November is 1 December in Beijing
        ("c4", "k4", 1, 500, "pp_v2", "2026-12", "2026-11-30 16:30:00.000000"),
    ]
    con.executemany(cdr, rows)
    daily = (
        "INSERT INTO usage_daily (partner_id, product_id, day, month, calls, quantity, amount)"
        " VALUES ('prt_a', 'prd_sms', ?, ?, ?, ?, ?)"
    )
    con.executemany(daily, [("2026-11-15", "2026-11", 3, 19, 9900), ("2026-12-01", "2026-12", 1, 1, 500)])
    con.commit()
    con.close()

    upgrade(f"sqlite+aiosqlite:///{db}")

    con = sqlite3.connect(db)
    got = con.execute(
        "SELECT day, price_plan_id, band, scope, month, calls, quantity, amount FROM usage_daily"
        " ORDER BY day, price_plan_id"
    ).fetchall()
    con.close()
    assert got == [
        ("2026-11-15", "pp_v1", "list", "national", "2026-11", 2, 15, 7500),
        ("2026-11-15", "pp_v2", "list", "national", "2026-11", 1, 4, 2400),
        ("2026-12-01", "pp_v2", "list", "national", "2026-12", 1, 1, 500),
    ]
