"""The database of the previous release (2026-11-29, commit 3b10a21, schema 6bf14d50172d), with the data
that release wrote, upgrades to this release's schema and keeps working (issue 8: migrations tested from
the previous release's schema with data).

`tests/data/release_2026_11_29.sql` is a SQLite dump made by that release itself: `openability run` on an
empty data directory (its demo seed: capabilities, products, price plans, operators, the demo AP and SI
with money, orders and API clients), then through its HTTP API 12 SMS by each partner (one in three in
two segments), the delivery receipts of its test SMSC, an operator and a partner login and a ticket.
`release_2026_11_29.credentials.json` holds the demo clients' secrets that release printed.

On SQLite the dump is loaded as it is. On PostgreSQL the release's schema is built by its own migration
(`upgrade(…, revision=RELEASE)`) and the dump's rows are copied into it, table by table. Then both upgrade
to head and the test checks: every row is still there, every balance is the same, the ledger audit is
clean, the rollups the bill run reads were rebuilt from the release's CDRs, the release's API clients
still get tokens and send SMS (charged at the plan's price), and the month bills from the migrated data."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, create_engine, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from openability.billing import statements
from openability.bootstrap import build_container
from openability.charging.models import UsageRecord
from openability.config import Settings
from openability.connectors.base import SmsSubmission, Submitted
from openability.connectors.sms_codec import count_segments
from openability.integrity import run_audit
from openability.kernel.clock import FrozenClock
from openability.kernel.db import make_engine
from openability.kernel.migrate import upgrade

DATA = Path(__file__).parent / "data"
DUMP = DATA / "release_2026_11_29.sql"
CREDENTIALS = json.loads((DATA / "release_2026_11_29.credentials.json").read_text())
RELEASE = "6bf14d50172d"
# Tables whose rows the release wrote and the upgrade must keep, with their counts in the dump.
KEPT = {
    "partners": 2,
    "operators": 4,
    "api_clients": 2,
    "product_orders": None,
    "usage_records": 24,
    "messages": None,
    "journal_entries": None,
    "journal_lines": None,
    "tickets": 1,
    "audit_log": None,
}


class FakeSms:
    def __init__(self) -> None:
        self.submits: list[SmsSubmission] = []

    @property
    def available(self) -> bool:
        return True

    async def submit(self, msg: SmsSubmission) -> Submitted:
        self.submits.append(msg)
        _, parts = count_segments(msg.text)
        return Submitted(network_ids=[f"R{len(self.submits)}-{i}" for i in range(parts)], parts=parts)


@dataclass
class Migrated:
    engine: AsyncEngine
    before_counts: dict[str, int]
    before_balances: set[tuple[str, str, int]]


def _dump_facts() -> tuple[dict[str, int], set[tuple[str, str, int]]]:
    con = sqlite3.connect(":memory:")
    con.executescript(DUMP.read_text())
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in KEPT}
    balances = {(o, t, b) for o, t, b in con.execute("SELECT owner_id, type, balance FROM accounts")}
    version = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    con.close()
    assert version == RELEASE
    for table, expected in KEPT.items():
        assert expected is None or counts[table] == expected, (table, counts[table])
    return counts, balances


@pytest.fixture
async def migrated(backend: str, tmp_path: Path) -> AsyncIterator[Migrated]:
    counts, balances = _dump_facts()
    if backend == "sqlite":
        path = tmp_path / "release.db"
        con = sqlite3.connect(path)
        con.executescript(DUMP.read_text())
        con.close()
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        yield Migrated(engine, counts, balances)
        await engine.dispose()
        return
    url = os.environ["OPENABILITY_TEST_DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
    schema = "rel_" + secrets.token_hex(5)
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        await asyncio.to_thread(upgrade, url, schema, RELEASE)
        await asyncio.to_thread(_copy_dump_into_pg, url, schema)
        await asyncio.to_thread(upgrade, url, schema)
        engine = make_engine(url, search_path=schema)
        yield Migrated(engine, counts, balances)
        await engine.dispose()
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


def _copy_dump_into_pg(async_url: str, schema: str) -> None:
    """The copy runs on its own event loop (a worker thread): the rows go in through asyncpg."""

    async def copy() -> None:
        engine = make_engine(async_url, search_path=schema)
        async with engine.begin() as conn:
            await conn.run_sync(_copy_rows)
        await engine.dispose()

    asyncio.run(copy())


def _copy_rows(conn: Any) -> None:
    source = create_engine("sqlite://")
    with source.begin() as src:
        raw = src.connection.driver_connection
        assert raw is not None
        raw.executescript(DUMP.read_text())
        src_meta = MetaData()
        src_meta.reflect(src)
        rows = {
            name: [dict(r._mapping) for r in src.execute(select(table))]
            for name, table in src_meta.tables.items()
            if name != "alembic_version"
        }
    source.dispose()
    dst_meta = MetaData()
    dst_meta.reflect(conn)
    for table in dst_meta.sorted_tables:
        got = rows.get(table.name)
        if not got:
            continue
        for row in got:
            for key, value in row.items():
                if isinstance(value, datetime) and value.tzinfo is None:
                    row[key] = value.replace(tzinfo=UTC)
        conn.execute(table.insert(), got)
        for col in table.primary_key.columns:
            if col.autoincrement is True and isinstance(next(iter(got))[col.name], int):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'),"
                        f" (SELECT max({col.name}) FROM {table.name}))"
                    )
                )


async def test_release_database_upgrades_with_its_data(migrated: Migrated, tmp_path: Path) -> None:
    engine = migrated.engine
    async with engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        counts = {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in KEPT}
        balances = {
            (o, t, b)
            for o, t, b in (await conn.execute(text("SELECT owner_id, type, balance FROM accounts")))
        }
        daily = (
            await conn.execute(
                text("SELECT partner_id, sum(calls), sum(quantity), sum(amount) FROM usage_daily GROUP BY 1")
            )
        ).all()
        cdrs = (
            await conn.execute(
                text("SELECT partner_id, count(*), sum(quantity), sum(amount) FROM usage_records GROUP BY 1")
            )
        ).all()
        # PostgreSQL: the CDRs were copied into their month's partition (none left in DEFAULT)
        where = (
            (
                await conn.execute(
                    text("SELECT tableoid::regclass::text, month, count(*) FROM usage_records GROUP BY 1, 2")
                )
            ).all()
            if engine.dialect.name == "postgresql"
            else []
        )
    heads = {p.read_text().split('revision: str = "')[1].split('"')[0] for p in _versions()}
    downs = {d for p in _versions() for d in [_down(p)] if d}
    assert version in heads - downs, "not upgraded to the head"
    assert counts == migrated.before_counts
    assert balances == migrated.before_balances
    # the rollups the bill run reads are the release's CDRs, per partner
    assert sorted(map(tuple, daily)) == sorted(map(tuple, cdrs))
    assert all(t == "usage_records_" + m.replace("-", "_") for t, m, _n in where), where
    assert sum(n for _t, _m, n in where) == (counts["usage_records"] if where else 0)

    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_enabled=False,
        run_test_smsc=False,
        run_scheduler=False,
        _env_file=None,
    )
    clock = FrozenClock(datetime(2026, 12, 20, 2, 0, tzinfo=UTC))
    container = build_container(settings, clock=clock, engine=engine)
    async with container.uow() as uow:
        assert await run_audit(uow.session) == []
    sms = FakeSms()
    container.connectors.sms = sms

    from openability.app import create_app

    ap = CREDENTIALS["ap"]
    app = create_app(container, manage_container=False)
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        token = await client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": ap["client_id"],
                "client_secret": ap["client_secret"],
            },
        )
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        sent = await client.post(
            "/capabilities/sms/v1/messages",
            json={"to": ["+8613900139000"], "text": "升级后的第一条短信"},
            headers={**bearer, "Idempotency-Key": "after-upgrade-1"},
        )
        assert sent.status_code == 201, sent.text
        assert Decimal(sent.json()["amountCharged"]) == Decimal("0.0500")
    assert len(sms.submits) == 1
    async with container.uow() as uow:
        n = (
            await uow.session.execute(
                select(func.count()).select_from(UsageRecord).where(UsageRecord.partner_id == ap["id"])
            )
        ).scalar_one()
        assert n == 13
        assert await run_audit(uow.session) == []

    # December (the release's usage and the new call) bills from the migrated rollups
    clock.set(datetime(2027, 1, 1, 1, 0, tzinfo=UTC))
    result = await statements.bill_run(container, "2026-12")
    assert result.statements == 2
    async with container.uow() as uow:
        assert await run_audit(uow.session) == []


def _versions() -> list[Path]:
    return sorted((Path(__file__).parents[1] / "migrations" / "versions").glob("*.py"))


def _down(path: Path) -> str | None:
    for line in path.read_text().splitlines():
        if line.startswith("down_revision"):
            value = line.split("=", 1)[1].strip()
            return None if value == "None" else value.strip('"')
    return None
