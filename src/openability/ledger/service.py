"""Ledger use cases: accounts and balanced postings. Callers pass their unit of work's session;
the ledger never commits. Account rows are locked once, late, in a fixed (id) order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from openability.kernel.db import Money
from openability.kernel.errors import InsufficientBalance, NotFound
from openability.kernel.ids import new_id
from openability.ledger.checks import sum_units, units
from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import (
    NORMAL_SIDE,
    PARTNER_ACCOUNTS,
    PLATFORM,
    PLATFORM_ACCOUNTS,
    REVENUE_SHARD_OWNERS,
    AccountRef,
    AccountType,
    EntryKind,
)

# Partners' accounts: not the platform's nor its revenue shards' (ledger/types.py REVENUE_SHARD_OWNERS).
_PARTNER_OWNED = and_(Account.owner_id != PLATFORM, Account.owner_id.notin_(REVENUE_SHARD_OWNERS))


class UnbalancedEntry(ValueError):
    pass


class AccountLike(Protocol):
    """An Account row of this domain, or an AccountRef from another: a leg needs the id and type."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> AccountType: ...


@dataclass(frozen=True)
class Leg:
    """One line of a posting. amount > 0 debits the account, amount < 0 credits it."""

    account: AccountLike
    amount: Decimal


def debit(account: AccountLike, amount: Decimal) -> Leg:
    return Leg(account, amount)


def credit(account: AccountLike, amount: Decimal) -> Leg:
    return Leg(account, -amount)


async def account_refs(
    session: AsyncSession, owners: Iterable[str]
) -> dict[tuple[str, AccountType], AccountRef]:
    """Every account of the given owners, by (owner, type): of prepaid:reserved, slot 0's (see
    `reserved_refs` for the others)."""
    rows = await session.execute(
        select(Account.id, Account.owner_id, Account.type).where(
            Account.owner_id.in_(set(owners)), Account.slot == 0
        )
    )
    return {(owner, type_): AccountRef(acc_id, owner, type_) for acc_id, owner, type_ in rows.all()}


async def reserved_refs(session: AsyncSession, owners: Iterable[str]) -> dict[tuple[str, int], AccountRef]:
    """Every prepaid:reserved slot account of the given owners, by (owner, slot)."""
    rows = await session.execute(
        select(Account.id, Account.owner_id, Account.slot).where(
            Account.owner_id.in_(set(owners)), Account.type == AccountType.PREPAID_RESERVED
        )
    )
    return {
        (owner, slot): AccountRef(acc_id, owner, AccountType.PREPAID_RESERVED)
        for acc_id, owner, slot in rows.all()
    }


async def ensure_reserved_slot(session: AsyncSession, owner_id: str, slot: int, now: datetime) -> None:
    """Create the partner's prepaid:reserved account of `slot` if it does not exist yet (idempotent; safe
    when two workers create it at once). Slot 0 is created with the partner's other accounts."""
    row = {
        "id": new_id("acc"),
        "owner_id": owner_id,
        "type": AccountType.PREPAID_RESERVED,
        "slot": slot,
        "balance": Decimal(0),
        "version": 0,
        "created_at": now,
    }
    ins = pg_insert(Account) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(Account)
    await session.execute(ins.values(row).on_conflict_do_nothing(index_elements=["owner_id", "type", "slot"]))


async def ensure_platform_accounts(session: AsyncSession, now: datetime) -> None:
    await ensure_accounts(session, PLATFORM, PLATFORM_ACCOUNTS, now)


async def ensure_partner_accounts(session: AsyncSession, partner_id: str, now: datetime) -> None:
    await ensure_accounts(session, partner_id, PARTNER_ACCOUNTS, now)


async def ensure_accounts(
    session: AsyncSession, owner_id: str, types: Iterable[AccountType], now: datetime
) -> None:
    have = set(
        (
            await session.scalars(select(Account.type).where(Account.owner_id == owner_id, Account.slot == 0))
        ).all()
    )
    for t in types:
        if t not in have:
            session.add(
                Account(id=new_id("acc"), owner_id=owner_id, type=t, balance=Decimal(0), created_at=now)
            )
    await session.flush()


async def get_account(
    session: AsyncSession, owner_id: str, type_: AccountType, *, lock: bool = False
) -> Account:
    stmt = select(Account).where(Account.owner_id == owner_id, Account.type == type_, Account.slot == 0)
    if lock:
        stmt = stmt.with_for_update()
    acc = await session.scalar(stmt)
    if acc is None:
        raise NotFound(f"account {type_.value} of {owner_id} not found")
    return acc


