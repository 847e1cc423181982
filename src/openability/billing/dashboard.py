"""The operator dashboard's read models (admin and billing clerks): revenue by month, by product and by
partner, traffic by capability, receivables ageing and the prepaid float. Typed, frozen read models;
each query is a few set-based sums, never a scan of the CDRs:

* usage (calls, units, what real time charged) from charging's daily rollups (`charging.settlement`);
* billed revenue from the statements of a month whose bill run has completed (exact prices, carried
  adjustments and rounding: what the partners were billed);
* balances from the ledger (`ledger.service`): the prepaid float, what each partner owes.

A month is shown `billed` once its bill run has completed, else `charged` (what real time charged so far,
provisional until the bill run re-rates it, R-CHARGE-06)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from openability.billing import dashboard_rules as rules
from openability.billing.models import BillRun, Statement, StatementLine
from openability.billing.types import BillRunState, LineKind, StatementState
from openability.catalog import service as catalog
from openability.charging import settlement
from openability.kernel import access
from openability.kernel.clock import business_date, month_key
from openability.kernel.uow import UnitOfWork
from openability.ledger import service as ledger
from openability.ledger.checks import sum_units, units
from openability.ledger.types import AccountType
from openability.partners import service as partners
from openability.partners.types import BillingMode

DASHBOARD_ROLES = ("admin", "billing_clerk")
ZERO = Decimal("0.0000")
MONTHS = 12
NAME_CHUNK = 1000


class Basis(enum.StrEnum):
    BILLED = "billed"  # the statements of a month whose bill run has completed
    CHARGED = "charged"  # what real time charged (rollups): provisional, the month is not billed yet


@dataclass(frozen=True, slots=True)
class MonthRevenue:
    month: str
    calls: int
    quantity: int
    charged: Decimal  # real time, from the rollups
    billed: Decimal | None  # the statements' totals; None: the month is not billed (yet)
    statements: int

    @property
    def basis(self) -> Basis:
        return Basis.CHARGED if self.billed is None else Basis.BILLED

    @property
    def revenue(self) -> Decimal:
        return self.charged if self.billed is None else self.billed


@dataclass(frozen=True, slots=True)
class ProductRevenue:
    product_id: str
    code: str
    name_zh: str
    name_en: str
    capability: str
    unit: str
    calls: int
    quantity: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ProductBreakdown:
    month: str
    basis: Basis
    rows: list[ProductRevenue]  # the largest amount first
    adjustments: Decimal  # billed: carried adjustment lines (on no product)
    rounding: Decimal  # billed: rounding lines
    total: Decimal


@dataclass(frozen=True, slots=True)
class PartnerRevenue:
    partner_id: str
    name: str
    calls: int
    quantity: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PartnerBreakdown:
    month: str
    basis: Basis
    rows: list[PartnerRevenue]  # the top N (every partner when asked for all), the largest first
    partners: int  # partners in all
    calls: int  # of every partner
    quantity: int
    total: Decimal

    @property
    def others(self) -> PartnerRevenue | None:
        """The partners beyond `rows`, summed."""
        if self.partners <= len(self.rows):
            return None
        return PartnerRevenue(
            "",
            "",
            self.calls - sum(r.calls for r in self.rows),
            self.quantity - sum(r.quantity for r in self.rows),
            self.total - sum((r.amount for r in self.rows), ZERO),
        )

    @property
    def others_count(self) -> int:
        return max(0, self.partners - len(self.rows))


@dataclass(frozen=True, slots=True)
class CapabilityTraffic:
    capability: str
    units: tuple[str, ...]  # the units of measure of its products (segment, message, minute)
    products: int
    calls: int
    quantity: int
    amount: Decimal  # charged in real time


@dataclass(frozen=True, slots=True)
class AgeingRow:
    partner_id: str
    name: str
    balance: Decimal  # the ledger's receivable
    buckets: dict[rules.AgeBucket, Decimal]


@dataclass(frozen=True, slots=True)
class Ageing:
    as_of: date  # Asia/Shanghai
    last_billed: str | None  # the latest month whose bill run completed
    rows: list[AgeingRow]  # the partners owing most (all of them when asked), the largest first
    partners: int  # every partner owing
    totals: dict[rules.AgeBucket, Decimal] = field(default_factory=dict)  # of every partner

    @property
    def total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)


@dataclass(frozen=True, slots=True)
class FloatRow:
    partner_id: str
    name: str
    available: Decimal
    reserved: Decimal

    @property
    def total(self) -> Decimal:
        return self.available + self.reserved


@dataclass(frozen=True, slots=True)
class PrepaidFloat:
    available: Decimal  # every partner's prepaid:available
    reserved: Decimal  # held in grants by the gateway workers (prepaid:reserved)
    rows: list[FloatRow]  # the partners holding most (all of them when asked), the largest first

    @property
    def total(self) -> Decimal:
        return self.available + self.reserved


# ---- queries ----------------------------------------------------------------------------------------


def check_access(uow: UnitOfWork) -> None:
    access.require_staff(uow.actor, *DASHBOARD_ROLES)


def default_month(uow: UnitOfWork) -> str:
    """The month the dashboard opens on: the current one (Asia/Shanghai)."""
    return month_key(uow.now)


async def _billed_months(uow: UnitOfWork, months: Sequence[str]) -> set[str]:
    rows = await uow.session.scalars(
        select(BillRun.month).where(BillRun.month.in_(list(months)), BillRun.state == BillRunState.COMPLETED)
    )
    return set(rows.all())


async def _names(uow: UnitOfWork, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(ids))
    out: dict[str, str] = {}
    for i in range(0, len(wanted), NAME_CHUNK):
        out.update(await partners.partner_names(uow, wanted[i : i + NAME_CHUNK]))
    return out


async def revenue_by_month(uow: UnitOfWork, month: str, n: int = MONTHS) -> list[MonthRevenue]:
    """The `n` months ending with `month`, oldest first."""
    check_access(uow)
    months = rules.months_back(month, n)
    usage = await settlement.month_sums(uow.session, months)
    billed_months = await _billed_months(uow, months)
    rows = await uow.session.execute(
        select(Statement.month, func.count(), sum_units(Statement.total))
        .where(Statement.month.in_(sorted(billed_months)))
        .group_by(Statement.month)
    )
    billed = {m: (int(c), units(t)) for m, c, t in rows.all()}
    out = []
    for m in months:
        u = usage.get(m, settlement.UsageSums(0, 0, ZERO))
        count, total = billed.get(m, (0, ZERO))
        out.append(
            MonthRevenue(m, u.calls, u.quantity, u.amount, total if m in billed_months else None, count)
        )
    return out


async def revenue_by_product(uow: UnitOfWork, month: str) -> ProductBreakdown:
    check_access(uow)
    usage = await settlement.product_sums(uow.session, month)
    billed = month in await _billed_months(uow, [month])
    amounts = {pid: u.amount for pid, u in usage.items()}
    quantities = {pid: u.quantity for pid, u in usage.items()}
    adjustments = rounding = ZERO
    if billed:
        lines = await uow.session.execute(
            select(
                StatementLine.kind,
                StatementLine.product_id,
                sum_units(StatementLine.amount),
                func.sum(StatementLine.units),
            )
            .join(Statement, Statement.id == StatementLine.statement_id)
            .where(Statement.month == month)
            .group_by(StatementLine.kind, StatementLine.product_id)
        )
        amounts, quantities = {}, {}
        for kind, pid, amount, qty in lines.all():
            if kind == LineKind.USAGE and pid is not None:
                amounts[pid] = units(amount)
                quantities[pid] = int(qty or 0)
            elif kind == LineKind.ADJUSTMENT:
                adjustments += units(amount)
            elif kind == LineKind.ROUNDING:
                rounding += units(amount)
    ids = sorted(set(amounts) | set(usage))
    labels = await catalog.product_labels(uow.session, ids)
    rows = []
    for pid in ids:
        lb = labels.get(pid)
        code = lb.code if lb else pid
        rows.append(
            ProductRevenue(
                pid,
                code,
                lb.name_zh if lb else code,
                lb.name_en if lb else code,
                lb.capability if lb else "",
                lb.unit if lb else "",
                usage[pid].calls if pid in usage else 0,
                quantities.get(pid, 0),
                amounts.get(pid, ZERO),
            )
        )
    rows.sort(key=lambda r: (-r.amount, r.code))
    total = sum((r.amount for r in rows), ZERO) + adjustments + rounding
    return ProductBreakdown(
        month, Basis.BILLED if billed else Basis.CHARGED, rows, adjustments, rounding, total
    )


async def revenue_by_partner(uow: UnitOfWork, month: str, top: int | None = 10) -> PartnerBreakdown:
    """The `top` partners of the month by revenue (every partner with None) and the month's sums."""
    check_access(uow)
    billed = month in await _billed_months(uow, [month])
    found: list[tuple[str, int, int, Decimal]]
    if billed:
        where = Statement.month == month
        count, calls, qty, total = (
            await uow.session.execute(
                select(
                    func.count(),
                    func.sum(Statement.calls),
                    func.sum(Statement.quantity),
                    sum_units(Statement.total),
                ).where(where)
            )
        ).one()
        sums = (int(count or 0), int(calls or 0), int(qty or 0), units(total))
        q = (
            select(Statement.partner_id, Statement.calls, Statement.quantity, Statement.total)
            .where(where)
            .order_by(Statement.total.desc(), Statement.partner_id)
        )
        rows = await uow.session.execute(q.limit(top) if top is not None else q)
        found = [(p, int(c), int(n), t) for p, c, n, t in rows.all()]
    else:
        u = (await settlement.month_sums(uow.session, [month])).get(month, settlement.UsageSums(0, 0, ZERO))
        sums = (await settlement.partner_count(uow.session, month), u.calls, u.quantity, u.amount)
        by_partner = await settlement.partner_sums(uow.session, month=month, top=top)
        found = [(p, x.calls, x.quantity, x.amount) for p, x in by_partner.items()]
    names = await _names(uow, (f[0] for f in found))
    out = [PartnerRevenue(p, names.get(p, p), c, q, a) for p, c, q, a in found]
    out.sort(key=lambda r: (-r.amount, r.partner_id))
    return PartnerBreakdown(month, Basis.BILLED if billed else Basis.CHARGED, out, *sums)


