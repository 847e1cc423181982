"""The CDR writer's PostgreSQL path: a whole batch in ONE statement on the raw asyncpg connection, one
round trip, prepared once per connection (asyncpg's statement cache) — no SQLAlchemy, no ORM, no
explicit BEGIN/COMMIT (a single statement is its own transaction, so it is all or nothing).

The statement's data-modifying common table expressions insert the CDRs, their messages (`unnest`
arrays; columns named, so the table's key shape does not matter), answer the claimed keys, upsert
the daily rollups, consume the grants, and post the CHARGE entry set-wise (ledger/setwise.py). The
final SELECT pulls them in its column order (each scalar subquery runs when its column is first
evaluated): rows, claims, rollups, then the account rows (in id order), then the grant rows — the
order the grant manager takes them too (accounts, then its grant: charging/grants.py); grants before
accounts here deadlocked with a grant release (found by tests/gateway on PostgreSQL).

A grant that is no longer active (reaped while a worker stalled) or a prepaid:available balance
taken below zero fails the statement on purpose (ledger/setwise.py `fail_if`): nothing is written,
and the writer retries as the SQLAlchemy path does (charging/cdr_writer.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import repeat
from typing import Any

from openability.charging.types import CdrRecord, ClaimState, GrantState
from openability.kernel.db import json_dumps
from openability.kernel.money import to_units
from openability.ledger.setwise import SqlParams, entry_insert_sql, fail_if, post_ctes
from openability.ledger.types import NORMAL_SIDE, AccountRef, AccountType, EntryKind

GRANT_CLOSED_MARK = "openability: grant closed"
PREPAID = "prepaid"

_USAGE = (
    ("id", "text"),
    ("partner_id", "text"),
    ("product_id", "text"),
    ("capability", "text"),
    ("operation", "text"),
    ("client_id", "text"),
    ("request_key", "text"),
    ("request_hash", "text"),
    ("quantity", "int8"),
    ("unit", "text"),
    ("amount", "int8"),
    ("billing_mode", "text"),
    ("price_plan_id", "text"),
    ("band", "text"),
    ("scope", "text"),
    ("month", "text"),
    ("grant_id", "text"),
    ("occurred_at", "timestamptz"),
    ("recipients", "json"),
    ("response", "json"),
)
_MESSAGES = (
    ("id", "text"),
    ("usage_record_id", "text"),
    ("partner_id", "text"),
    ("capability", "text"),
    ("recipient", "text"),
    ("parts", "int4"),
    ("network_ids", "json"),
    ("created_at", "timestamptz"),
)
_ROLLUP = (
    ("partner_id", "text"),
    ("product_id", "text"),
    ("day", "date"),
    ("price_plan_id", "text"),
    ("band", "text"),
    ("scope", "text"),
    ("month", "text"),
    ("calls", "int8"),
    ("quantity", "int8"),
    ("amount", "int8"),
)
ROLLUP_KEY = ("partner_id", "product_id", "day", "price_plan_id", "band", "scope")


def _unnest(p: SqlParams, prefix: str, cols: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """(column list, `unnest(…) AS u(…)`) of one table's arrays, parameters named prefix.column."""
    names = ", ".join(c for c, _ in cols)
    arrays = ", ".join(p(f"{prefix}.{c}", f"{t}[]") for c, t in cols)
    return names, f"unnest({arrays}) AS u({names})"


