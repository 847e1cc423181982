"""A grant refill on PostgreSQL in ONE statement on the raw asyncpg connection: one round trip, its own
transaction (no BEGIN/COMMIT), prepared once per connection (asyncpg's statement cache). The SQLAlchemy
path of charging/grants.py (`GrantManager._refill`, SQLite) does the same in eight round trips.

What the statement does, in the order the CDR writer and the grant release take the same rows (the
partner's accounts in id order, then the grant: charging/cdr_pg.py), so none of them deadlock:
  1. lock the partner's prepaid:available row and its prepaid:reserved row of the grant's slot ($12,
     ledger/types.py RESERVED_SLOTS: never another worker's slot) (`ORDER BY id FOR UPDATE`) and read
     the available balance under that lock;
  2. lock this worker's grant if it is still active (a grant reaped meanwhile is replaced);
  3. compute the amount to move with `rules.grant_refill`'s arithmetic in integer money units (the
     same rule written for the statement; tests/charging/test_grants_pg.py proves they agree over a
     grid of balances) — NULL when the call cannot be covered: then nothing is written;
  4. extend the grant (granted += x, expires_at) or insert a new one;
  5. post the balanced GRANT entry (Dr available, Cr reserved, x): the entry row, its two lines and
     both balance moves, as setwise.py posts the CDR batch's entry.

The statement returns one row in every case: `locked` says how many of the two account rows it
locked. SQL_SKIP_LOCKED takes them `SKIP LOCKED`: when another transaction holds one (another worker's
refill on the available row, this worker's CDR batch on its reserved slot), it locks fewer than two,
writes nothing and the worker tries again a little later (charging/grants.py `_refill_statement`), so a refill
does not wait in PostgreSQL; after SKIP_TRIES it waits (SQL) rather than starve.

The amount is never more than the available balance read under the lock, so no concurrent refill
can overdraw it (R-CHARGE-02); the statement also fails on purpose (ledger/setwise.py `fail_if`) if a
prepaid:available balance would end below zero, so nothing of it is written then."""

from __future__ import annotations

from openability.charging.types import GrantState
from openability.ledger.setwise import NEGATIVE_MARK, fail_if
from openability.ledger.types import AccountType, EntryKind

_AVAIL = AccountType.PREPAID_AVAILABLE.value
_RESERVED = AccountType.PREPAID_RESERVED.value
_ACTIVE = GrantState.ACTIVE.value


