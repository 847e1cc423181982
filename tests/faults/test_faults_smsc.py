"""Fault: the SMSC down, then slow, under load (issue 8, docs/reliability.md "Fault tests").

Two nodes (own data directories) bound to the test SMSC serve the load. 1.5 s in the SMSC stops (it
unbinds its ESMEs and closes): calls answer 503 with Retry-After and nothing is charged; 2 s later a new
SMSC listens on the same port and the connectors re-bind. 2 s later the SMSC turns slow: every
submit_sm is taken and answered 1.5 s late, after the connector's 1 s timeout; 2 s later it is fast
again. A call whose submit_sm went unanswered may have been sent (this SMSC sends it): it is answered
503, not charged, and never sent again — its retry gets 409 REQUEST_IN_DOUBT.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faultkit import WORKER_ENV, Load, Site, Template, cloned, verify

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

SLOW = 1.5  # seconds before the slow SMSC answers a submit_sm
assert float(WORKER_ENV["OPENABILITY_SMSC_TIMEOUT_SECONDS"]) < SLOW


async def _scenario(site: Site) -> dict[str, object]:
    try:
        await site.start_smsc()
        a, b = site.node("a", "node-a"), site.node("b", "node-b")
        await site.start_nodes(a, b)
        load = Load([a.base, b.base], site.token)
        running = asyncio.create_task(load.run(seconds=9.0))
        await asyncio.sleep(1.5)
        await site.smsc.stop()
        await asyncio.sleep(2.0)
        await site.start_smsc()
        await asyncio.sleep(2.0)
        site.smsc.submit_delay = SLOW
        await asyncio.sleep(2.0)
        site.smsc.submit_delay = 0.0
        await running
        figures = await verify(
            site, load, f"SMSC stopped at 1.5 s, back at 3.5 s; {SLOW:g} s slow from 5.5 s to 7.5 s"
        )
        assert load.count("503") > 0, figures  # the outages were seen
        return figures
    finally:
        await site.close()


def test_r_charge_01_r_charge_04_smsc_down_and_slow_charge_nothing_unsent_and_send_nothing_twice(
    template: Template, tmp_path: Path
) -> None:
    # R-CHARGE-01 R-CHARGE-04
    with cloned(template, tmp_path) as site:
        asyncio.run(_scenario(site))
