"""Usage read model: per-day per-product rollups (UsageDaily) and the CDRs behind them.
Partners see only their own usage; operators any partner's, or all partners'."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from openability.catalog import service as catalog
from openability.charging.models import UsageDaily, UsageRecord
from openability.kernel import access
from openability.kernel.clock import month_key
from openability.kernel.errors import InvalidArgument, NotFound
from openability.kernel.money import fmt
from openability.kernel.uow import UnitOfWork
from openability.ledger.checks import sum_units, units
from openability.partners import service as partners

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str | None, now: datetime) -> str:
    """'YYYY-MM' (Asia/Shanghai billing month); default the current month."""
    if month is None or month == "":
        return month_key(now)
    if not MONTH.match(month):
        raise InvalidArgument(f"month must be YYYY-MM, got {month!r}", code="INVALID_MONTH")
    return month


@dataclass(frozen=True)
class UsageRow:
    day: date
    partner_id: str
    product_id: str
    product_code: str
    calls: int
    quantity: int
    amount: Decimal


@dataclass
class UsageSummary:
    month: str
    partner_id: str | None
    product: str | None
    rows: list[UsageRow] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.rows)

    @property
    def quantity(self) -> int:
        return sum(r.quantity for r in self.rows)

    @property
    def amount(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal("0.0000"))


async def _scope(uow: UnitOfWork, partner_id: str | None) -> str | None:
    actor = uow.actor
    if actor.type in ("operator", "system"):
        if not partner_id:
            return None
        # An unknown id is a mistake to report, not a partner that merely has no usage yet.
        if await partners.find_partner_ref(uow, partner_id) is None:
            raise NotFound(f"partner {partner_id} not found")
        return partner_id
    if partner_id is not None and partner_id != actor.partner_id:
        raise NotFound(f"partner {partner_id} not found")
    return actor.partner_id or "-"


async def _product_id(uow: UnitOfWork, product: str | None) -> str | None:
    if not product:
        return None
    return (await catalog.get_product(uow, product)).id


async def usage_summary(
    uow: UnitOfWork, *, month: str | None = None, product: str | None = None, partner_id: str | None = None
) -> UsageSummary:
    m = parse_month(month, uow.now)
    pid = await _scope(uow, partner_id)
    product_id = await _product_id(uow, product)
    # A day may have several rollup rows (one per price version, band and scope in force that day, and
    # per reserved slot of the CDRs' grants): summed here to one row per day and product.
    cols = (UsageDaily.day, UsageDaily.partner_id, UsageDaily.product_id)
    stmt = select(
        *cols,
        func.sum(UsageDaily.calls),
        func.sum(UsageDaily.quantity),
        sum_units(UsageDaily.amount),
    ).where(UsageDaily.month == m)
    if pid is not None:
        stmt = stmt.where(UsageDaily.partner_id == pid)
    if product_id is not None:
        stmt = stmt.where(UsageDaily.product_id == product_id)
    rows = (await uow.session.execute(stmt.group_by(*cols).order_by(*cols))).all()
    codes = await catalog.product_codes(uow.session, sorted({r[2] for r in rows}))
    return UsageSummary(
        month=m,
        partner_id=pid,
        product=product,
        rows=[
            UsageRow(
                day=day,
                partner_id=partner,
                product_id=prod,
                product_code=codes.get(prod, prod),
                calls=int(calls or 0),
                quantity=int(quantity or 0),
                amount=units(amount),
            )
            for day, partner, prod, calls, quantity, amount in rows
        ],
    )


def usage_csv(summary: UsageSummary) -> str:
    """Spreadsheet export: one header row, then one row per day and product; money as text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["month", "day", "partner_id", "product", "calls", "quantity", "amount_cny"])
    for r in summary.rows:
        w.writerow(
            [
                summary.month,
                r.day.isoformat(),
                r.partner_id,
                r.product_code,
                r.calls,
                r.quantity,
                fmt(r.amount),
            ]
        )
    return buf.getvalue()