# $1 partner id, $2 the worker's grant id (NULL: none), $3 the grant's remaining money in memory (units),
# $4 need (the call's amount, units), $5 want (max(target, need), units), $6 now, $7 new expires_at,
# $8 id of a new grant, $9 worker id, $10 journal entry id, $11 memo, $12 the reserved slot.
def _refill_sql(skip_locked: bool) -> str:
    lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
    return f"""WITH acc AS MATERIALIZED (
  SELECT a.id, a.type, a.balance FROM accounts a
  WHERE a.owner_id = $1::text
    AND (a.type = '{_AVAIL}' OR (a.type = '{_RESERVED}' AND a.slot = $12::int4))
  ORDER BY a.id {lock}
), old AS MATERIALIZED (
  SELECT g.id FROM grants g
  WHERE g.id = $2::text AND g.state = '{_ACTIVE}' AND (SELECT count(*) FROM acc) = 2
  FOR UPDATE
), k AS MATERIALIZED (
  SELECT av.id AS avail_id, rs.id AS res_id, av.balance AS avail, o.kept,
    CASE WHEN o.kept IS NULL THEN 0::int8 ELSE $3::int8 END AS rem
  FROM (SELECT id, balance FROM acc WHERE type = '{_AVAIL}') av,
       (SELECT id FROM acc WHERE type = '{_RESERVED}') rs,
       (SELECT (SELECT id FROM old) AS kept) o
), calc AS MATERIALIZED (
  SELECT k.*,
    CASE WHEN k.rem + k.avail < $4::int8 THEN NULL
         ELSE greatest(0::int8, least(
           $5::int8 - k.rem,
           greatest($4::int8 - k.rem,
                    CASE WHEN $4::int8 > 0 THEN (k.avail / (2 * $4::int8)) * $4::int8
                         ELSE k.avail / 2 END),
           k.avail))
    END AS x
  FROM k
), upd AS (
  UPDATE grants g SET granted = g.granted + c.x, expires_at = $7::timestamptz
  FROM calc c WHERE g.id = c.kept AND c.x IS NOT NULL RETURNING g.id
), ins AS (
  INSERT INTO grants (id, partner_id, worker_id, slot, granted, consumed, released, state, created_at,
    expires_at)
  SELECT $8::text, $1::text, $9::text, $12::int4, c.x, 0, 0, '{_ACTIVE}', $6::timestamptz, $7::timestamptz
  FROM calc c WHERE c.kept IS NULL AND c.x IS NOT NULL RETURNING id
), entry AS (
  INSERT INTO journal_entries (id, kind, ref_type, ref_id, memo, reversal_of, created_at)
  SELECT $10::text, '{EntryKind.GRANT.value}', 'grant', COALESCE(c.kept, $8::text), $11::text, NULL,
    $6::timestamptz
  FROM calc c WHERE c.x > 0 RETURNING id
), legs AS (
  SELECT c.avail_id AS acc, c.x AS amt, -c.x AS delta FROM calc c WHERE c.x > 0
  UNION ALL SELECT c.res_id, -c.x, c.x FROM calc c WHERE c.x > 0
), lines AS (
  INSERT INTO journal_lines (entry_id, account_id, amount)
  SELECT e.id, l.acc, l.amt FROM entry e, legs l RETURNING 1
), bal AS (
  UPDATE accounts a SET balance = a.balance + l.delta, version = a.version + 1
  FROM legs l WHERE a.id = l.acc
  RETURNING a.id, a.type, a.balance
)
SELECT c.x, c.avail, c.kept, (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins) AS grants,
  (SELECT count(*) FROM lines) AS lines,
  {fail_if(NEGATIVE_MARK, "bal.id", f"FROM bal WHERE bal.type = '{_AVAIL}' AND bal.balance < 0")} AS negative,
  (SELECT count(*) FROM acc) AS locked
FROM (SELECT 1) AS one LEFT JOIN calc c ON true"""


# Waits for the account rows: the last try, after SKIP_TRIES busy ones.
SQL = _refill_sql(skip_locked=False)
# Takes the account rows only if no other transaction holds one (`locked` < 2: nothing written, the
# grant not locked): charging/grants.py `_refill_statement` tries again after a short sleep, in the worker,
# instead of waiting in PostgreSQL behind another worker's refill (the partner's one available row)
# or its own CDR batch (its reserved slot row).
SQL_SKIP_LOCKED = _refill_sql(skip_locked=True)
# How often, and how long apart (seconds, doubling up to SKIP_MAX_SLEEP), a refill finds an account row
# busy before it waits for it in PostgreSQL (SQL): a CDR batch or another refill holds it for one
# statement and its commit (~1–5 ms). 8 tries: ~60 ms in all.
SKIP_TRIES = 8
SKIP_FIRST_SLEEP = 0.0005
SKIP_MAX_SLEEP = 0.016

# A new grant's reserved slot, in one short transaction before SQL (charging/grants.py `_refill_pg`):
# a per-partner transaction-level advisory lock that only new grants take (first, before any row lock:
# no deadlock with the CDR writer or a release), then the slots of the other workers' active grants
# (read after the lock: every grant committed before it is seen), then the slot's account if new.
NEW_GRANT_LOCK = "SELECT pg_advisory_xact_lock(7401, hashtext($1::text))"
TAKEN_SLOTS = f"""SELECT g.slot FROM grants g
WHERE g.partner_id = $1::text AND g.state = '{_ACTIVE}' AND g.worker_id <> $2::text"""
ENSURE_SLOT = f"""INSERT INTO accounts (id, owner_id, type, slot, balance, version, created_at)
VALUES ($1::text, $2::text, '{_RESERVED}', $3::int4, 0, 0, $4::timestamptz)
ON CONFLICT (owner_id, type, slot) DO NOTHING"""


