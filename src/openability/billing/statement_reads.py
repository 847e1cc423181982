"""Reads of the billing clerk's console (billing/statement_views.py): bill runs with their progress and
figures, the months with usage not billed yet, and disputes. Statements themselves are read through
billing/statements.py (list_statements, statement_detail), which decides who sees what.

Any operator may read these (as the statements API lets any operator read statements); acting on them
needs the billing roles, checked by the services that act."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from openability.billing.models import BillRun, CarriedAdjustment, Dispute, Statement
from openability.billing.statements import get_statement, parse_month
from openability.billing.types import BillRunState, DisputeOutcome, StatementState
from openability.charging import settlement
from openability.kernel import access
from openability.kernel.clock import month_key
from openability.kernel.errors import NotFound
from openability.kernel.uow import UnitOfWork
from openability.ledger.checks import sum_units, units

ZERO = Decimal("0.0000")


@dataclass(frozen=True, slots=True)
class BillRunView:
    month: str
    state: BillRunState
    started_at: datetime
    started_by: str
    finished_at: datetime | None
    partners_done: int  # statements made so far
    partners_total: int  # partners the run has to bill (usage in the month, or a carried adjustment)
    statements: int
    total: Decimal

    @property
    def percent(self) -> int:
        if self.state == BillRunState.COMPLETED or not self.partners_total:
            return 100
        return min(100, self.partners_done * 100 // self.partners_total)


@dataclass(frozen=True, slots=True)
class RunFigures:
    """The sums of a month's statements (a bill run's results)."""

    statements: int
    by_state: dict[str, int]
    by_mode: dict[str, tuple[int, Decimal]]  # billing mode -> (statements, total)
    calls: int
    quantity: int
    provisional: Decimal
    exact: Decimal
    adjustments: Decimal
    rounding: Decimal
    total: Decimal
    true_up: Decimal
    undercharge: Decimal


async def _statement_count(uow: UnitOfWork, month: str) -> int:
    n = await uow.session.scalar(select(func.count()).select_from(Statement).where(Statement.month == month))
    return int(n or 0)


async def _to_bill(uow: UnitOfWork, month: str) -> int:
    """How many partners the bill run of `month` bills: as the run itself picks them, plus those that
    already have their statement (the carried adjustments they had are applied by now)."""
    pids = set(await settlement.partners_with_usage(uow.session, month))
    pids |= set(
        (
            await uow.session.scalars(
                select(CarriedAdjustment.partner_id).where(
                    CarriedAdjustment.applied_statement_id.is_(None), CarriedAdjustment.from_month < month
                )
            )
        ).all()
    )
    pids |= set(
        (await uow.session.scalars(select(Statement.partner_id).where(Statement.month == month))).all()
    )
    return len(pids)


async def _view(uow: UnitOfWork, run: BillRun) -> BillRunView:
    if run.state == BillRunState.COMPLETED:
        done = total = run.statements
    else:
        done, total = await _statement_count(uow, run.month), await _to_bill(uow, run.month)
    return BillRunView(
        run.month,
        run.state,
        run.started_at,
        run.started_by,
        run.finished_at,
        done,
        max(done, total),
        run.statements if run.state == BillRunState.COMPLETED else done,
        run.total,
    )


async def list_bill_runs(
    uow: UnitOfWork, *, offset: int = 0, limit: int = 50
) -> tuple[list[BillRunView], int]:
    access.require_staff(uow.actor)
    offset, limit = access.page(offset, limit)
    total = await uow.session.scalar(select(func.count()).select_from(BillRun)) or 0
    runs = (
        await uow.session.scalars(select(BillRun).order_by(BillRun.month.desc()).offset(offset).limit(limit))
    ).all()
    return [await _view(uow, r) for r in runs], int(total)


async def bill_run_view(uow: UnitOfWork, month: str) -> BillRunView | None:
    access.require_staff(uow.actor)
    run = await uow.session.get(BillRun, parse_month(month))
    return await _view(uow, run) if run is not None else None


async def unbilled_months(uow: UnitOfWork) -> list[str]:
    """Months before the current one with usage and no bill run yet, oldest first."""
    access.require_staff(uow.actor)
    months = await settlement.rollup_months(uow.session, month_key(uow.now))
    runs = set((await uow.session.scalars(select(BillRun.month).where(BillRun.month.in_(months)))).all())
    return [m for m in months if m not in runs]


async def run_figures(uow: UnitOfWork, month: str) -> RunFigures:
    access.require_staff(uow.actor)
    month = parse_month(month)
    where = Statement.month == month
    row = (
        await uow.session.execute(
            select(
                func.count(),
                func.sum(Statement.calls),
                func.sum(Statement.quantity),
                sum_units(Statement.provisional),
                sum_units(Statement.exact),
                sum_units(Statement.adjustments),
                sum_units(Statement.rounding),
                sum_units(Statement.total),
                sum_units(Statement.true_up),
                sum_units(Statement.undercharge),
            ).where(where)
        )
    ).one()
    states = await uow.session.execute(
        select(Statement.state, func.count()).where(where).group_by(Statement.state)
    )
    modes = await uow.session.execute(
        select(Statement.billing_mode, func.count(), sum_units(Statement.total))
        .where(where)
        .group_by(Statement.billing_mode)
    )
    return RunFigures(
        statements=int(row[0] or 0),
        by_state={s.value: int(n) for s, n in states.all()},
        by_mode={m: (int(n), units(t)) for m, n, t in modes.all()},
        calls=int(row[1] or 0),
        quantity=int(row[2] or 0),
        provisional=units(row[3]),
        exact=units(row[4]),
        adjustments=units(row[5]),
        rounding=units(row[6]),
        total=units(row[7]),
        true_up=units(row[8]),
        undercharge=units(row[9]),
    )


async def drafts_of(uow: UnitOfWork, month: str) -> int:
    n = await uow.session.scalar(
        select(func.count())
        .select_from(Statement)
        .where(Statement.month == month, Statement.state == StatementState.DRAFT)
    )
    return int(n or 0)


# ---- disputes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisputeRow:
    dispute: Dispute
    month: str


async def list_disputes(
    uow: UnitOfWork,
    *,
    month: str | None = None,
    outcome: DisputeOutcome | None = None,
    partner_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[DisputeRow], int]:
    """Disputes, the newest first: operators every partner's, a partner its own."""
    offset, limit = access.page(offset, limit)
    partner_id = access.scope_partner(uow.actor, partner_id)
    stmt = select(Dispute, Statement.month).join(Statement, Statement.id == Dispute.statement_id)
    if month:
        stmt = stmt.where(Statement.month == parse_month(month))
    if outcome is not None:
        stmt = stmt.where(Dispute.outcome == outcome)
    if partner_id is not None:
        stmt = stmt.where(Dispute.partner_id == partner_id)
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await uow.session.execute(
        stmt.order_by(Dispute.opened_at.desc(), Dispute.id.desc()).offset(offset).limit(limit)
    )
    return [DisputeRow(d, m) for d, m in rows.all()], int(total)


@dataclass(frozen=True)
class DisputeDetail:
    dispute: Dispute
    statement: Statement
    applied_to: Statement | None  # the later statement that carries its adjustment (R-BILL-06)


async def dispute_detail(uow: UnitOfWork, dispute_id: str) -> DisputeDetail:
    d = await uow.session.get(Dispute, dispute_id)
    if d is None or (not access.is_staff(uow.actor) and d.partner_id != uow.actor.partner_id):
        raise NotFound(f"dispute {dispute_id} not found")
    stmt = await get_statement(uow, d.statement_id)
    applied_id = await uow.session.scalar(
        select(CarriedAdjustment.applied_statement_id).where(CarriedAdjustment.dispute_id == d.id)
    )
    applied = await uow.session.get(Statement, applied_id) if applied_id else None
    if applied is not None and applied.state == StatementState.DRAFT and not access.is_staff(uow.actor):
        applied = None  # a draft is the billing office's until it is issued
    return DisputeDetail(d, stmt, applied)