async def list_usage_records(
    uow: UnitOfWork,
    *,
    month: str | None = None,
    product: str | None = None,
    partner_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[UsageRecord], int, dict[str, str]]:
    """CDRs, newest first; returns (records, total, product id -> code)."""
    m = parse_month(month, uow.now)
    pid = await _scope(uow, partner_id)
    product_id = await _product_id(uow, product)
    offset, limit = access.page(offset, limit)
    stmt = select(UsageRecord).where(UsageRecord.month == m)
    if pid is not None:
        stmt = stmt.where(UsageRecord.partner_id == pid)
    if product_id is not None:
        stmt = stmt.where(UsageRecord.product_id == product_id)
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await uow.session.scalars(
            stmt.order_by(UsageRecord.occurred_at.desc(), UsageRecord.id.desc()).offset(offset).limit(limit)
        )
    ).all()
    codes = await catalog.product_codes(uow.session, sorted({r.product_id for r in rows}))
    return list(rows), int(total), codes


# ---- charging's face for other domains (typed read models, no ORM) ------------------------------


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One CDR as other domains see it (e.g. the calls a billing-error ticket is about)."""

    id: str
    partner_id: str
    product_id: str
    capability: str
    quantity: int
    unit: str
    amount: Decimal
    month: str
    occurred_at: datetime


async def calls_of_partner(uow: UnitOfWork, partner_id: str, call_ids: list[str]) -> list[CallRecord]:
    """The partner's own CDRs among `call_ids`, oldest first (other partners' ids are simply absent)."""
    if not call_ids:
        return []
    rows = await uow.session.scalars(
        select(UsageRecord)
        .where(UsageRecord.id.in_(call_ids), UsageRecord.partner_id == partner_id)
        .order_by(UsageRecord.occurred_at)
    )
    return [
        CallRecord(
            r.id,
            r.partner_id,
            r.product_id,
            r.capability,
            r.quantity,
            r.unit,
            r.amount,
            r.month,
            r.occurred_at,
        )
        for r in rows.all()
    ]


async def monthly_volume_by_partner(uow: UnitOfWork, month: str) -> dict[str, int]:
    """Units used per partner in a month (YYYY-MM), from the daily rollups."""
    rows = await uow.session.execute(
        select(UsageDaily.partner_id, func.sum(UsageDaily.quantity))
        .where(UsageDaily.month == month)
        .group_by(UsageDaily.partner_id)
    )
    return {pid: int(q or 0) for pid, q in rows.all()}


@dataclass(frozen=True)
class ProductUsage:
    """A month's usage of one product, summed over the days (the portal's home and usage pages)."""

    product_id: str
    code: str
    name_zh: str
    name_en: str
    calls: int
    quantity: int
    amount: Decimal


async def product_names(uow: UnitOfWork) -> dict[str, tuple[str, str, str]]:
    """product id -> (code, name_zh, name_en) of every product the actor may see."""
    products, _ = await catalog.list_products(uow, limit=200)
    return {p.id: (p.code, p.name_zh, p.name_en) for p in products}


def by_product(summary: UsageSummary, names: dict[str, tuple[str, str, str]]) -> list[ProductUsage]:
    """The summary's rows summed per product, the largest amount first (a product the actor no
    longer sees is named by its code)."""
    totals: dict[str, tuple[int, int, Decimal]] = {}
    codes: dict[str, str] = {}
    for r in summary.rows:
        calls, quantity, amount = totals.get(r.product_id, (0, 0, Decimal("0.0000")))
        totals[r.product_id] = (calls + r.calls, quantity + r.quantity, amount + r.amount)
        codes[r.product_id] = r.product_code
    out = []
    for pid, (calls, quantity, amount) in totals.items():
        code, zh, en = names.get(pid, (codes[pid], codes[pid], codes[pid]))
        out.append(ProductUsage(pid, code, zh, en, calls, quantity, amount))
    return sorted(out, key=lambda u: (-u.amount, u.code))
