"""Charging jobs: the grant reaper (closes grants of dead gateway workers), the claims recovery
(resolves idempotency claims left by dead workers, deletes old ones), the CDR partitions (the
months ahead on PostgreSQL, charging/partitions.py) and the pruning of old volume counters (one row
per partner, product and month, charging/volume.py)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from openability.charging import partitions, service, volume
from openability.charging.claims import recover_claims
from openability.jobs.registry import Job, daily, every_minute
from openability.kernel.money import fmt
from openability.kernel.outage import log_failure

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)


async def reap_grants(container: Platform) -> str:
    """One transaction per grant: each locks only its partner's accounts, so the reaper never holds
    two partners' rows at once (CDR batches lock across partners in account-id order)."""
    async with container.uow() as uow:
        ids = await service.expired_grant_ids(uow)
    n, total = 0, Decimal(0)
    for gid in ids:
        try:
            async with container.uow() as uow:
                released = await service.reap_grant(uow, gid)
        except Exception as exc:
            log_failure(log, exc, "reaping grant %s failed; retried next run", gid)
            continue
        if released is not None:
            n += 1
            total += released
    return f"reaped {n} grant(s), released {fmt(total)} CNY"


GRANT_REAPER = Job(
    name="grant-reaper",
    fn=reap_grants,
    period=every_minute,
    description="Return unused money of expired grants held by dead gateway workers",
    record=False,
)


async def recover_request_claims(container: Platform) -> str:
    async with container.uow() as uow:
        res = await recover_claims(uow)
    if res.in_doubt:
        log.warning(
            "%d call(s) in doubt (claimed, no record of the send; never sent again): %s",
            len(res.in_doubt),
            ", ".join(f"{p}/{k}" for p, k in res.in_doubt[:20]),
        )
    return f"{res.answered} claim(s) answered from CDRs, {len(res.in_doubt)} in doubt, {res.deleted} deleted"


CLAIMS_RECOVERY = Job(
    name="claims-recovery",
    fn=recover_request_claims,
    period=every_minute,
    description="Resolve idempotency claims of dead gateway workers (answered or in doubt); delete old claims",
    record=False,
)


async def create_cdr_partitions(container: Platform) -> str:
    report = await partitions.ensure_partitions(container.engine, container.clock.now())
    return report.summary()


CDR_PARTITIONS = Job(
    name="cdr-partitions",
    fn=create_cdr_partitions,
    period=daily,
    description="PostgreSQL: create the CDR partitions of this month and the next two; move CDRs out of DEFAULT",
)


async def prune_volume_counters(container: Platform) -> str:
    async with container.uow() as uow:
        n = await volume.prune_counters(uow.session, uow.now)
    return f"deleted {n} volume counter(s) of months before the previous one"


VOLUME_COUNTERS_PRUNE = Job(
    name="volume-counters-prune",
    fn=prune_volume_counters,
    period=daily,
    description="Delete the month-to-date volume counters of months before the previous one",
)
