"""The month's statements (R-BILL-02..04, R-CHARGE-06): the bill run, issuing, the late alert, partner
confirmation, deemed confirmation and settlement of prepaid statements. Disputes and the raw usage log
are in billing/reconciliation.py.

States: draft (made by the bill run) -> issued (the partner is notified; before the 10th) -> confirmed
(by the partner, or deemed when the 15th ends) | disputed -> settled. A prepaid partner's money moved
in real time and by the true-up, so its statement settles once its confirmation window has closed; a
postpaid statement is settled by collections.

The bill run for month M (Asia/Shanghai) runs from 00:00 on the 1st of M+1 and reads the daily rollups
only, never the CDRs. One statement per partner with usage in M (or a carried adjustment), unique by
(partner, month): re-running the bill run, or two schedulers at once, changes nothing. Each partner's
statement, its lines and its ledger entries are one transaction:

  * true-up (R-CHARGE-06): the month re-rated exactly (graduated tiers over the month's volume, each
    use at its price version, band and scope); what real time charged above the exact price is
    credited back: Dr revenue / Cr prepaid:available (prepaid) or receivable (postpaid). What real time
    charged below it is not charged afterwards: the statement notes it.
  * carried adjustments (R-BILL-06): in the partner's favour Dr revenue / Cr prepaid:available or
    receivable; against it Dr receivable / Cr revenue.

Postpaid usage needs no entry here: each CDR batch already debited the partner's receivable (CHARGE
entries, charging/cdr_writer.py); the statement states the amount, the true-up corrects it to exact."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from openability.billing import bill_sql, dues, holds, invoices
from openability.billing import statement_rules as rules
from openability.billing.models import (
    BillRun,
    CarriedAdjustment,
    Dispute,
    Invoice,
    Statement,
    StatementLine,
)
from openability.billing.types import (
    ADJUSTMENT_REF,
    TRUE_UP_REF,
    BillRunState,
    Confirmation,
    LineKind,
    StatementState,
)
from openability.catalog import service as catalog
from openability.catalog.types import PlanVersion
from openability.charging import settlement
from openability.kernel import access, audit
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import SHANGHAI, month_key
from openability.kernel.errors import Conflict, InvalidArgument, NotFound, RuleViolation
from openability.kernel.events import BALANCE_CHANGED
from openability.kernel.ids import new_id
from openability.kernel.money import fmt_fen
from openability.kernel.notify import notify
from openability.kernel.platform import Platform
from openability.kernel.uow import SYSTEM, Actor, UnitOfWork
from openability.ledger import service as ledger
from openability.ledger.types import PLATFORM, AccountType, EntryKind
from openability.partners import service as partners
from openability.partners.types import BillingMode, PartnerKind, PartnerRef

STATEMENT_ROLES = ("admin", "billing_clerk")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ZERO = Decimal("0.0000")

Progress = Callable[[int, int], None]


def parse_month(month: str) -> str:
    if not isinstance(month, str) or not MONTH.match(month):
        raise InvalidArgument(f"month must be YYYY-MM, got {month!r}", code="INVALID_MONTH")
    return month


def snapshot(s: Statement) -> dict[str, Any]:
    return {
        "state": s.state,
        "month": s.month,
        "total": s.total,
        "exact": s.exact,
        "provisional": s.provisional,
        "true_up": s.true_up,
        "confirmation": s.confirmation,
    }


# ---- the bill run ---------------------------------------------------------------------------------


BILL_RUN_CHUNK = 500  # partners per transaction, at most
BILL_RUN_CHUNKS = 20  # at least this many chunks when there are enough partners (progress, resumption)
BILL_RUN_PARALLEL = 2  # chunks in flight at once on PostgreSQL (a killed run loses this many at most)


def bill_run_chunk(partners: int) -> int:
    """Partners per chunk for a run of `partners`: at most BILL_RUN_CHUNK, and small enough that the
    run has BILL_RUN_CHUNKS chunks (a killed run loses one chunk's work at most)."""
    return max(1, min(BILL_RUN_CHUNK, partners // BILL_RUN_CHUNKS))


@dataclass(frozen=True)
class BillRunResult:
    month: str
    created: int  # statements made by this run
    statements: int  # statements of the month in all
    total: Decimal  # their totals
    already_done: bool  # the month was billed before: nothing changed


# The collector's first-generation threshold while a bill run makes its statements: it allocates a few
# objects per partner, product and line that all live until their chunk is written, and with the
# default (700) the collector ran every few partners and walked the process's long-lived objects
# often: ~0.2 s of 0.8 s in the month's totals alone (10,000 partners). Restored when the run ends.
BILL_RUN_GC_THRESHOLD = 100_000


_gc_runs: list[tuple[int, ...]] = []  # the threshold before the first of the bill runs in progress


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """The raised threshold while any bill run of the process is in progress (two at once: the first's
    saved value is restored when the last ends)."""
    if not _gc_runs:
        old = gc.get_threshold()
        gc.set_threshold(max(old[0], BILL_RUN_GC_THRESHOLD), *old[1:])
        _gc_runs.append(old)
    else:
        _gc_runs.append(_gc_runs[0])
    try:
        yield
    finally:
        saved = _gc_runs.pop()
        if not _gc_runs:
            gc.set_threshold(*saved)


async def bill_run(
    platform: Platform, month: str, *, actor: Actor = SYSTEM, progress: Progress | None = None
) -> BillRunResult:
    """Bill `month` (R-BILL-02). Idempotent: a completed month answers its figures and changes nothing;
    an interrupted one resumes (a partner's statement exists or not, with its entries, as a whole)."""
    month = parse_month(month)
    with _fewer_collections():
        return await _bill_run(platform, month, actor, progress)


async def _bill_run(platform: Platform, month: str, actor: Actor, progress: Progress | None) -> BillRunResult:
    async with platform.uow(actor) as uow:
        access.require_staff(uow.actor, *STATEMENT_ROLES)
        if uow.now < rules.bill_run_due(month):
            raise RuleViolation(
                f"month {month} is not over: its bill run runs from 00:00 on the 1st of the next month "
                "(Asia/Shanghai, R-BILL-02)",
                code="MONTH_NOT_ENDED",
            )
        run = await uow.session.get(BillRun, month)
        if run is not None and run.state == BillRunState.COMPLETED:
            return BillRunResult(month, 0, run.statements, run.total, True)
        # The price versions are read once per run, not once per partner (they were 3 of a partner's ~10
        # queries per product): a version is immutable once calls were rated with it (R-PRICE-03), and
        # the rollups name the version each use was rated with.
        plan_cache: PlanCache = {}
        totals_of: dict[str, list[settlement.UsageTotal]] | None = None
        lists: bill_sql.PriceLists | None = None
        if bill_sql.in_sql(uow):
            # PostgreSQL: the chunks' statements are made by the database (billing/bill_sql.py) from the
            # monthly rollups and the month's price lists, worked out here once; a partner it leaves
            # is billed in Python with its chunk's usage read then.
            pids = set(await bill_sql.month_partners(uow, month))
            lists = await month_price_lists(uow, month, plan_cache)
        else:
            # The month's usage of every partner, summed per product, version, band and scope in one
            # pass over the month's rollups (~3 rows per partner): the partners to bill, and each
            # chunk's usage.
            totals_of = await settlement.month_totals_of(uow.session, None, month)
            pids = set(totals_of)
        pids |= set(
            (
                await uow.session.scalars(
                    select(CarriedAdjustment.partner_id).where(
                        CarriedAdjustment.applied_statement_id.is_(None), CarriedAdjustment.from_month < month
                    )
                )
            ).all()
        )
    if run is None:
        try:
            async with platform.uow(actor) as uow:
                uow.session.add(
                    BillRun(
                        month=month,
                        state=BillRunState.RUNNING,
                        started_at=uow.now,
                        started_by=actor.id,
                        statements=0,
                        total=ZERO,
                    )
                )
                uow.audit("bill_run.started", ("bill_run", month), after={"partners": len(pids)})
        except IntegrityError:
            pass  # another scheduler started it: the statements themselves are unique
    created = 0
    ordered = sorted(pids)
    # Partners are billed in chunks, one transaction each (bill_partners: a handful of statements per
    # chunk, not per partner); a chunk's statements exist with their lines and entries, or none of
    # them, so a killed run resumes at the first chunk not committed. On PostgreSQL BILL_RUN_PARALLEL
    # chunks are in flight at once, each on its own connection: while one waits for the database to
    # store its rows (COPY, the lines' keys), the next one's statements are made in Python.
    size = bill_run_chunk(len(ordered))
    async with platform.uow(actor) as uow:
        billed = await _billed(uow.session, month)  # a resumed run's statements, read once
        parallel = BILL_RUN_PARALLEL if uow.session.get_bind().dialect.name == "postgresql" else 1

    async def bill_chunk(chunk: list[str]) -> int:
        try:
            async with platform.uow(actor) as uow:
                return await bill_chunk_of(uow, month, chunk, plan_cache, billed, totals_of, lists)
        except IntegrityError:
            # another run billed some of them first: these partners one at a time, as it did
            made = 0
            for pid in chunk:
                try:
                    async with platform.uow(actor) as uow:
                        made += await bill_partner(uow, month, pid, plan_cache)
                except IntegrityError:
                    pass  # another run made this partner's statement first
            return made

    chunks = [ordered[start : start + size] for start in range(0, len(ordered), size)]
    billed_so_far = 0
    for first in range(0, len(chunks), parallel):
        group = chunks[first : first + parallel]
        if len(group) == 1:
            created += await bill_chunk(group[0])
        else:
            # a chunk that fails otherwise cancels the others (rolled back) and fails the run
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(bill_chunk(c)) for c in group]
            created += sum(t.result() for t in tasks)
        for chunk in group:
            if progress is not None:
                for i in range(billed_so_far + 1, billed_so_far + len(chunk) + 1):
                    progress(i, len(ordered))
            billed_so_far += len(chunk)
    async with platform.uow(actor) as uow:
        count = (
            await uow.session.scalar(
                select(func.count()).select_from(Statement).where(Statement.month == month)
            )
            or 0
        )
        total = await _month_total(uow, month)
        run = await uow.session.get(BillRun, month, with_for_update=True)
        if run is not None and run.state != BillRunState.COMPLETED:
            run.state = BillRunState.COMPLETED
            run.finished_at = uow.now
            run.statements = int(count)
            run.total = total
            uow.audit(
                "bill_run.completed",
                ("bill_run", month),
                after={"statements": int(count), "created": created, "total": total},
            )
    return BillRunResult(month, created, int(count), total, False)


async def _month_total(uow: UnitOfWork, month: str) -> Decimal:
    """The month's statement totals summed (in the database: exact, the column is integer units)."""
    total = await uow.session.scalar(select(func.sum(Statement.total)).where(Statement.month == month))
    return ZERO if total is None else total


async def month_price_lists(uow: UnitOfWork, month: str, plan_cache: PlanCache) -> bill_sql.PriceLists:
    """The price lists of every product, version, band and scope used in the month, as the database
    bills with them (billing/bill_sql.py; PostgreSQL)."""
    keys = await bill_sql.month_keys(uow, month)
    plans, codes = await _plans(uow, [k[0] for k in keys], plan_cache)
    return bill_sql.price_lists(keys, plans, codes, {})


# product id -> (code, its price versions by plan id), or None for a product that does not exist
PlanCache = dict[str, tuple[str, dict[str, PlanVersion]] | None]


async def _plans(
    uow: UnitOfWork, product_ids: Sequence[str], cache: PlanCache | None = None
) -> tuple[dict[str, PlanVersion], dict[str, str]]:
    """Every price version of the products, by plan id; and product id -> code."""
    plans: dict[str, PlanVersion] = {}
    codes: dict[str, str] = {}
    for pid in sorted(set(product_ids)):
        if cache is not None and pid in cache:
            found = cache[pid]
        else:
            rating = await catalog.product_rating(uow, pid)
            found = None if rating is None else (rating.code, {p.plan_id: p for p in rating.plans})
            if cache is not None:
                cache[pid] = found
        if found is None:
            continue
        codes[pid] = found[0]
        plans.update(found[1])
    return plans, codes


def _statement_values(
    uow: UnitOfWork,
    month: str,
    partner: PartnerRef,
    usage: tuple[int, int, Decimal],
    lines: Sequence[rules.UsageLine],
    carried: Sequence[CarriedAdjustment],
) -> tuple[dict[str, Any], rules.Figures]:
    """The partner's statement of the month, as its columns, and its figures. `usage`: the month's
    (calls, quantity, amount charged in real time) from its rollups."""
    calls, quantity, provisional = usage
    fig = rules.figures(lines, provisional, [a.amount for a in carried])
    mode = BillingMode.PREPAID if partner.kind == PartnerKind.AP else partner.billing_mode  # R-PARTNER-01
    values = {
        "id": new_id("stm"),
        "partner_id": partner.id,
        "month": month,
        "state": StatementState.DRAFT,
        "billing_mode": mode.value,
        "calls": calls,
        "quantity": quantity,
        "provisional": fig.provisional,
        "exact": fig.exact,
        "adjustments": fig.adjustments,
        "rounding": fig.rounding,
        "total": fig.total,
        "true_up": fig.true_up,
        "undercharge": fig.undercharge,
        "note": bill_sql.undercharge_note(str(fig.undercharge)) if fig.undercharge else "",
        "created_at": uow.now,
    }
    return values, fig


def _snapshot_of(values: dict[str, Any]) -> dict[str, Any]:
    """`snapshot` of a statement not loaded as an object (its columns as `_statement_values` made them)."""
    return {
        "state": values["state"],
        "month": values["month"],
        "total": values["total"],
        "exact": values["exact"],
        "provisional": values["provisional"],
        "true_up": values["true_up"],
        "confirmation": values.get("confirmation"),
    }


# An adjustment or rounding line's usage columns, stated (they are the columns' defaults) so that every
# line has the same columns: a chunk's lines are one multi-row INSERT.
_NO_USAGE: dict[str, Any] = {
    "product_id": None,
    "product_code": "",
    "price_plan_id": None,
    "plan_version": None,
    "band": "",
    "scope": "",
    "tier_from": None,
    "tier_to": None,
    "units": 0,
    "unit_price": None,
}


def _statement_lines(
    statement_id: str,
    lines: Sequence[rules.UsageLine],
    codes: dict[str, str],
    carried: Sequence[CarriedAdjustment],
    fig: rules.Figures,
) -> list[dict[str, Any]]:
    """The statement's lines, as their columns: usage, carried adjustments, rounding."""
    out: list[dict[str, Any]] = []
    seq = 0
    for ln in lines:
        seq += 1
        code = codes.get(ln.product_id, ln.product_id)
        out.append(
            {
                "statement_id": statement_id,
                "seq": seq,
                "kind": LineKind.USAGE,
                "product_id": ln.product_id,
                "product_code": code,
                "price_plan_id": ln.price_plan_id,
                "plan_version": ln.plan_version,
                "band": ln.band,
                "scope": ln.scope,
                "tier_from": ln.tier_from,
                "tier_to": ln.tier_to,
                "units": ln.units,
                "unit_price": ln.unit_price,
                "amount": ln.amount,
                "description": bill_sql.line_description(
                    code, ln.plan_version, ln.band, ln.scope, ln.tier_from, ln.tier_to
                ),
            }
        )
    for adj in carried:
        seq += 1
        out.append(
            {
                "statement_id": statement_id,
                "seq": seq,
                "kind": LineKind.ADJUSTMENT,
                **_NO_USAGE,
                "amount": adj.amount,
                "description": f"争议调整 {adj.from_month} / adjustment from dispute {adj.dispute_id} ({adj.from_month})",
            }
        )
    seq += 1
    out.append(
        {
            "statement_id": statement_id,
            "seq": seq,
            "kind": LineKind.ROUNDING,
            **_NO_USAGE,
            "amount": fig.rounding,
            "description": bill_sql.ROUNDING_WORDS,
        }
    )
    return out


def _carried_query(partner_ids: Sequence[str], month: str) -> Any:
    return (
        select(CarriedAdjustment)
        .where(
            CarriedAdjustment.partner_id.in_(list(partner_ids)),
            CarriedAdjustment.applied_statement_id.is_(None),
            CarriedAdjustment.from_month < month,
        )
        .order_by(CarriedAdjustment.partner_id, CarriedAdjustment.created_at, CarriedAdjustment.id)
        .with_for_update()
    )


def _usage_of_rollups(rollups: Sequence[settlement.RollupRow]) -> list[rules.Usage]:
    return [
        rules.Usage(r.product_id, r.day, r.price_plan_id, r.band, r.scope, r.quantity, r.amount)
        for r in rollups
    ]


def _needs_days(totals: Sequence[settlement.UsageTotal]) -> bool:
    """Whether a product of the partner's month has more than one price version, band or scope: its
    re-rate walks the days in order (the month-to-date volume is shared across them), so it is rated
    from the daily rows; otherwise from the month's totals, with the same lines (R-CHARGE-06)."""
    seen: set[str] = set()
    for t in totals:
        if t.product_id in seen:
            return True
        seen.add(t.product_id)
    return False


def _masked_snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """`audit.mask(_snapshot_of(values))` built directly (no key of a snapshot names a secret; the
    money is its string, the state its value): the "statement.created" row's `after`."""
    confirmation = values.get("confirmation")
    return {
        "state": values["state"].value,
        "month": values["month"],
        "total": str(values["total"]),
        "exact": str(values["exact"]),
        "provisional": str(values["provisional"]),
        "true_up": str(values["true_up"]),
        "confirmation": None if confirmation is None else audit.jsonable(confirmation),
    }


def _audit_row(uow: UnitOfWork, statement_id: str, partner_id: str, after: dict[str, Any]) -> dict[str, Any]:
    """The "statement.created" audit row `uow.audit` makes, as its columns (inserted with the chunk's).
    `after`: the statement's snapshot as `audit.mask` writes it (`_masked_snapshot`)."""
    return {
        "id": new_id("aud"),
        "at": uow.now,
        "actor_type": uow.actor.type,
        "actor_id": uow.actor.id,
        "action": "statement.created",
        "entity_type": "statement",
        "entity_id": statement_id,
        "partner_id": partner_id,
        "before": None,
        "after": after,
        "correlator": uow.correlator,
        "note": None,
    }


# The tables the chunk's rows go to, written with Core multi-row INSERTs (no ORM unit of work).
_STATEMENTS: Table = Statement.__table__  # type: ignore[assignment]
_LINES: Table = StatementLine.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]


async def _billed(session: Any, month: str, partner_ids: Sequence[str] | None = None) -> set[str]:
    """The partners (of `partner_ids`, or all) with a statement of the month."""
    q = select(Statement.partner_id).where(Statement.month == month)
    if partner_ids is not None:
        q = q.where(Statement.partner_id.in_(list(partner_ids)))
    return set((await session.scalars(q)).all())


def _once(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, remembering its result per value and type: equal values of one type convert equally
    (a Decimal's units do not depend on its exponent), and a value of another type is still converted
    (or refused) by `convert`; an unhashable value (a JSON column's dict) is converted each time."""
    seen: dict[Any, Any] = {}

    def once(value: Any) -> Any:
        key = (value.__class__, value)
        try:
            return seen[key]
        except KeyError:
            out = seen[key] = convert(value)
            return out
        except TypeError:
            return convert(value)

    return once


async def _write_rows(session: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows (every one with the same columns) into `table` in one round trip: COPY on PostgreSQL
    (asyncpg, in the session's transaction; each value, None too, bound by its column's type as an
    INSERT binds it: a JSON column's None is JSON null, as the ORM writes it), one multi-row INSERT
    elsewhere. A unique key's refusal is an IntegrityError on both (the COPY's unique violation,
    SQLSTATE 23505, is raised as one), and the transaction is then to be rolled back."""
    if not rows:
        return
    conn = await session.connection()
    dialect = conn.dialect
    if dialect.name != "postgresql" or dialect.driver != "asyncpg":
        await conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    # only the columns whose type converts the value (money to units, enums, JSON, datetimes), each
    # distinct value converted once (a chunk's statements share their time, state and many amounts)
    binds = [
        (i, _once(b))
        for i, b in enumerate(table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns)
        if b is not None
    ]
    records = []
    for r in rows:
        values = list(r.values())
        for i, b in binds:
            values[i] = b(values[i])
        records.append(tuple(values))
    raw = await conn.get_raw_connection()
    apg: Any = raw.driver_connection
    try:
        await apg.copy_records_to_table(table.name, records=records, columns=columns)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == "23505":  # unique_violation
            raise IntegrityError(f"COPY {table.name}", None, exc) from exc
        raise


@dataclass
class _Draft:
    partner: PartnerRef
    values: dict[str, Any]  # the statement's columns
    fig: rules.Figures
    lines: list[dict[str, Any]]
    carried: list[CarriedAdjustment]

    @property
    def books(self) -> bool:
        """Whether the statement moves money (a true-up or carried adjustments, `_book`)."""
        return bool(self.fig.true_up or self.fig.adjustments)


async def bill_partners(
    uow: UnitOfWork,
    month: str,
    partner_ids: Sequence[str],
    plan_cache: PlanCache | None = None,
    billed: set[str] | None = None,
    month_totals: dict[str, list[settlement.UsageTotal]] | None = None,
) -> int:
    """`bill_partner` for a chunk of partners in one transaction, set-based: the existing statements,
    the partners, their month's usage summed per product, version, band and scope in the database
    (`settlement.month_totals_of`; the daily rows only for a partner whose product changed version,
    band or scope in the month), and their carried adjustments read with one query each; statements,
    lines and "statement.created" audit rows inserted with one multi-row INSERT each. The true-up and
    adjustment entries are made per partner, in partner order, only for the statements that move
    money. `billed`: the partners with a statement of the month (read once by the bill run); without
    it they are read here. `month_totals`: the month's usage totals of every partner (read once by the
    bill run, `settlement.month_totals_of`); without it the chunk's are read here. Returns the
    statements made. An IntegrityError (another run billed one of them first)
    rolls the whole chunk back."""
    session = uow.session
    done = billed if billed is not None else await _billed(session, month, partner_ids)
    todo = [pid for pid in partner_ids if pid not in done]
    if not todo:
        return 0
    refs = await partners.find_partner_refs(uow, todo)
    todo = [pid for pid in todo if pid in refs]
    if not todo:
        return 0
    totals_of = (
        month_totals if month_totals is not None else await settlement.month_totals_of(session, todo, month)
    )
    by_day = [pid for pid in todo if _needs_days(totals_of.get(pid, ()))]
    rollups_of = await settlement.month_rollups_of(session, by_day, month) if by_day else {}
    carried_of: dict[str, list[CarriedAdjustment]] = {}
    for adj in (await session.scalars(_carried_query(todo, month))).all():
        carried_of.setdefault(adj.partner_id, []).append(adj)
    # the price versions of every product the chunk used, and their price lists as the re-rate walks
    # them, once per chunk (a version or code the partner did not use is never looked up)
    plans, codes = await _plans(
        uow, list({t.product_id for pid in todo for t in totals_of.get(pid, ())}), plan_cache
    )
    tables: rules.TierTables = {}
    drafts: list[_Draft] = []
    for pid in todo:
        totals = totals_of.get(pid, [])
        carried = carried_of.get(pid, [])
        if not totals and not carried:
            continue
        rollups = rollups_of.get(pid)
        usage = (
            _usage_of_rollups(rollups)
            if rollups is not None
            else [
                rules.Usage(t.product_id, t.first_day, t.price_plan_id, t.band, t.scope, t.rated, t.amount)
                for t in totals
            ]
        )
        lines = rules.rerate(usage, plans, tables)
        month_usage = (
            sum(t.calls for t in totals),
            sum(t.quantity for t in totals),
            sum((t.amount for t in totals), ZERO),
        )
        values, fig = _statement_values(uow, month, refs[pid], month_usage, lines, carried)
        drafts.append(
            _Draft(
                refs[pid], values, fig, _statement_lines(values["id"], lines, codes, carried, fig), carried
            )
        )
    if not drafts:
        return 0
    # the unique (partner, month) answers here, before any money moves
    await _write_rows(session, _STATEMENTS, [d.values for d in drafts])
    await _write_rows(session, _LINES, [ln for d in drafts for ln in d.lines])
    for d in drafts:
        for adj in d.carried:
            adj.applied_statement_id = d.values["id"]  # applied to it (flushed below)
    plain = [d for d in drafts if not d.books]
    if plain:
        await _write_rows(
            session,
            _AUDIT,
            [_audit_row(uow, d.values["id"], d.partner.id, _masked_snapshot(d.values)) for d in plain],
        )
    booking = [d for d in drafts if d.books]
    if booking:
        loaded = {
            s.id: s
            for s in (
                await session.scalars(
                    select(Statement).where(Statement.id.in_([d.values["id"] for d in booking]))
                )
            ).all()
        }
        for d in booking:
            stmt = loaded[d.values["id"]]
            await _book(uow, stmt, d.partner, d.fig)
            uow.audit(
                "statement.created",
                ("statement", stmt.id),
                partner_id=d.partner.id,
                after=_snapshot_of(d.values),  # the figures as made (a total of whole fen: 0.20)
            )
    await session.flush()  # the carried adjustments, now applied
    return len(drafts)


async def bill_chunk_of(
    uow: UnitOfWork,
    month: str,
    partner_ids: Sequence[str],
    plan_cache: PlanCache,
    billed: set[str],
    month_totals: dict[str, list[settlement.UsageTotal]] | None,
    lists: bill_sql.PriceLists | None,
) -> int:
    """One chunk of the bill run, in the caller's transaction: with the month's price lists (`lists`,
    PostgreSQL) the database makes the statements of the partners it can (billing/bill_sql.py) and
    `bill_partners` the others; without them `bill_partners` makes them all. Returns the statements
    made."""
    if lists is None:
        return await bill_partners(uow, month, partner_ids, plan_cache, billed, month_totals)
    todo = [pid for pid in partner_ids if pid not in billed]
    in_db = await bill_sql.bill_chunk(uow, month, todo, lists)
    rest = [pid for pid in todo if pid not in in_db]
    return len(in_db) + await bill_partners(uow, month, rest, plan_cache, billed, month_totals)


async def bill_partner(
    uow: UnitOfWork, month: str, partner_id: str, plan_cache: PlanCache | None = None
) -> int:
    """Make the partner's statement of the month (draft), its lines and its true-up and adjustment
    entries. Returns 1, or 0 when it exists already or there is nothing to state."""
    session = uow.session
    exists = await session.scalar(
        select(Statement.id).where(Statement.partner_id == partner_id, Statement.month == month)
    )
    if exists is not None:
        return 0
    partner = await partners.find_partner_ref(uow, partner_id)
    if partner is None:
        return 0
    rollups = await settlement.month_rollups(session, partner_id, month)
    carried = (await session.scalars(_carried_query([partner_id], month))).all()
    if not rollups and not carried:
        return 0
    plans, codes = await _plans(uow, [r.product_id for r in rollups], plan_cache)
    lines = rules.rerate(_usage_of_rollups(rollups), plans)
    month_usage = (
        sum(r.calls for r in rollups),
        sum(r.quantity for r in rollups),
        sum((r.amount for r in rollups), ZERO),
    )
    values, fig = _statement_values(uow, month, partner, month_usage, lines, carried)
    stmt = Statement(**values)
    session.add(stmt)
    await session.flush()  # the unique (partner, month) answers here, before any money moves
    session.add_all([StatementLine(**ln) for ln in _statement_lines(stmt.id, lines, codes, carried, fig)])
    for adj in carried:
        adj.applied_statement_id = stmt.id
    await session.flush()
    await _book(uow, stmt, partner, fig)
    uow.audit("statement.created", ("statement", stmt.id), partner_id=partner_id, after=snapshot(stmt))
    return 1


async def _book(uow: UnitOfWork, stmt: Statement, partner: PartnerRef, fig: rules.Figures) -> None:
    """The statement's money movements, one balanced entry each (R-BILL-10)."""
    if not fig.true_up and not fig.adjustments:
        return
    session = uow.session
    await ledger.ensure_platform_accounts(session, uow.now)
    await ledger.ensure_partner_accounts(session, partner.id, uow.now)
    # R-TIER-03: a held partner's credits wait in settlement:held until the hold lifts (billing/holds.py)
    credits = fig.true_up + max(-fig.adjustments, ZERO)
    hold = await holds.hold_for_booking(uow, partner.id) if credits else None
    if hold is not None:
        await ledger.ensure_accounts(session, partner.id, [AccountType.SETTLEMENT_HELD], uow.now)
    refs = await ledger.account_refs(session, {PLATFORM, partner.id})
    revenue = refs[(PLATFORM, AccountType.REVENUE)]
    receivable = refs[(partner.id, AccountType.RECEIVABLE)]
    credit_to = (
        refs[(partner.id, AccountType.SETTLEMENT_HELD)]
        if hold is not None
        else refs[(partner.id, AccountType.PREPAID_AVAILABLE)]
        if stmt.billing_mode == BillingMode.PREPAID.value
        else receivable
    )
    if fig.true_up:
        entry = await ledger.post(
            session,
            kind=EntryKind.ADJUSTMENT,
            legs=sorted(
                [ledger.debit(revenue, fig.true_up), ledger.credit(credit_to, fig.true_up)],
                key=lambda leg: leg.account.id,
            ),
            now=uow.now,
            ref=(TRUE_UP_REF, stmt.id),
            memo=f"true-up {stmt.month}: provisional {fig.provisional} - exact {fig.exact} (R-CHARGE-06)",
        )
        stmt.true_up_entry_id = entry.id
    if fig.adjustments:
        amount = fig.adjustments
        legs = (
            [ledger.debit(revenue, -amount), ledger.credit(credit_to, -amount)]
            if amount < 0
            else [ledger.debit(receivable, amount), ledger.credit(revenue, amount)]
        )
        entry = await ledger.post(
            session,
            kind=EntryKind.ADJUSTMENT,
            legs=sorted(legs, key=lambda leg: leg.account.id),
            now=uow.now,
            ref=(ADJUSTMENT_REF, stmt.id),
            memo=f"carried dispute adjustment on the {stmt.month} statement (R-BILL-06)",
        )
        stmt.adjustment_entry_id = entry.id
    await session.flush()
    if hold is not None:
        await holds.record_held(uow, stmt, hold, credits)
    uow.publish(BALANCE_CHANGED, partner.id)


# ---- issuing, the late alert, confirmation ----------------------------------------------------------


def _issue_text(stmt: Statement, deadline: datetime, held: bool = False) -> tuple[str, str]:
    local = deadline.astimezone(SHANGHAI)
    due = f"{local:%Y-%m-%d %H:%M}"
    subject = f"{stmt.month} 月结算单已出 / Statement for {stmt.month}: {fmt_fen(stmt.total)} CNY"
    body = (
        f"您 {stmt.month} 的结算单已出具，合计 ¥{fmt_fen(stmt.total)}"
        + (
            f"，其中多收的 ¥{stmt.true_up} 因结算暂停暂存，待暂停解除后退回 (R-TIER-03)"
            if stmt.true_up and held
            else f"，其中多收的 ¥{stmt.true_up} 已退回余额"
            if stmt.true_up and stmt.billing_mode == "prepaid"
            else ""
        )
        + f"。请于 {due}（北京时间）前确认或提出异议，逾期视为确认。\n"
        f"Your statement for {stmt.month} is issued: total CNY {fmt_fen(stmt.total)}. Please confirm or "
        f"dispute it before {due} (Asia/Shanghai); after that it is deemed confirmed. Statement {stmt.id}."
    )
    return subject, body


async def issue_statements(uow: UnitOfWork, through_month: str) -> int:
    """Issue every draft of `through_month` or earlier (R-BILL-03) and notify each partner. Returns the
    number issued."""
    access.require_staff(uow.actor, *STATEMENT_ROLES)
    drafts = (
        await uow.session.scalars(
            select(Statement)
            .where(Statement.state == StatementState.DRAFT, Statement.month <= through_month)
            .order_by(Statement.month, Statement.partner_id)
            .with_for_update()
        )
    ).all()
    held = await holds.held_statements(uow, [s.id for s in drafts])
    for stmt in drafts:
        before = snapshot(stmt)
        stmt.state = StatementState.ISSUED
        stmt.issued_at = uow.now
        stmt.confirm_by = rules.confirm_deadline(stmt.month, uow.settings.statement_confirm_day)
        subject, body = _issue_text(stmt, stmt.confirm_by, stmt.id in held)
        await notify(
            uow,
            recipient=("partner", stmt.partner_id),
            kind="statement-issued",
            subject=subject,
            body=body,
            dedup_key=f"statement-issued:{stmt.id}",
        )
        uow.audit(
            "statement.issued",
            ("statement", stmt.id),
            partner_id=stmt.partner_id,
            before=before,
            after=snapshot(stmt) | {"confirm_by": stmt.confirm_by},
        )
    await uow.session.flush()
    return len(drafts)


async def late_statements(uow: UnitOfWork, month: str) -> tuple[int, bool]:
    """(drafts of `month` or earlier, whether the bill run of `month` has completed)."""
    drafts = await uow.session.scalar(
        select(func.count())
        .select_from(Statement)
        .where(Statement.state == StatementState.DRAFT, Statement.month <= month)
    )
    run = await uow.session.get(BillRun, month)
    return int(drafts or 0), run is not None and run.state == BillRunState.COMPLETED


async def alert_late(uow: UnitOfWork, month: str) -> int:
    """R-BILL-03: statements of `month` not issued by the late-alert day (the 9th): every active billing
    operator is alerted once. Returns the number of operators alerted."""
    drafts, billed = await late_statements(uow, month)
    if not drafts and billed:
        return 0
    what = []
    if not billed:
        what.append(f"{month} 的出账尚未完成 / the bill run of {month} has not completed")
    if drafts:
        what.append(f"{drafts} 份结算单仍为草稿 / {drafts} statement(s) still in draft")
    deadline = rules.issue_deadline(month, uow.settings.statement_issue_by_day).astimezone(SHANGHAI)
    body = (
        "；".join(what)
        + f"。结算单须在 {deadline:%Y-%m-%d %H:%M} 前出具 (R-BILL-03) / statements must be issued before "
        f"{deadline:%Y-%m-%d %H:%M} Asia/Shanghai."
    )
    sent = 0
    for op in await partners.active_operators(uow):
        if not ({"admin", "billing_clerk"} & set(op.roles)):
            continue
        n = await notify(
            uow,
            recipient=("operator", op.id),
            kind="statement-late",
            subject=f"{month} 结算单未按时出具 / statements of {month} not issued",
            body=body,
            dedup_key=f"statement-late:{month}:{op.id}",
        )
        sent += n is not None
    if sent:
        uow.audit("statement.late_alert", ("bill_run", month), after={"drafts": drafts, "billed": billed})
    return sent


async def statement_for_update(uow: UnitOfWork, statement_id: str) -> Statement:
    stmt = await uow.session.scalar(select(Statement).where(Statement.id == statement_id).with_for_update())
    if stmt is None or (stmt.state == StatementState.DRAFT and not access.is_staff(uow.actor)):
        raise NotFound(f"statement {statement_id} not found")
    access.check_partner_visible(uow.actor, stmt.partner_id)
    return stmt


def check_answerable(uow: UnitOfWork, stmt: Statement, verb: str) -> None:
    """R-BILL-04/05: only an issued statement, and only until the end of the 15th."""
    if uow.actor.is_operator:
        access.require_staff(uow.actor, *STATEMENT_ROLES)
    if stmt.state != StatementState.ISSUED:
        raise Conflict(
            f"statement {stmt.id} is {stmt.state.value}: it cannot be {verb}", code="STATEMENT_STATE"
        )
    if stmt.confirm_by is not None and uow.now >= stmt.confirm_by:
        raise RuleViolation(
            f"the window to confirm or dispute the {stmt.month} statement closed at "
            f"{stmt.confirm_by.astimezone(SHANGHAI):%Y-%m-%d %H:%M} Asia/Shanghai (R-BILL-04)",
            code="CONFIRMATION_CLOSED",
        )


async def confirm_statement(uow: UnitOfWork, statement_id: str) -> Statement:
    """R-BILL-04: the partner confirms its issued statement."""
    stmt = await statement_for_update(uow, statement_id)
    check_answerable(uow, stmt, "confirmed")
    before = snapshot(stmt)
    stmt.state = StatementState.CONFIRMED
    stmt.confirmation = Confirmation.PARTNER
    stmt.confirmed_at = uow.now
    stmt.confirmed_by = uow.actor.id
    await uow.session.flush()
    uow.audit(
        "statement.confirmed",
        ("statement", stmt.id),
        partner_id=stmt.partner_id,
        before=before,
        after=snapshot(stmt),
    )
    await dues.open_due(uow, stmt)  # postpaid: due now (R-BILL-07)
    await invoices.issue_for_statement(uow, stmt)  # postpaid: its invoice, now that the total is final
    return stmt


async def deem_and_settle(uow: UnitOfWork) -> tuple[int, int]:
    """R-BILL-04: every issued statement whose window has closed is deemed confirmed (audited as
    "deemed"); then every prepaid statement confirmed or disputed whose window has closed is settled.
    Returns (deemed, settled)."""
    now = uow.now
    open_ = (
        await uow.session.scalars(
            select(Statement)
            .where(Statement.state == StatementState.ISSUED, Statement.confirm_by <= now)
            .order_by(Statement.month, Statement.partner_id)
            .with_for_update()
        )
    ).all()
    for stmt in open_:
        before = snapshot(stmt)
        stmt.state = StatementState.CONFIRMED
        stmt.confirmation = Confirmation.DEEMED
        stmt.confirmed_at = now
        stmt.confirmed_by = "system"
        uow.audit(
            "statement.deemed_confirmed",
            ("statement", stmt.id),
            partner_id=stmt.partner_id,
            before=before,
            after=snapshot(stmt),
            note="neither confirmed nor disputed by the deadline: deemed confirmed (R-BILL-04)",
        )
        await invoices.issue_for_statement(uow, stmt)
    # A disputed postpaid statement stands as issued (the dispute was decided at once, R-BILL-06): its
    # invoice once the window has closed.
    for stmt in (
        await uow.session.scalars(
            select(Statement)
            .where(
                Statement.state == StatementState.DISPUTED,
                Statement.billing_mode == BillingMode.POSTPAID.value,
                Statement.confirm_by <= now,
                Statement.id.not_in(select(Invoice.statement_id).where(Invoice.statement_id.is_not(None))),
            )
            .order_by(Statement.month, Statement.partner_id)
        )
    ).all():
        await invoices.issue_for_statement(uow, stmt)
    settle = (
        await uow.session.scalars(
            select(Statement)
            .where(
                Statement.state.in_((StatementState.CONFIRMED, StatementState.DISPUTED)),
                Statement.billing_mode == BillingMode.PREPAID.value,
                Statement.confirm_by <= now,
            )
            .order_by(Statement.month, Statement.partner_id)
            .with_for_update()
        )
    ).all()
    for stmt in settle:
        before = snapshot(stmt)
        stmt.state = StatementState.SETTLED
        stmt.settled_at = now
        uow.audit(
            "statement.settled",
            ("statement", stmt.id),
            partner_id=stmt.partner_id,
            before=before,
            after=snapshot(stmt),
            note="prepaid: charged in real time and trued up at the bill run",
        )
    # Postpaid statements confirmed, deemed confirmed or disputed are due now (R-BILL-07).
    await dues.ensure_dues(uow, month_key(now))
    await uow.session.flush()
    return len(open_), len(settle)


# ---- reads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementDetail:
    statement: Statement
    lines: list[StatementLine]
    dispute: Dispute | None


async def list_statements(
    uow: UnitOfWork,
    *,
    month: str | None = None,
    state: StatementState | None = None,
    partner_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Statement], int]:
    """A partner sees its own statements (issued or later); operators every partner's, drafts too."""
    offset, limit = access.page(offset, limit)
    partner_id = access.scope_partner(uow.actor, partner_id)
    stmt = select(Statement)
    if month is not None:
        stmt = stmt.where(Statement.month == parse_month(month))
    if state is not None:
        stmt = stmt.where(Statement.state == state)
    if partner_id is not None:
        stmt = stmt.where(Statement.partner_id == partner_id)
    if not access.is_staff(uow.actor):
        stmt = stmt.where(Statement.state != StatementState.DRAFT)
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await uow.session.scalars(
            stmt.order_by(Statement.month.desc(), Statement.partner_id, Statement.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return list(rows), int(total)


async def get_statement(uow: UnitOfWork, statement_id: str) -> Statement:
    stmt = await uow.session.get(Statement, statement_id)
    hidden = stmt is not None and (
        not access.is_staff(uow.actor)
        and (stmt.partner_id != uow.actor.partner_id or stmt.state == StatementState.DRAFT)
    )
    if stmt is None or hidden:
        raise NotFound(f"statement {statement_id} not found")
    return stmt


async def statement_detail(uow: UnitOfWork, statement_id: str) -> StatementDetail:
    stmt = await get_statement(uow, statement_id)
    lines = (
        await uow.session.scalars(
            select(StatementLine).where(StatementLine.statement_id == stmt.id).order_by(StatementLine.seq)
        )
    ).all()
    dispute = await uow.session.scalar(select(Dispute).where(Dispute.statement_id == stmt.id))
    return StatementDetail(stmt, list(lines), dispute)


async def bill_run_of(uow: UnitOfWork, month: str) -> BillRun | None:
    return await uow.session.get(BillRun, parse_month(month))


def current_month(uow: UnitOfWork) -> str:
    return month_key(uow.now)
