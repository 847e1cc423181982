"""Admission's scheduled jobs: the certificate watch (daily, R-ADMIT-01) and the SI reports (hourly:
overdue ones flagged, standing ones requested again; R-OBLIG-03)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from openability.admission import obligations
from openability.jobs.registry import Job, daily

if TYPE_CHECKING:
    from openability.kernel.platform import Platform


def hourly(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H")


async def certificate_watch(platform: Platform) -> str:
    async with platform.uow() as uow:
        expiring, expired = await obligations.watch_certificates(uow)
    return f"{expiring} expiry notice(s), {expired} expired certificate(s) of active SIs reported"


async def si_reports(platform: Platform) -> str:
    async with platform.uow() as uow:
        flagged, renewed = await obligations.scan_reports(uow)
    return f"{flagged} report(s) flagged overdue, {renewed} standing report(s) requested again"


CERTIFICATE_WATCH = Job(
    "certificate-watch",
    certificate_watch,
    daily,
    "SI certificates: a notice before they expire, an operator task when an active SI's has expired (R-ADMIT-01)",
)
SI_REPORTS = Job(
    "si-reports",
    si_reports,
    hourly,
    "reports requested of SIs: overdue ones flagged, standing ones requested for their next period (R-OBLIG-03)",
)
