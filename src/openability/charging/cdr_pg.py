"""The CDR writer's PostgreSQL path: a whole batch in ONE statement on the raw asyncpg connection, one
round trip, prepared once per connection (asyncpg's statement cache) — no SQLAlchemy, no ORM, no
explicit BEGIN/COMMIT (a single statement is its own transaction, so it is all or nothing).

The statement's data-modifying common table expressions insert the CDRs, their messages (sent as
JSON: each table's plain columns as one jsonb array of arrays, each JSON column as one JSON array —
a few strings for the driver instead of an array per column; columns named, so the table's key shape
does not matter), answer the claimed keys (skipped when the batch answers none), upsert
the daily rollups and the monthly ones (the daily increments summed per month key in the statement:
one more CTE, no round trip; charging/models.py UsageMonthly), consume the grants, and post the CHARGE entry set-wise (ledger/setwise.py). The
final SELECT pulls them in its column order (each scalar subquery runs when its column is first
evaluated): rows, claims, daily then monthly rollups, then the account rows (in id order), then the grant rows — the
order the grant manager takes them too (accounts, then its grant: charging/grants.py); grants before
accounts here deadlocked with a grant release (found by tests/gateway on PostgreSQL).

A grant that is no longer active (reaped while a worker stalled) or a prepaid:available balance
taken below zero fails the statement on purpose (ledger/setwise.py `fail_if`): nothing is written,
and the writer retries as the SQLAlchemy path does (charging/cdr_writer.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from openability.charging.cdr_batch import MONTHLY_KEY, ROLLUP_KEY, batch_totals
from openability.charging.types import CdrRecord, ClaimState, GrantState
from openability.kernel.db import json_dumps
from openability.kernel.money import to_units
from openability.ledger.setwise import SqlParams, entry_insert_sql, fail_if, post_ctes
from openability.ledger.types import NORMAL_SIDE, AccountKey, AccountRef, EntryKind

GRANT_CLOSED_MARK = "openability: grant closed"

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
    ("slot", "int4"),
    ("month", "text"),
    ("calls", "int8"),
    ("quantity", "int8"),
    ("amount", "int8"),
)
_dumps = orjson.dumps
_JSON_OPTS = orjson.OPT_NON_STR_KEYS  # as kernel.db.json_dumps
# A row's plain values: a naive timestamp taken as UTC, as asyncpg's timestamptz encoder takes it.
_ROW_OPTS = orjson.OPT_NAIVE_UTC


def _unnest(p: SqlParams, prefix: str, cols: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """(column list, `unnest(…) AS u(…)`) of one table's arrays, parameters named prefix.column."""
    names = ", ".join(c for c, _ in cols)
    arrays = ", ".join(p(f"{prefix}.{c}", f"{t}[]") for c, t in cols)
    return names, f"unnest({arrays}) AS u({names})"


def _rows(p: SqlParams, prefix: str, cols: tuple[tuple[str, str], ...]) -> tuple[str, str, str]:
    """(column list, select list, source) of one table's rows sent as JSON: the plain columns of every
    row as ONE jsonb array of arrays (parameter prefix.rows; each value taken by position and cast),
    each `json` column as ONE JSON array of its values (parameter prefix.column; `json_array_elements`
    keeps each element's text, so a row stores what kernel.db.json_dumps makes), zipped by position
    (`ROWS FROM`). The driver sends a few strings instead of an array per column, each element
    encoded and checked on its own (`_rows_args`)."""
    names = ", ".join(c for c, _ in cols)
    sources = [f"jsonb_array_elements({p(f'{prefix}.rows', 'jsonb')})"]
    aliases = ["r"]
    exprs = []
    i = 0
    for c, t in cols:
        if t == "json":
            sources.append(f"json_array_elements({p(f'{prefix}.{c}', 'json')})")
            aliases.append(c)
            exprs.append(f"u.{c}")
        else:
            exprs.append(f"u.r->>{i}" if t == "text" else f"(u.r->>{i})::{t}")
            i += 1
    return names, ", ".join(exprs), f"ROWS FROM ({', '.join(sources)}) AS u({', '.join(aliases)})"