def _statement(with_rows: bool) -> tuple[str, SqlParams]:
    """The batch's statement; `with_rows`: the CDR and message rows too (else they were COPYed first)."""
    p = SqlParams()
    post = post_ctes(p, kind=EntryKind.CHARGE.value, ref_type="cdr_batch", entry_inserted=not with_rows)
    entry_id = "$1::text"  # post_ctes' first parameter
    rows, counts = "", ""
    if with_rows:
        usage_cols, usage_src = _unnest(p, "usage", _USAGE)
        msg_cols, msg_src = _unnest(p, "msg", _MESSAGES)
        rows = f""", cdrs AS (
  INSERT INTO usage_records ({usage_cols}, journal_entry_id)
  SELECT u.*, {entry_id} FROM {usage_src} RETURNING 1
), msgs AS (
  INSERT INTO messages ({msg_cols}) SELECT u.* FROM {msg_src} RETURNING 1
)"""
        counts = "(SELECT count(*) FROM cdrs) AS cdrs, (SELECT count(*) FROM msgs) AS msgs, "
    roll_cols, roll_src = _unnest(p, "roll", _ROLLUP)
    claim_p, claim_k, claim_r = p("claim.p", "text[]"), p("claim.k", "text[]"), p("claim.r", "text[]")
    grant_ids, grant_x = p("grant.id", "text[]"), p("grant.x", "int8[]")
    now = "$2::timestamptz"
    closed = fail_if(
        GRANT_CLOSED_MARK,
        "u.id",
        f"FROM unnest({grant_ids}) AS u(id) WHERE u.id NOT IN (SELECT id FROM consumed)",
    )
    sql = f"""WITH {post.ctes}{rows}, claims AS (
  UPDATE request_claims c SET state = '{ClaimState.ANSWERED.value}', usage_record_id = u.r, updated_at = {now}
  FROM unnest({claim_p}, {claim_k}, {claim_r}) AS u(p, k, r)
  WHERE c.partner_id = u.p AND c.request_key = u.k RETURNING 1
), roll AS (
  INSERT INTO usage_daily ({roll_cols}) SELECT u.* FROM {roll_src}
  ON CONFLICT ({", ".join(ROLLUP_KEY)}) DO UPDATE SET calls = usage_daily.calls + excluded.calls,
    quantity = usage_daily.quantity + excluded.quantity, amount = usage_daily.amount + excluded.amount
  RETURNING 1
), consumed AS (
  UPDATE grants g SET consumed = g.consumed + u.x FROM unnest({grant_ids}, {grant_x}) AS u(id, x)
  WHERE g.id = u.id AND g.state = '{GrantState.ACTIVE.value}' RETURNING g.id
)
SELECT {counts}(SELECT count(*) FROM claims) AS claims, (SELECT count(*) FROM roll) AS rollups,
  {post.lines_count} AS lines, {post.check} AS negative, {closed} AS closed,
  {post.revenue_account} AS revenue_account"""
    assert p.names[0] == "entry_id" and p.names[1] == "now"
    return sql, p


# Small batches (what the writer sees under HTTP load, ~30): everything in one statement, one round
# trip. Large ones: the CDR and message rows by COPY first (cheaper per row for PostgreSQL than an
# INSERT from arrays, measured in docs/benchmarks.md "CDR writer"), then the rest, in one transaction.
COPY_MIN_RECORDS = 100
SQL, PARAMS = _statement(with_rows=True)
# COPY path: the entry first (the COPYed rows reference it), then the rows, then the rest.
SQL_ENTRY = entry_insert_sql(kind=EntryKind.CHARGE.value, ref_type="cdr_batch")
SQL_AFTER_COPY, PARAMS_AFTER_COPY = _statement(with_rows=False)
USAGE_COLUMNS = [c for c, _ in _USAGE] + ["journal_entry_id"]
MESSAGE_COLUMNS = [c for c, _ in _MESSAGES]


@dataclass
class PgBatch:
    """One batch's statement arguments, built from the typed records."""

    values: dict[str, Any]
    records: int

    @property
    def copy(self) -> bool:
        return self.records >= COPY_MIN_RECORDS

    def args(self) -> list[Any]:
        return (PARAMS_AFTER_COPY if self.copy else PARAMS).values(self.values)

    def entry_args(self) -> list[Any]:
        v = self.values
        return [v["entry_id"], v["now"], v["ref_id"], v["memo"]]

    def usage_rows(self) -> list[tuple[Any, ...]]:
        v = self.values
        return list(zip(*(v[f"usage.{c}"] for c, _ in _USAGE), repeat(v["entry_id"]), strict=False))

    def message_rows(self) -> list[tuple[Any, ...]]:
        v = self.values
        return list(zip(*(v[f"msg.{c}"] for c, _ in _MESSAGES), strict=True))


