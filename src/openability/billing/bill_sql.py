"""The bill run's statements made in the database (PostgreSQL with asyncpg; R-BILL-02, R-CHARGE-06).

`billing/statements.py` `bill_partners` makes a chunk's statements in Python: the month's usage read,
re-rated (`statement_rules.rerate`), the statements, their lines and their "statement.created" audit
rows built as rows and written. For the common partner this module does the same in one statement per
chunk, the rating done by PostgreSQL in exact integer money units (0.0001 CNY, the Money columns'
storage), from the monthly rollups and the month's price lists (worked out once per run in Python, by
the same `statement_rules` functions, and passed as arrays). A partner is made here only when its
statement moves no money and its re-rate needs no days:

* every product of its month at one price version, band and scope (`_needs_days` is false: the
  re-rate prices the month's volume from 0 on the product's one price list);
* every price list it used is known (the catalog has the version and its band/scope list) and every
  unit price has at most four decimals (the figures' texts then read as Python's Decimals do);
* no carried adjustment is waiting for it, and real time charged no more than the exact price (no
  true-up: no journal entry, no hold to look at).

Every other partner of the chunk is billed by `bill_partners` in the same transaction, as before, so
the two paths' results are equal (tests/billing/statements/test_bill_sql.py compares them on the same
data). The statement's figures, lines (order, seq, descriptions), note and audit row are those
`bill_partners` makes; only the generated ids differ."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from openability.billing import statement_rules as rules
from openability.billing.types import LineKind, StatementState
from openability.catalog.types import PlanVersion
from openability.kernel.db import json_dumps
from openability.kernel.ids import new_id
from openability.kernel.money import UNITS_PER_YUAN
from openability.kernel.uow import UnitOfWork
from openability.partners.types import BillingMode, PartnerKind

ROUNDING_WORDS = "四舍五入到分 / rounding to the fen (ROUND_HALF_UP)"


def undercharge_note(amount: str) -> str:
    """The statement's note when real time charged below the exact price (R-CHARGE-06)."""
    return (
        f"实时计费低于精确价 {amount}，不予补收 (R-CHARGE-06) / real-time charges were "
        f"{amount} below the exact price: not charged afterwards (R-CHARGE-06)"
    )


def tier_words(tier_from: int, tier_to: int | None) -> str:
    upper = "∞" if tier_to is None else str(tier_to)
    return f"阶梯 tier {tier_from}–{upper}"


def line_description(
    code: str, version: int, band: str, scope: str, tier_from: int, tier_to: int | None
) -> str:
    """A usage line's description."""
    return f"{code} v{version} {band}/{scope} {tier_words(tier_from, tier_to)}"


@dataclass
class PriceLists:
    """The month's price lists as the statement takes them, one row per (product, price version,
    scope, band, tier): parallel arrays, the statement's parameters."""

    product_id: list[str] = field(default_factory=list)
    plan_id: list[str] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    band: list[str] = field(default_factory=list)
    tier_from: list[int] = field(default_factory=list)
    tier_to: list[int | None] = field(default_factory=list)
    price: list[int] = field(default_factory=list)  # money units
    version: list[int] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    description: list[str] = field(default_factory=list)

    def add(
        self,
        product_id: str,
        code: str,
        plan: PlanVersion,
        scope: str,
        band: str,
        bounds: rules.Bounds,
    ) -> bool:
        """The list's tiers, when every unit price has at most four decimals (else the partners using
        it are billed in Python). Returns whether it was added."""
        if any(not isinstance(p, Decimal) or int(p.as_tuple().exponent) < -4 for _, _, p in bounds):
            return False
        for frm, upper, price in bounds:
            self.product_id.append(product_id)
            self.plan_id.append(plan.plan_id)
            self.scope.append(scope)
            self.band.append(band)
            self.tier_from.append(frm)
            self.tier_to.append(upper)
            self.price.append(int(price * UNITS_PER_YUAN))
            self.version.append(plan.version)
            self.code.append(code)
            self.description.append(line_description(code, plan.version, band, scope, frm, upper))
        return True


def price_lists(
    keys: Sequence[tuple[str, str, str, str]],
    plans: dict[str, PlanVersion],
    codes: dict[str, str],
    tables: rules.TierTables,
) -> PriceLists:
    """The price lists of the month's (product, price version, band, scope) keys (`month_keys`), as
    `statement_rules.rerate` finds them; a key without a list (an unknown version, band or scope) is
    left out, so its partners are billed in Python (which refuses it as before)."""
    out = PriceLists()
    for product_id, plan_id, band, scope in sorted(set(keys)):
        plan = plans.get(plan_id)
        if plan is None:
            continue
        try:
            bounds = rules.tier_bounds_of(plan, scope, band, tables)
        except rules.UnknownPriceVersion:
            continue
        out.add(product_id, codes.get(product_id, product_id), plan, scope, band, bounds)
    return out