def _statement(with_rows: bool) -> tuple[str, SqlParams]:
    """The batch's statement; `with_rows`: the CDR and message rows too (else they were COPYed first)."""
    p = SqlParams()
    post = post_ctes(p, kind=EntryKind.CHARGE.value, ref_type="cdr_batch", entry_inserted=not with_rows)
    entry_id = "$1::text"  # post_ctes' first parameter
    rows, counts = "", ""
    if with_rows:
        usage_cols, usage_sel, usage_src = _rows(p, "usage", _USAGE)
        msg_cols, msg_sel, msg_src = _rows(p, "msg", _MESSAGES)
        rows = f""", cdrs AS (
  INSERT INTO usage_records ({usage_cols}, journal_entry_id)
  SELECT {usage_sel}, {entry_id} FROM {usage_src} RETURNING 1
), msgs AS (
  INSERT INTO messages ({msg_cols}) SELECT {msg_sel} FROM {msg_src} RETURNING 1
)"""
        counts = "(SELECT count(*) FROM cdrs) AS cdrs, (SELECT count(*) FROM msgs) AS msgs, "
    roll_cols, roll_src = _unnest(p, "roll", _ROLLUP)
    month_key = ", ".join(MONTHLY_KEY)
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
  WHERE cardinality({claim_p}) > 0 AND c.partner_id = u.p AND c.request_key = u.k RETURNING 1
), rin AS MATERIALIZED (
  SELECT u.* FROM {roll_src}
), roll AS (
  INSERT INTO usage_daily ({roll_cols}) SELECT * FROM rin
  ON CONFLICT ({", ".join(ROLLUP_KEY)}) DO UPDATE SET calls = usage_daily.calls + excluded.calls,
    quantity = usage_daily.quantity + excluded.quantity, amount = usage_daily.amount + excluded.amount
  RETURNING 1
), mroll AS (
  INSERT INTO usage_monthly ({month_key}, first_day, calls, quantity, amount)
  SELECT {month_key}, min(day), sum(calls)::int8, sum(quantity)::int8, sum(amount)::int8 FROM rin
  GROUP BY {month_key} ORDER BY {month_key}
  ON CONFLICT ({month_key}) DO UPDATE SET first_day = LEAST(usage_monthly.first_day, excluded.first_day),
    calls = usage_monthly.calls + excluded.calls, quantity = usage_monthly.quantity + excluded.quantity,
    amount = usage_monthly.amount + excluded.amount
  RETURNING 1
), consumed AS (
  UPDATE grants g SET consumed = g.consumed + u.x FROM unnest({grant_ids}, {grant_x}) AS u(id, x)
  WHERE g.id = u.id AND g.state = '{GrantState.ACTIVE.value}' RETURNING g.id
)
SELECT {counts}(SELECT count(*) FROM claims) AS claims, (SELECT count(*) FROM roll) AS rollups,
  (SELECT count(*) FROM mroll) AS monthly,
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


@dataclass(slots=True)
class PgBatch:
    """One batch's rows and statement arguments, built from the typed records."""

    scalars: dict[str, Any]  # the statement's arguments other than the CDR and message columns
    # In USAGE_COLUMNS order (journal_entry_id last) and MESSAGE_COLUMNS order; a JSON column holds
    # its text on the COPY path, its value otherwise (`_rows_args` makes one JSON array of them).
    usage_rows: list[tuple[Any, ...]]
    message_rows: list[tuple[Any, ...]]

    @property
    def copy(self) -> bool:
        return len(self.usage_rows) >= COPY_MIN_RECORDS

    def args(self) -> list[Any]:
        if self.copy:
            return PARAMS_AFTER_COPY.values(self.scalars)
        # One statement: the rows as JSON (`_rows`; the entry id column aside: the statement's own).
        values = dict(self.scalars)
        values.update(_rows_args("usage", _USAGE, self.usage_rows))
        values.update(_rows_args("msg", _MESSAGES, self.message_rows))
        return PARAMS.values(values)

    def entry_args(self) -> list[Any]:
        v = self.scalars
        return [v["entry_id"], v["now"], v["ref_id"], v["memo"]]