async def lock_accounts(
    session: AsyncSession, keys: Sequence[tuple[str, AccountType]], *, reserved_slot: int = 0
) -> dict[tuple[str, AccountType], Account]:
    """Lock several accounts in a fixed order (by id) to avoid deadlocks; returns them by key. Only the
    accounts named are locked; a prepaid:reserved key names the account of `reserved_slot`."""

    def slot(t: AccountType) -> int:
        return reserved_slot if t == AccountType.PREPAID_RESERVED else 0

    wanted = or_(
        *(and_(Account.owner_id == o, Account.type == t, Account.slot == slot(t)) for o, t in set(keys))
    )
    rows = (
        await session.scalars(
            select(Account)
            .where(wanted)
            .order_by(Account.id)
            .with_for_update()
            # The locked rows' values replace those of objects this session read before (stale).
            .execution_options(populate_existing=True)
        )
    ).all()
    by_key = {(a.owner_id, a.type): a for a in rows}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise NotFound(f"accounts not found: {missing}")
    return {k: by_key[k] for k in keys}


# Prebuilt Core statements for post() (the CDR writer posts one entry per group commit): no ORM unit of
# work for rows nobody holds as objects, no session synchronisation of the balance updates (post()
# sets the new balance and version on the session's Account object itself).
_ENTRIES = cast(Table, JournalEntry.__table__)
_LINES = cast(Table, JournalLine.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_INSERT_ENTRY = insert(_ENTRIES)
_INSERT_LINES = insert(_LINES)
_BUMP_BALANCE = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("acc"))
    .values(
        balance=_ACCOUNTS.c.balance + bindparam("delta", type_=Money()),
        version=_ACCOUNTS.c.version + 1,
    )
    .returning(_ACCOUNTS.c.balance, _ACCOUNTS.c.version)
)
# The same without RETURNING, for an executemany: legs whose new balance nobody needs to see.
_BUMP_BALANCES = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("acc"))
    .values(
        balance=_ACCOUNTS.c.balance + bindparam("delta", type_=Money()),
        version=_ACCOUNTS.c.version + 1,
    )
)


async def post(
    session: AsyncSession,
    *,
    kind: EntryKind,
    legs: Sequence[Leg],
    now: datetime,
    ref: tuple[str, str] | None = None,
    memo: str = "",
    reversal_of: str | None = None,
    allow_negative: bool = False,
) -> JournalEntry:
    """Post one balanced journal entry and move the account balances (R-BILL-10).
    Refuses to take a prepaid:available account below zero unless allow_negative."""
    total = sum((leg.amount for leg in legs), Decimal(0))
    if total != 0:
        raise UnbalancedEntry(f"journal entry does not balance: {total}")
    if not legs:
        raise UnbalancedEntry("journal entry without lines")
    row = {
        "id": new_id("je"),
        "kind": kind,
        "ref_type": ref[0] if ref else None,
        "ref_id": ref[1] if ref else None,
        "memo": memo,
        "reversal_of": reversal_of,
        "created_at": now,
    }
    sync = session.sync_session
    # The caller's pending changes reach the database first, as when the entry itself was flushed.
    if sync.new or sync.dirty or sync.deleted:
        await session.flush()
    conn = await session.connection()
    await conn.execute(_INSERT_ENTRY, row)
    lines: list[dict[str, object]] = []
    if len(legs) > 2 and not any(_needs_balance(sync, leg, allow_negative) for leg in legs):
        # Many legs (the CDR writer's batch: one per partner) and no new balance to check or to show
        # on a session object: one executemany, in the legs' order (the callers' lock order).
        bumps: list[dict[str, object]] = []
        for leg in legs:
            if leg.amount:
                acc = leg.account
                lines.append({"entry_id": row["id"], "account_id": acc.id, "amount": leg.amount})
                bumps.append({"acc": acc.id, "delta": leg.amount * NORMAL_SIDE[acc.type]})
        if bumps:
            await conn.execute(_BUMP_BALANCES, bumps)
        legs = ()
    for leg in legs:
        if leg.amount == 0:
            continue
        acc = leg.account
        lines.append({"entry_id": row["id"], "account_id": acc.id, "amount": leg.amount})
        # Atomic in-database increment: correct even if another transaction moved it since we read it.
        res = await conn.execute(_BUMP_BALANCE, {"acc": acc.id, "delta": leg.amount * NORMAL_SIDE[acc.type]})
        new_balance, version = res.one()
        _sync_account(sync, acc, new_balance, version)
        if not allow_negative and acc.type == AccountType.PREPAID_AVAILABLE and new_balance < 0:
            raise InsufficientBalance("the prepaid balance cannot cover this amount")
    if lines:
        await conn.execute(_INSERT_LINES, lines)
    entry = JournalEntry(**row)
    # The entry is in the session as if it had been flushed (persistent, nothing pending).
    make_transient_to_detached(entry)
    sync.add(entry)
    return entry