MONTH_KEYS_SQL = "SELECT DISTINCT product_id, price_plan_id, band, scope FROM usage_monthly WHERE month = $1"
MONTH_PARTNERS_SQL = "SELECT DISTINCT partner_id FROM usage_monthly WHERE month = $1"


async def _apg(uow: UnitOfWork) -> Any:
    conn = await uow.session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def in_sql(uow: UnitOfWork) -> bool:
    """Whether the bill run makes its statements here (PostgreSQL through asyncpg)."""
    dialect = uow.session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.driver == "asyncpg"


async def month_partners(uow: UnitOfWork, month: str) -> list[str]:
    """The partners with usage in the month (its monthly rollups)."""
    return [r[0] for r in await (await _apg(uow)).fetch(MONTH_PARTNERS_SQL, month)]


async def month_keys(uow: UnitOfWork, month: str) -> list[tuple[str, str, str, str]]:
    """The month's (product, price version, band, scope) keys."""
    return [(r[0], r[1], r[2], r[3]) for r in await (await _apg(uow)).fetch(MONTH_KEYS_SQL, month)]


# One statement per chunk. $1 month, $2 the chunk's partner ids, $3/$4 a statement and an audit id for
# each, $5..$14 the price lists (PriceLists), $15 now, $16 actor type, $17 actor id, $18 correlator,
# $19 the audit row's `after` (a format() template), $20 the undercharge note (a format() template).
BILL_SQL = f"""
WITH
ids AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) AS ids(partner_id, statement_id, audit_id)
),
g AS (
  SELECT m.partner_id, m.product_id, m.price_plan_id, m.band, m.scope,
         sum(m.calls) AS calls, sum(m.quantity) AS quantity, sum(m.amount) AS amount
  FROM usage_monthly m JOIN ids ON ids.partner_id = m.partner_id
  WHERE m.month = $1
  GROUP BY m.partner_id, m.product_id, m.price_plan_id, m.band, m.scope
),
t AS (
  SELECT * FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[],
                       $11::bigint[], $12::int[], $13::text[], $14::text[])
    AS t(product_id, plan_id, scope, band, tier_from, tier_to, price, version, code, description)
),
k AS (SELECT DISTINCT product_id, plan_id, scope, band FROM t),
ok AS (
  SELECT g.partner_id, sum(g.calls) AS calls, sum(g.quantity) AS quantity, sum(g.amount) AS provisional
  FROM g LEFT JOIN k
    ON k.product_id = g.product_id AND k.plan_id = g.price_plan_id AND k.scope = g.scope AND k.band = g.band
  GROUP BY g.partner_id
  HAVING count(*) = count(DISTINCT g.product_id) AND count(k.plan_id) = count(*)
     AND NOT EXISTS (
       SELECT 1 FROM carried_adjustments c
       WHERE c.partner_id = g.partner_id AND c.applied_statement_id IS NULL AND c.from_month < $1)
),
l AS (
  SELECT g.partner_id, g.product_id, g.price_plan_id, g.band, g.scope, t.tier_from, t.tier_to, t.price,
         t.version, t.code, t.description,
         (CASE WHEN t.tier_to IS NULL OR g.quantity < t.tier_to THEN g.quantity ELSE t.tier_to END)
           - t.tier_from AS units
  FROM g JOIN ok ON ok.partner_id = g.partner_id
  JOIN t ON t.product_id = g.product_id AND t.plan_id = g.price_plan_id AND t.scope = g.scope
        AND t.band = g.band
  WHERE t.tier_from < g.quantity
),
f AS (
  SELECT ok.partner_id, ok.calls, ok.quantity, ok.provisional, count(l.units) AS lines,
         coalesce(sum(l.price * l.units), 0)::bigint AS exact
  FROM ok LEFT JOIN l ON l.partner_id = ok.partner_id
  GROUP BY ok.partner_id, ok.calls, ok.quantity, ok.provisional
),
r AS (
  SELECT f.*, ids.statement_id, ids.audit_id,
         CASE WHEN f.exact >= 0 THEN (f.exact + 50) / 100 * 100 ELSE -((50 - f.exact) / 100 * 100) END AS total,
         CASE WHEN p.kind = '{PartnerKind.AP.value}' THEN '{BillingMode.PREPAID.value}'
              ELSE p.billing_mode END AS billing_mode
  FROM f JOIN ids ON ids.partner_id = f.partner_id JOIN partners p ON p.id = f.partner_id
  WHERE f.provisional <= f.exact
),
s AS (
  INSERT INTO statements (id, partner_id, month, state, billing_mode, calls, quantity, provisional, exact,
                          adjustments, rounding, total, true_up, undercharge, note, created_at)
  SELECT r.statement_id, r.partner_id, $1, '{StatementState.DRAFT.value}', r.billing_mode, r.calls,
         r.quantity, r.provisional, r.exact, 0, r.total - r.exact, r.total, 0, r.exact - r.provisional,
         CASE WHEN r.exact > r.provisional
              THEN format($20::text, ((r.exact - r.provisional)::numeric / 10000)::numeric(38, 4)::text)
              ELSE '' END,
         $15
  FROM r
  ORDER BY r.partner_id
  RETURNING id
),
ln AS (
  INSERT INTO statement_lines (statement_id, seq, kind, product_id, product_code, price_plan_id,
                               plan_version, band, scope, tier_from, tier_to, units, unit_price, amount,
                               description)
  SELECT r.statement_id,
         row_number() OVER (PARTITION BY l.partner_id ORDER BY l.product_id COLLATE "C", l.tier_from),
         '{LineKind.USAGE.value}', l.product_id, l.code, l.price_plan_id, l.version, l.band, l.scope,
         l.tier_from, l.tier_to, l.units, l.price, l.price * l.units, l.description
  FROM l JOIN r ON r.partner_id = l.partner_id
  UNION ALL
  SELECT r.statement_id, r.lines + 1, '{LineKind.ROUNDING.value}', NULL, '', NULL, NULL, '', '', NULL,
         NULL, 0, NULL, r.total - r.exact, '{ROUNDING_WORDS}'
  FROM r
),
a AS (
  INSERT INTO audit_log (id, at, actor_type, actor_id, action, entity_type, entity_id, partner_id,
                         before, after, correlator, note)
  SELECT r.audit_id, $15, $16, $17, 'statement.created', 'statement', r.statement_id, r.partner_id,
         'null'::json,
         format($19::text,
                (r.total::numeric / 10000)::numeric(38, 2)::text,
                (r.exact::numeric / 10000)::numeric(38, 4)::text,
                (r.provisional::numeric / 10000)::numeric(38, 4)::text,
                '0.0000')::json,
         $18, NULL
  FROM r
  ORDER BY r.partner_id
)
SELECT partner_id FROM r
"""


