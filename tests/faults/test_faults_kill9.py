"""Fault: one worker killed with SIGKILL under load (issue 8, docs/reliability.md "Fault tests").

Two workers of one node (two platform processes on one data directory, own ports) serve the load; 2 s
in, worker b is killed with SIGKILL and started again 2 s later on the same data directory. Its calls in
flight fail on the clients' side and are retried on worker a with the same key: a call b had sent and
journaled is booked from b's spool (by a within 5 s, or by b at its restart) and the retry gets its
answer; a call b had claimed but not journaled is in doubt (never sent again). b's grant is reaped once
its TTL and grace have passed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faultkit import Load, Site, Template, cloned, verify

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


async def _scenario(site: Site) -> dict[str, object]:
    try:
        await site.start_smsc()
        a, b = site.node("a", "node"), site.node("b", "node")
        await site.start_nodes(a, b)
        load = Load([a.base, b.base], site.token)
        running = asyncio.create_task(load.run())
        await asyncio.sleep(2.0)
        b.kill()
        await asyncio.sleep(2.0)
        b.start()
        await b.ready()
        await running
        return await verify(site, load, "kill -9 of worker b at 2 s, restarted at 4 s")
    finally:
        await site.close()


def test_r_charge_02_r_charge_04_worker_killed_under_load_loses_and_duplicates_nothing(
    template: Template, tmp_path: Path
) -> None:
    # R-CHARGE-02 R-CHARGE-04
    with cloned(template, tmp_path) as site:
        figures = asyncio.run(_scenario(site))
    assert figures["answered"] > 0