def _needs_balance(sync: Session, leg: Leg, allow_negative: bool) -> bool:
    """Whether a leg's new balance must be read back: checked (prepaid:available may not go below
    zero) or set on an Account object (the leg's own or the session's)."""
    acc = leg.account
    if not leg.amount:
        return False
    if isinstance(acc, Account) or (not allow_negative and acc.type == AccountType.PREPAID_AVAILABLE):
        return True
    return sync.identity_map.get(identity_key(Account, acc.id)) is not None


def _sync_account(sync: Session, acc: AccountLike, balance: Decimal, version: int) -> None:
    """The new balance and version on the leg's Account and on the session's object of that account
    (usually the same one), as loaded values: nothing for the session to flush."""
    if isinstance(acc, Account):  # an AccountRef of another domain holds no balance
        set_committed_value(acc, "balance", balance)
        set_committed_value(acc, "version", version)
    held = sync.identity_map.get(identity_key(Account, acc.id))
    if held is not None and held is not acc:
        set_committed_value(held, "balance", balance)
        set_committed_value(held, "version", version)


async def reverse(session: AsyncSession, entry_id: str, now: datetime, memo: str = "") -> JournalEntry:
    """Entries are immutable; a correction is a reversal entry with every line negated."""
    entry = await session.get(JournalEntry, entry_id)
    if entry is None:
        raise NotFound(f"journal entry {entry_id} not found")
    lines = (await session.scalars(select(JournalLine).where(JournalLine.entry_id == entry_id))).all()
    accounts = {
        a.id: a
        for a in (
            await session.scalars(select(Account).where(Account.id.in_([ln.account_id for ln in lines])))
        ).all()
    }
    legs = [Leg(accounts[ln.account_id], -ln.amount) for ln in lines]
    return await post(
        session,
        kind=EntryKind.REVERSAL,
        legs=legs,
        now=now,
        ref=("journal_entry", entry_id),
        memo=memo or f"reversal of {entry_id}",
        reversal_of=entry_id,
        allow_negative=True,
    )


async def balances(session: AsyncSession, owner_id: str) -> dict[AccountType, Decimal]:
    """The owner's balance per account type (prepaid:reserved: the sum of its slots)."""
    rows = (
        await session.execute(
            select(Account.type, sum_units(Account.balance))
            .where(Account.owner_id == owner_id)
            .group_by(Account.type)
        )
    ).all()
    return {t: units(v) for t, v in rows}


async def totals_by_type(session: AsyncSession, types: Iterable[AccountType]) -> dict[AccountType, Decimal]:
    """The sum of every partner's balance of each type (the platform's own accounts excluded): e.g. the
    prepaid float, all partners' available money."""
    wanted = list(types)
    rows = (
        await session.execute(
            select(Account.type, sum_units(Account.balance))
            .where(Account.type.in_(wanted), _PARTNER_OWNED)
            .group_by(Account.type)
        )
    ).all()
    found = {t: units(v) for t, v in rows}
    return {t: found.get(t, Decimal("0.0000")) for t in wanted}


async def balances_of_type(session: AsyncSession, type_: AccountType) -> dict[str, Decimal]:
    """Owner id -> balance of every partner account of one type whose balance is not zero (the sum
    of its slots for prepaid:reserved)."""
    rows = (
        await session.execute(
            select(Account.owner_id, sum_units(Account.balance))
            .where(Account.type == type_, _PARTNER_OWNED, Account.balance != Decimal(0))
            .group_by(Account.owner_id)
        )
    ).all()
    return {owner: units(total) for owner, total in rows if units(total) != 0}


async def holdings(
    session: AsyncSession, types: Iterable[AccountType], *, limit: int | None = None
) -> list[tuple[str, dict[AccountType, Decimal]]]:
    """The partners whose balances of `types` sum to something else than zero, the largest sum first
    (the first `limit` of them), each with its balance per type."""
    wanted = list(types)
    total = sum_units(Account.balance)
    ranked = (
        select(Account.owner_id)
        .where(Account.type.in_(wanted), _PARTNER_OWNED)
        .group_by(Account.owner_id)
        .having(total != 0)
        .order_by(total.desc(), Account.owner_id)
    )
    if limit is not None:
        ranked = ranked.limit(limit)
    owners = list((await session.scalars(ranked)).all())
    if not owners:
        return []
    rows = select(Account.owner_id, Account.type, Account.balance).where(
        Account.type.in_(wanted), _PARTNER_OWNED
    )
    if limit is not None:
        rows = rows.where(Account.owner_id.in_(owners))
    found: dict[str, dict[AccountType, Decimal]] = {}
    for owner, type_, balance in (await session.execute(rows)).all():
        per_type = found.setdefault(owner, {})
        per_type[type_] = per_type.get(type_, Decimal("0.0000")) + balance  # reserved: its slots summed
    return [(o, found.get(o, {})) for o in owners]