def batch_args(
    records: list[CdrRecord],
    closed: set[str],
    accounts: Mapping[tuple[str, AccountType], AccountRef],
    *,
    entry_id: str,
    ref_id: str,
    now: Any,
    revenue_fallback: str,
) -> PgBatch:
    """The arrays of one batch. `accounts`: the accounts by (owner, type) of every partner in it."""
    cols: dict[str, list[Any]] = {f"usage.{c}": [] for c, _ in _USAGE}
    cols |= {f"msg.{c}": [] for c, _ in _MESSAGES}
    u_id, u_partner, u_product = cols["usage.id"], cols["usage.partner_id"], cols["usage.product_id"]
    debits: dict[tuple[str, AccountType], Decimal] = defaultdict(Decimal)
    consumed: dict[str, Decimal] = defaultdict(Decimal)
    rollup: dict[tuple[Any, ...], list[Any]] = {}
    claims: list[tuple[str, str, str]] = []
    total = Decimal(0)
    for r in records:
        amount = r.amount
        grant_id = r.grant_id
        if r.billing_mode == PREPAID:
            if grant_id is None or grant_id in closed:
                grant_id = None
                debits[(r.partner_id, AccountType.PREPAID_AVAILABLE)] += amount
            else:
                debits[(r.partner_id, AccountType.PREPAID_RESERVED)] += amount
                consumed[grant_id] += amount
        else:
            debits[(r.partner_id, AccountType.RECEIVABLE)] += amount
        total += amount
        units = to_units(amount)
        u_id.append(r.id)
        u_partner.append(r.partner_id)
        u_product.append(r.product_id)
        cols["usage.capability"].append(r.capability)
        cols["usage.operation"].append(r.operation)
        cols["usage.client_id"].append(r.client_id)
        cols["usage.request_key"].append(r.request_key)
        cols["usage.request_hash"].append(r.request_hash)
        cols["usage.quantity"].append(r.quantity)
        cols["usage.unit"].append(r.unit)
        cols["usage.amount"].append(units)
        cols["usage.billing_mode"].append(r.billing_mode)
        cols["usage.price_plan_id"].append(r.price_plan_id)
        cols["usage.band"].append(r.band)
        cols["usage.scope"].append(r.scope)
        cols["usage.month"].append(r.month)
        cols["usage.grant_id"].append(grant_id)
        cols["usage.occurred_at"].append(r.occurred_at)
        cols["usage.recipients"].append(json_dumps(r.recipients))
        cols["usage.response"].append(json_dumps(r.response))
        if r.claimed:
            claims.append((r.partner_id, r.request_key, r.id))
        for m in r.messages:
            cols["msg.id"].append(m.id)
            cols["msg.usage_record_id"].append(r.id)
            cols["msg.partner_id"].append(r.partner_id)
            cols["msg.capability"].append(r.capability)
            cols["msg.recipient"].append(m.recipient)
            cols["msg.parts"].append(m.parts)
            cols["msg.network_ids"].append(json_dumps(m.network_ids))
            cols["msg.created_at"].append(r.occurred_at)
        key = (r.partner_id, r.product_id, r.day, r.price_plan_id, r.band, r.scope)
        agg = rollup.get(key)
        if agg is None:
            agg = rollup[key] = [r.month, 0, 0, 0]
        agg[1] += 1
        agg[2] += r.quantity
        agg[3] += units
    # Rollup rows and grants in key order: two batches upserting the same rows take them in one order.
    for c, _ in _ROLLUP:
        cols[f"roll.{c}"] = []
    for key, (month, calls, quantity, amount) in sorted(rollup.items()):
        for (c, _), v in zip(_ROLLUP, (*key, month, calls, quantity, amount), strict=True):
            cols[f"roll.{c}"].append(v)
    gids = sorted(consumed)
    legs = sorted(
        (accounts[k].id, to_units(v), to_units(v) * NORMAL_SIDE[k[1]]) for k, v in debits.items() if v
    )
    values: dict[str, Any] = {
        **cols,
        "entry_id": entry_id,
        "now": now,
        "ref_id": ref_id,
        "memo": f"{len(records)} CDR(s)",
        "revenue": to_units(total),
        "revenue_fallback": revenue_fallback,
        "leg_account": [leg[0] for leg in legs],
        "leg_amount": [leg[1] for leg in legs],
        "leg_delta": [leg[2] for leg in legs],
        "claim.p": [c[0] for c in claims],
        "claim.k": [c[1] for c in claims],
        "claim.r": [c[2] for c in claims],
        "grant.id": gids,
        "grant.x": [to_units(consumed[g]) for g in gids],
    }
    return PgBatch(values, len(records))