# A worker's idle grants released together (charging/grants.py `release_idle`): ONE statement for up to
# RELEASE_CHUNK grants, where the ORM path (`release_grant`, SQLite and the reaper) takes six round
# trips and a transaction per grant. With many partners calling now and then, a worker otherwise spends
# more time giving back idle grants one by one than serving calls (docs/benchmarks.md "Pass 5").
# Same lock order as everywhere: the partners' account rows in id order, then the grants. The account
# rows are taken SKIP LOCKED: a grant whose available or reserved row another transaction holds (a
# refill, a CDR batch) is left for the next housekeeping tick instead of waited for. Each released grant
# with open money gets its own balanced GRANT_RELEASE entry (Dr reserved, Cr available), as
# `release_grant` posts it.
# $1 grant ids, $2 journal entry ids (one per grant, same order), $3 now, $4 memo, $5 the worker id.
# Returns one row per grant asked for: `state` = 'closed' (released here), 'busy' (an account row was
# held: try again later) or 'gone' (not an active grant of this worker any more: nothing to release).
RELEASE_CHUNK = 500
RELEASE_MANY = f"""WITH want AS MATERIALIZED (
  SELECT g.id, g.partner_id, g.slot, w.entry_id
  FROM unnest($1::text[], $2::text[]) AS w(gid, entry_id)
  JOIN grants g ON g.id = w.gid
  WHERE g.state = '{_ACTIVE}' AND g.worker_id = $5::text
), acc AS MATERIALIZED (
  SELECT a.id, a.owner_id, a.type FROM accounts a JOIN want w ON a.owner_id = w.partner_id
  WHERE a.type = '{_AVAIL}' OR (a.type = '{_RESERVED}' AND a.slot = w.slot)
  ORDER BY a.id FOR UPDATE OF a SKIP LOCKED
), ok AS MATERIALIZED (
  SELECT w.id, w.entry_id, av.id AS avail_id, rs.id AS res_id
  FROM want w
  JOIN acc av ON av.owner_id = w.partner_id AND av.type = '{_AVAIL}'
  JOIN acc rs ON rs.owner_id = w.partner_id AND rs.type = '{_RESERVED}'
), gl AS MATERIALIZED (
  SELECT g.id, g.granted - g.consumed - g.released AS open FROM grants g
  WHERE g.id IN (SELECT id FROM ok) AND g.state = '{_ACTIVE}'
  ORDER BY g.id FOR UPDATE
), rel AS MATERIALIZED (
  SELECT ok.id, ok.entry_id, ok.avail_id, ok.res_id, gl.open FROM ok JOIN gl ON gl.id = ok.id
), closed AS (
  UPDATE grants g SET released = g.released + greatest(r.open, 0::int8), state = 'closed',
    closed_at = $3::timestamptz
  FROM rel r WHERE g.id = r.id RETURNING g.id
), entry AS (
  INSERT INTO journal_entries (id, kind, ref_type, ref_id, memo, reversal_of, created_at)
  SELECT r.entry_id, '{EntryKind.GRANT_RELEASE.value}', 'grant', r.id, $4::text, NULL, $3::timestamptz
  FROM rel r WHERE r.open > 0 RETURNING id
), legs AS (
  SELECT r.entry_id, r.res_id AS acc, r.open AS amt, -r.open AS delta FROM rel r WHERE r.open > 0
  UNION ALL SELECT r.entry_id, r.avail_id, -r.open, r.open FROM rel r WHERE r.open > 0
), lines AS (
  INSERT INTO journal_lines (entry_id, account_id, amount)
  SELECT l.entry_id, l.acc, l.amt FROM legs l JOIN entry e ON e.id = l.entry_id RETURNING 1
), bal AS (
  UPDATE accounts a SET balance = a.balance + l.delta, version = a.version + 1
  FROM legs l WHERE a.id = l.acc RETURNING a.id
)
SELECT w.gid AS id,
  CASE WHEN w.gid IN (SELECT id FROM closed) THEN 'closed'
       WHEN w.gid IN (SELECT id FROM want) THEN 'busy'
       ELSE 'gone' END AS state,
  (SELECT count(*) FROM lines) AS lines, (SELECT count(*) FROM bal) AS moved
FROM unnest($1::text[]) AS w(gid)"""