def _rows_args(prefix: str, cols: tuple[tuple[str, str], ...], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The arguments of `_rows`: the plain columns of the rows as one JSON array of arrays (orjson:
    texts, integers, null, timestamps in ISO 8601 with their offset), each `json` column's values as
    one JSON array (`_json_array`)."""
    plain = [i for i, (_, t) in enumerate(cols) if t != "json"]
    pick = itemgetter(*plain)
    out: dict[str, Any] = {f"{prefix}.rows": _dumps([pick(r) for r in rows], option=_ROW_OPTS).decode()}
    for i, (c, t) in enumerate(cols):
        if t == "json":
            out[f"{prefix}.{c}"] = _json_array(tuple(r[i] for r in rows))
    return out


def _json_array(values: tuple[Any, ...]) -> str:
    """A JSON column's values as one JSON array whose elements are the texts kernel.db.json_dumps
    makes: orjson once for the whole column (compact, like its per-value output), and json_dumps per
    value (with its standard-library fallback) only when orjson refuses one."""
    try:
        return _dumps(values, option=_JSON_OPTS).decode()
    except orjson.JSONEncodeError:
        return "[" + ",".join(json_dumps(v) for v in values) + "]"


def _json_texts(values: list[Any]) -> list[str]:
    """A JSON column's texts, as kernel.db.json_dumps makes them: orjson called directly, and
    json_dumps (with its standard-library fallback) for the whole column only when orjson refuses one."""
    try:
        return [_dumps(v, option=_JSON_OPTS).decode() for v in values]
    except orjson.JSONEncodeError:
        return [json_dumps(v) for v in values]


def _same(values: list[Any]) -> list[Any]:
    return values


def batch_args(
    records: list[CdrRecord],
    closed: set[str],
    accounts: Mapping[AccountKey, AccountRef],
    *,
    entry_id: str,
    ref_id: str,
    now: Any,
    revenue_fallback: str,
    revenue_shards: list[str],
) -> PgBatch:
    """The rows and arrays of one batch. `accounts`: the accounts by (owner, type, slot) of every
    partner in it (each prepaid:reserved slot its records' grants use). Each CDR is one tuple in column order (no per-row dict); amounts in units (each distinct
    amount converted once: to_units refuses more than the money's places)."""
    t = batch_totals(records, closed)
    units = {a: to_units(a) for a in {r.amount for r in records}}
    # JSON columns: each row's text for COPY; the values themselves for the one statement, which
    # sends each JSON column as one JSON array (`_rows_args`).
    copy = len(records) >= COPY_MIN_RECORDS
    texts = _json_texts if copy else _same
    recipients = texts([r.recipients for r in records])
    responses = texts([r.response for r in records])
    usage = [
        (
            r.id,
            r.partner_id,
            r.product_id,
            r.capability,
            r.operation,
            r.client_id,
            r.request_key,
            r.request_hash,
            r.quantity,
            r.unit,
            units[r.amount],
            r.billing_mode,
            r.price_plan_id,
            r.band,
            r.scope,
            r.month,
            grant_id,
            r.occurred_at,
            rec,
            resp,
            entry_id,
        )
        for r, grant_id, rec, resp in zip(records, t.grant_ids, recipients, responses, strict=True)
    ]
    pairs = [(r, m) for r in records for m in r.messages]
    network_ids = texts([m.network_ids for _, m in pairs])
    messages = [
        (m.id, r.id, r.partner_id, r.capability, m.recipient, m.parts, nids, r.occurred_at)
        for (r, m), nids in zip(pairs, network_ids, strict=True)
    ]
    rollups = t.sorted_rollups()
    # Grants in id order, legs in account-id order: the lock order (ledger/setwise.py).
    gids = sorted(t.consumed)
    legs = sorted(
        (accounts[k].id, to_units(v), to_units(v) * NORMAL_SIDE[k[1]]) for k, v in t.debits.items() if v
    )
    scalars: dict[str, Any] = {
        "entry_id": entry_id,
        "now": now,
        "ref_id": ref_id,
        "memo": f"{len(records)} CDR(s)",
        "revenue": to_units(t.total),
        "revenue_fallback": revenue_fallback,
        "revenue_shards": revenue_shards,
        "leg_account": [leg[0] for leg in legs],
        "leg_amount": [leg[1] for leg in legs],
        "leg_delta": [leg[2] for leg in legs],
        "claim.p": [r.partner_id for r in t.claimed],
        "claim.k": [r.request_key for r in t.claimed],
        "claim.r": [r.id for r in t.claimed],
        "grant.id": gids,
        "grant.x": [to_units(t.consumed[g]) for g in gids],
        "roll.partner_id": [k[0] for k, _ in rollups],
        "roll.product_id": [k[1] for k, _ in rollups],
        "roll.day": [k[2] for k, _ in rollups],
        "roll.price_plan_id": [k[3] for k, _ in rollups],
        "roll.band": [k[4] for k, _ in rollups],
        "roll.scope": [k[5] for k, _ in rollups],
        "roll.slot": [k[6] for k, _ in rollups],
        "roll.month": [v.month for _, v in rollups],
        "roll.calls": [v.calls for _, v in rollups],
        "roll.quantity": [v.quantity for _, v in rollups],
        "roll.amount": [to_units(v.amount) for _, v in rollups],
    }
    return PgBatch(scalars, usage, messages)