def _after_template(month: str) -> str:
    """The "statement.created" row's `after` as `bill_partners` writes it (`_masked_snapshot`, the JSON
    serializer), with format() places for the figures: %1$s total, %2$s exact, %3$s provisional,
    %4$s true-up."""
    return json_dumps(
        {
            "state": StatementState.DRAFT.value,
            "month": month,
            "total": "%1$s",
            "exact": "%2$s",
            "provisional": "%3$s",
            "true_up": "%4$s",
            "confirmation": None,
        }
    )


async def bill_chunk(uow: UnitOfWork, month: str, partner_ids: Sequence[str], lists: PriceLists) -> set[str]:
    """The statements, lines and "statement.created" audit rows of the chunk's partners this module
    makes (module docstring), one statement; returns those partners. A unique key's refusal (another
    run billed one of them first) is an IntegrityError, and the transaction is then to be rolled
    back."""
    if not partner_ids:
        return set()
    ids = list(partner_ids)
    now: datetime = uow.now
    # The planner cannot know the arrays' lengths nor what the HAVING keeps (it takes one row of each):
    # it joined the chunk's lines to its statements in nested loops, ~0.5 s a chunk of 500. Hash joins
    # only, for this statement. Through the session: its transaction begins here if it has not (the
    # driver's connection alone would run the statement outside it, in a transaction of its own).
    await uow.session.execute(text("SET LOCAL enable_nestloop = off"))
    apg = await _apg(uow)
    try:
        rows = await apg.fetch(
            BILL_SQL,
            month,
            ids,
            [new_id("stm") for _ in ids],
            [new_id("aud") for _ in ids],
            lists.product_id,
            lists.plan_id,
            lists.scope,
            lists.band,
            lists.tier_from,
            lists.tier_to,
            lists.price,
            lists.version,
            lists.code,
            lists.description,
            now,
            uow.actor.type,
            uow.actor.id,
            uow.correlator,
            _after_template(month),
            undercharge_note("%1$s"),
        )
        await apg.execute("SET LOCAL enable_nestloop TO DEFAULT")
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == "23505":  # unique_violation
            raise IntegrityError("bill run chunk", None, exc) from exc
        raise
    return {r[0] for r in rows}