async def traffic_by_capability(uow: UnitOfWork, month: str) -> list[CapabilityTraffic]:
    """Calls and units per capability (the sum of its products' rollups), the most calls first."""
    check_access(uow)
    usage = await settlement.product_sums(uow.session, month)
    labels = await catalog.product_labels(uow.session, sorted(usage))
    acc: dict[str, tuple[set[str], int, int, int, Decimal]] = {}
    for pid, u in usage.items():
        lb = labels.get(pid)
        cap = lb.capability if lb else "?"
        unit_set, products, calls, qty, amount = acc.get(cap, (set(), 0, 0, 0, ZERO))
        if lb:
            unit_set.add(lb.unit)
        acc[cap] = (unit_set, products + 1, calls + u.calls, qty + u.quantity, amount + u.amount)
    out = [CapabilityTraffic(cap, tuple(sorted(us)), n, c, q, a) for cap, (us, n, c, q, a) in acc.items()]
    return sorted(out, key=lambda t: (-t.calls, t.capability))


async def receivables_ageing(uow: UnitOfWork, top: int | None = None) -> Ageing:
    """Every partner's receivable (ledger) aged by its open postpaid statements (dashboard_rules); the
    totals are every partner's, the rows named are the `top` largest (all with None)."""
    check_access(uow)
    today = business_date(uow.now)
    owed = {
        p: b for p, b in (await ledger.balances_of_type(uow.session, AccountType.RECEIVABLE)).items() if b > 0
    }
    last_billed = await uow.session.scalar(
        select(func.max(BillRun.month)).where(BillRun.state == BillRunState.COMPLETED)
    )
    unbilled = (
        await settlement.partner_sums(uow.session, after=last_billed)
        if last_billed is not None
        else await settlement.partner_sums(uow.session)
    )
    open_: dict[str, list[rules.OpenStatement]] = {}
    if owed:
        rows = await uow.session.execute(
            select(Statement.partner_id, Statement.month, Statement.total).where(
                Statement.billing_mode == BillingMode.POSTPAID.value,
                Statement.state != StatementState.SETTLED,
            )
        )
        for pid, m, total in rows.all():
            if pid in owed:
                open_.setdefault(pid, []).append(rules.OpenStatement(m, total))
    totals = dict.fromkeys(rules.BUCKETS, ZERO)
    aged = []
    for pid, balance in sorted(owed.items(), key=lambda kv: (-kv[1], kv[0])):
        u = unbilled.get(pid)
        buckets = rules.age_receivable(balance, u.amount if u else ZERO, open_.get(pid, []), today)
        for b, v in buckets.items():
            totals[b] += v
        aged.append((pid, balance, buckets))
    shown = aged if top is None else aged[:top]
    names = await _names(uow, (a[0] for a in shown))
    out = [AgeingRow(pid, names.get(pid, pid), balance, buckets) for pid, balance, buckets in shown]
    return Ageing(today, last_billed, out, len(aged), totals)


async def prepaid_float(uow: UnitOfWork, top: int | None = None) -> PrepaidFloat:
    """Every partner's prepaid money (the sums) and the `top` holders (all with None)."""
    check_access(uow)
    types = (AccountType.PREPAID_AVAILABLE, AccountType.PREPAID_RESERVED)
    sums = await ledger.totals_by_type(uow.session, types)
    held = await ledger.holdings(uow.session, types, limit=top)
    names = await _names(uow, (p for p, _ in held))
    rows = [
        FloatRow(
            p,
            names.get(p, p),
            b.get(AccountType.PREPAID_AVAILABLE, ZERO),
            b.get(AccountType.PREPAID_RESERVED, ZERO),
        )
        for p, b in held
    ]
    return PrepaidFloat(sums[AccountType.PREPAID_AVAILABLE], sums[AccountType.PREPAID_RESERVED], rows)
