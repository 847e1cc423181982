"""Fault: PostgreSQL restarted under load (issue 8, docs/reliability.md "Fault tests").

The test runs its own PostgreSQL cluster (initdb into a temporary directory, its own port; as the
`postgres` user when the test runs as root), never the shared server. Two nodes serve the load; 2 s in
the cluster is stopped (`pg_ctl stop -m fast`: every connection is terminated) and started again 1.5 s
later. Meanwhile calls that need the database answer 503 with Retry-After; a call already sent when its
CDR could not be committed is answered 201 and booked from the spool once the database is back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faultkit import TOP_UP, Load, Site, ThrowawayPostgres, verify

from support_workers import admin_sql, create_tables, seed

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


async def _scenario(site: Site, pg: ThrowawayPostgres) -> dict[str, object]:
    try:
        await site.start_smsc()
        a, b = site.node("a", "node-a"), site.node("b", "node-b")
        await site.start_nodes(a, b)
        load = Load([a.base, b.base], site.token)
        running = asyncio.create_task(load.run())
        await asyncio.sleep(2.0)
        await asyncio.to_thread(pg.stop, "fast")
        await asyncio.sleep(1.5)
        await asyncio.to_thread(pg.start)
        await running
        return await verify(site, load, "PostgreSQL stopped (-m fast) at 2 s, started 1.5 s later")
    finally:
        await site.close()


def test_r_charge_02_postgres_restart_under_load_loses_nothing_and_answers_503_meanwhile(
    tmp_path: Path,
) -> None:
    # R-CHARGE-02
    pg = ThrowawayPostgres()
    try:
        pg.init()
        pg.start()
        asyncio.run(admin_sql("CREATE DATABASE platform", pg.admin_url))
        url = pg.url("platform")
        create_tables(url)
        partner_id, token = asyncio.run(seed(url, tmp_path / "seed", top_up=TOP_UP, rate_limit=10_000))
        figures = asyncio.run(_scenario(Site(tmp_path, url, partner_id, token), pg))
        assert figures["503"], figures  # the restart was seen by the callers
    finally:
        pg.destroy()
