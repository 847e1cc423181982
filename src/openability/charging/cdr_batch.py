"""What one batch of CDRs moves, computed once for both of the CDR writer's paths (SQLAlchemy on
SQLite, set-wise on PostgreSQL: charging/cdr_writer.py, charging/cdr_pg.py): a pure function of the
typed records, no database.

Per record: which account pays (a prepaid CDR on an open grant: the partner's prepaid:reserved account
of the grant's slot (CdrRecord.slot, ledger/types.py RESERVED_SLOTS) and the grant's consumption; a prepaid CDR without a grant, or on a grant found closed: prepaid:available; a
postpaid one: receivable) and which grant it records. Per batch: the debits per (partner, account
type, slot), the consumption per grant, the revenue total, the daily rollups (R-CHARGE-06: keyed by the
price version, band and scope in force, and by the grant's slot: two workers never upsert one row) and
the monthly ones (the same key minus the day) and the CDRs whose claim the batch answers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from openability.charging.types import CdrRecord
from openability.ledger.types import AccountKey, AccountType

PREPAID = "prepaid"
ZERO = Decimal(0)

# The daily rollup's key (charging/models.py UsageDaily): the price version, band and scope in force
# for each use, so the bill run re-rates exactly from the rollups (R-CHARGE-06); and the slot of the
# CDR's grant (0: postpaid or no grant), so two gateway workers' batches (each worker's grants on its
# own reserved slot) never upsert, and wait on, one row. Readers sum over the slots.
ROLLUP_KEY = ("partner_id", "product_id", "day", "price_plan_id", "band", "scope", "slot")
RollupKey = tuple[str, str, date, str, str, str, int]
# The monthly rollup's key (charging/models.py UsageMonthly): the daily key minus the day, plus the month.
MONTHLY_KEY = ("partner_id", "product_id", "month", "price_plan_id", "band", "scope", "slot")
MonthlyKey = tuple[str, str, str, str, str, str, int]


@dataclass(slots=True)
class Rollup:
    """One daily rollup row's increment."""

    month: str
    calls: int
    quantity: int
    amount: Decimal


@dataclass(slots=True)
class MonthlyRollup:
    """One monthly rollup row's increment."""

    first_day: date
    calls: int
    quantity: int
    amount: Decimal


@dataclass(slots=True)
class BatchTotals:
    debits: dict[AccountKey, Decimal]  # by (partner, account type, slot); zero ones included
    consumed: dict[str, Decimal]  # by open grant
    total: Decimal  # the revenue: every record's amount
    grant_ids: list[str | None]  # per record, in order: the grant it is recorded on (None: none)
    rollups: dict[RollupKey, Rollup]
    claimed: list[CdrRecord]  # the records whose key's claim the batch marks answered

    def sorted_rollups(self) -> list[tuple[RollupKey, Rollup]]:
        """In key order: two batches upserting the same rollup rows take them in one order."""
        return sorted(self.rollups.items(), key=lambda kv: kv[0])

    def monthly_rollups(self) -> list[tuple[MonthlyKey, MonthlyRollup]]:
        """The daily increments summed per monthly key (a batch may span midnight), in key order."""
        out: dict[MonthlyKey, MonthlyRollup] = {}
        for (pid, prod, day, plan, band, scope, slot), r in self.rollups.items():
            key = (pid, prod, r.month, plan, band, scope, slot)
            m = out.get(key)
            if m is None:
                out[key] = MonthlyRollup(day, r.calls, r.quantity, r.amount)
            else:
                m.first_day = min(m.first_day, day)
                m.calls += r.calls
                m.quantity += r.quantity
                m.amount += r.amount
        return sorted(out.items(), key=lambda kv: kv[0])


def batch_totals(records: Sequence[CdrRecord], closed: set[str]) -> BatchTotals:
    """The accounting of `records`; `closed`: grants found closed (their CDRs charge available)."""
    debits: dict[AccountKey, Decimal] = defaultdict(Decimal)
    consumed: dict[str, Decimal] = defaultdict(Decimal)
    rollups: dict[RollupKey, Rollup] = {}
    grant_ids: list[str | None] = []
    claimed: list[CdrRecord] = []
    total = ZERO
    for r in records:
        amount = r.amount
        grant_id = r.grant_id
        if r.billing_mode == PREPAID:
            if grant_id is None or grant_id in closed:
                grant_id = None
                debits[(r.partner_id, AccountType.PREPAID_AVAILABLE, 0)] += amount
            else:
                debits[(r.partner_id, AccountType.PREPAID_RESERVED, r.slot)] += amount
                consumed[grant_id] += amount
        else:
            debits[(r.partner_id, AccountType.RECEIVABLE, 0)] += amount
        grant_ids.append(grant_id)
        total += amount
        if r.claimed:
            claimed.append(r)
        slot = r.slot if r.billing_mode == PREPAID and r.grant_id is not None else 0
        key = (r.partner_id, r.product_id, r.day, r.price_plan_id, r.band, r.scope, slot)
        agg = rollups.get(key)
        if agg is None:
            rollups[key] = Rollup(r.month, 1, r.quantity, amount)
        else:
            agg.calls += 1
            agg.quantity += r.quantity
            agg.amount += amount
    return BatchTotals(dict(debits), dict(consumed), total, grant_ids, rollups, claimed)
