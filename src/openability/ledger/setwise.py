"""Set-wise posting on PostgreSQL: a journal entry, its lines and its balance moves as common table
expressions of ONE statement, for callers that write a whole batch in one round trip (the CDR writer,
charging/cdr_pg.py). The statement's parameters are numbered by a `SqlParams` the caller shares.

What ledger.post does one leg at a time, here in sets: the entry row, one line per leg, every
balance moved by an in-database increment. The account rows are locked in account-id order
(`SELECT … ORDER BY id FOR UPDATE`) so two batches never deadlock, and the revenue credit goes to a
revenue shard no other transaction holds (`FOR UPDATE SKIP LOCKED`; the platform's revenue account
when every shard is busy), so workers never queue on one revenue row (ledger/revenue.py). The shards
are passed by id (`revenue_shards`, from ledger/revenue.py `ensure_revenue_shards`): found by the
primary key, not by a scan of every account for the owner prefix (a LIKE the owner index cannot serve
in a non-C collation: ~4,000 accounts with 1,000 partners cost a batch ~0.6-7 ms).

A prepaid:available balance taken below zero makes the statement fail (a cast of a marked text, the
one way plain SQL has to raise): nothing of it is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openability.ledger.types import AccountType


@dataclass
class SqlParams:
    """Numbered parameters ($1, $2…) of one statement, in the order their values are passed."""

    names: list[str] = field(default_factory=list)

    def __call__(self, name: str, cast: str) -> str:
        self.names.append(name)
        return f"${len(self.names)}::{cast}"

    def values(self, by_name: dict[str, Any]) -> list[Any]:
        return [by_name[n] for n in self.names]


# The marks of the statement's deliberate failures (FailMark): "<mark> <id>" cast to an integer.
NEGATIVE_MARK = "openability: negative balance"
_FAILED = re.compile(r'"(openability: [a-z ]+) ([^"]+)"')


def failure_mark(message: str) -> tuple[str, str] | None:
    """(mark, id) of a deliberate failure's error message, or None for any other error."""
    m = _FAILED.search(message)
    return (m.group(1), m.group(2)) if m else None


def fail_if(mark: str, id_sql: str, from_where: str) -> str:
    """A scalar subquery that fails the statement with "<mark> <id>" when `from_where` finds a row."""
    return f"(SELECT min(('{mark} ' || {id_sql})::int) {from_where})"


@dataclass(frozen=True)
class PostSql:
    ctes: str  # "entry AS (…), rev AS (…), legs AS (…), lines AS (…), locked AS (…), bal AS (…)"
    lines_count: str  # a scalar subquery: evaluates the lines (before the balances)
    check: str  # a scalar subquery: fails the statement on a negative prepaid:available balance
    revenue_account: str  # a scalar subquery: the revenue account credited


def entry_insert_sql(*, kind: str, ref_type: str) -> str:
    """The entry row alone ($1 id, $2 created_at, $3 ref id, $4 memo): for a caller whose other rows
    must reference the entry before the statement of `post_ctes(…, entry_inserted=True)` runs."""
    return (
        "INSERT INTO journal_entries (id, kind, ref_type, ref_id, memo, reversal_of, created_at) "
        f"VALUES ($1::text, '{kind}', '{ref_type}', $3::text, $4::text, NULL, $2::timestamptz)"
    )


def post_ctes(p: SqlParams, *, kind: str, ref_type: str, entry_inserted: bool = False) -> PostSql:
    """One entry (id `entry_id`, memo `memo`, ref (ref_type, `ref_id`), at `now`) whose legs are the
    arrays `leg_account` / `leg_amount` (signed line amounts, debit > 0) / `leg_delta` (the balance
    moves: amount × the account's normal side), plus a credit of `revenue` (units) to one of the
    revenue shards `revenue_shards` (account ids), or to `revenue_fallback` (the platform's revenue
    account) when every shard is busy."""
    e = p("entry_id", "text")
    now = p("now", "timestamptz")
    ref_id = p("ref_id", "text")
    memo = p("memo", "text")
    revenue = p("revenue", "int8")
    fallback = p("revenue_fallback", "text")
    shards = p("revenue_shards", "text[]")
    acc, amt, delta = p("leg_account", "text[]"), p("leg_amount", "int8[]"), p("leg_delta", "int8[]")
    entry = (
        f"SELECT {e} AS id, {now} AS created_at, {ref_id} AS ref_id, {memo} AS memo"
        if entry_inserted
        else f"""INSERT INTO journal_entries (id, kind, ref_type, ref_id, memo, reversal_of, created_at)
  VALUES ({e}, '{kind}', '{ref_type}', {ref_id}, {memo}, NULL, {now}) RETURNING id"""
    )
    ctes = f"""entry AS (
  {entry}
), rev AS (
  SELECT COALESCE((SELECT a.id FROM accounts a WHERE a.id = ANY({shards})
                   ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED), {fallback}) AS id
), legs AS (
  SELECT l.acc, l.amt, l.delta FROM unnest({acc}, {amt}, {delta}) AS l(acc, amt, delta)
  UNION ALL SELECT rev.id, -{revenue}, {revenue} FROM rev WHERE {revenue} <> 0
), lines AS (
  INSERT INTO journal_lines (entry_id, account_id, amount)
  SELECT (SELECT id FROM entry), legs.acc, legs.amt FROM legs RETURNING 1
), locked AS (
  SELECT a.id FROM accounts a WHERE a.id IN (SELECT acc FROM legs) ORDER BY a.id FOR UPDATE
), bal AS (
  UPDATE accounts a SET balance = a.balance + l.delta, version = a.version + 1
  FROM legs l JOIN locked k ON k.id = l.acc
  WHERE a.id = l.acc
  RETURNING a.id, a.type, a.balance
)"""
    check = fail_if(
        NEGATIVE_MARK,
        "bal.id",
        f"FROM bal WHERE bal.type = '{AccountType.PREPAID_AVAILABLE.value}' AND bal.balance < 0",
    )
    return PostSql(ctes, "(SELECT count(*) FROM lines)", check, "(SELECT id FROM rev)")
