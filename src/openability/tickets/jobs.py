"""Ticket jobs: the SLA breach scan every minute (R-CS-05) and holiday care daily (R-CS-06)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openability.charging import usage
from openability.console.web import env
from openability.jobs.registry import Job, daily, every_minute
from openability.kernel.calendar_admin import load_working_calendar
from openability.kernel.clock import business_date, previous_month
from openability.kernel.notify import notify
from openability.kernel.uow import UnitOfWork
from openability.partners import service as partners_service
from openability.partners.types import PartnerStatus
from openability.tickets import rules, service, sla

if TYPE_CHECKING:
    from openability.kernel.platform import Platform


async def sla_breaches(container: Platform) -> str:
    async with container.uow() as uow:
        n = await sla.scan_breaches(uow)
    return f"{n} deadline(s) breached"


def care_threshold(uow: UnitOfWork) -> int:
    # Until config.Settings carries it, the rules constant is the threshold (see docs/tickets.md).
    return uow.settings.care_offer_min_monthly_volume


async def send_holiday_greetings(uow: UnitOfWork) -> tuple[int, int]:
    """On the first day of each statutory festival: a zh-CN greeting to every active partner, and to
    partners whose previous month's volume reached the threshold an offer of holiday packages
    (R-CS-06, R-PRICE-04). Dedup keys make a rerun harmless. Returns (greetings, offers)."""
    today = business_date(uow.now)
    cal = await load_working_calendar(uow)
    festival = rules.greeting_days(cal.statutory_holidays(today.year)).get(today)
    if festival is None:
        return 0, 0
    partners = await partners_service.partners_with_status(uow, PartnerStatus.ACTIVE)
    month = previous_month(f"{today.year:04d}-{today.month:02d}")
    volumes = await usage.monthly_volume_by_partner(uow, month)
    threshold = care_threshold(uow)
    owners = await service.operator_names(uow, {p.service_owner_id for p in partners if p.service_owner_id})
    greet_t = env().get_template("tickets_greeting_zh.txt")
    offer_t = env().get_template("tickets_care_offer_zh.txt")
    greetings = offers = 0
    for p in partners:
        sent = await notify(
            uow,
            recipient=("partner", p.id),
            kind="holiday-greeting",
            subject=f"{festival}快乐",
            body=greet_t.render(partner_name=p.name, festival=festival),
            dedup_key=f"greeting:{today.year}:{festival}:{p.id}",
        )
        greetings += sent is not None
        volume = int(volumes.get(p.id) or 0)
        if volume >= threshold:
            sent = await notify(
                uow,
                recipient=("partner", p.id),
                kind="care-offer",
                subject=f"{festival}节日关怀：折扣与套餐礼包",
                body=offer_t.render(
                    partner_name=p.name,
                    festival=festival,
                    month=f"{month[:4]}年{int(month[5:])}月",
                    volume=volume,
                    owner_name=owners.get(p.service_owner_id or "", ""),
                ),
                dedup_key=f"care-offer:{today.year}:{festival}:{p.id}",
            )
            offers += sent is not None
    if greetings or offers:
        uow.audit(
            "tickets.holiday_care_sent",
            ("festival", f"{today.year}:{festival}"),
            after={"greetings": greetings, "offers": offers, "threshold": threshold, "month": month},
        )
    return greetings, offers


async def holiday_greetings(container: Platform) -> str:
    async with container.uow() as uow:
        g, o = await send_holiday_greetings(uow)
    return f"{g} greeting(s), {o} offer(s)"


SLA_BREACHES = Job(
    "sla-breaches",
    sla_breaches,
    every_minute,
    "mark missed ticket deadlines and escalate to the owner's lead (R-CS-05)",
)
HOLIDAY_GREETINGS = Job(
    "holiday-greetings",
    holiday_greetings,
    daily,
    "statutory-holiday greetings and package offers to high-volume partners (R-CS-06)",
)
