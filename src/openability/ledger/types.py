"""The ledger domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AccountType(enum.StrEnum):
    # partner accounts
    PREPAID_AVAILABLE = "prepaid:available"
    PREPAID_RESERVED = "prepaid:reserved"
    DEPOSIT = "deposit"
    RECEIVABLE = "receivable"
    # a partner's credits waiting while its settlement is held (R-TIER-03, billing/holds.py): a
    # liability to the partner, created on demand (not in PARTNER_ACCOUNTS)
    SETTLEMENT_HELD = "settlement:held"
    # platform accounts
    REVENUE = "revenue"
    CASH = "cash"
    ADJUSTMENTS = "adjustments"
    SUSPENSE = "suspense"


# +1: debit-normal (assets, expenses); -1: credit-normal (liabilities, revenue).
NORMAL_SIDE: dict[AccountType, int] = {
    AccountType.PREPAID_AVAILABLE: -1,
    AccountType.PREPAID_RESERVED: -1,
    AccountType.DEPOSIT: -1,
    AccountType.RECEIVABLE: 1,
    AccountType.SETTLEMENT_HELD: -1,
    AccountType.REVENUE: -1,
    AccountType.CASH: 1,
    AccountType.ADJUSTMENTS: 1,
    AccountType.SUSPENSE: 1,
}


PARTNER_ACCOUNTS = (
    AccountType.PREPAID_AVAILABLE,
    AccountType.PREPAID_RESERVED,
    AccountType.DEPOSIT,
    AccountType.RECEIVABLE,
)


PLATFORM_ACCOUNTS = (AccountType.REVENUE, AccountType.CASH, AccountType.ADJUSTMENTS, AccountType.SUSPENSE)


PLATFORM = "platform"

# The platform's revenue is one account of type REVENUE owned by PLATFORM plus REVENUE_SHARDS sub-accounts
# of the same type owned by "platform:revenue:00"… The CDR writer on PostgreSQL credits whichever
# shard no other transaction holds (SKIP LOCKED), so gateway workers never wait on one revenue row
# (DESIGN.md "no single row is written by every worker"); the revenue-rollup job moves the shards'
# balances into the platform's revenue account (EntryKind.REVENUE_ROLLUP). Platform revenue is the
# sum of all of them (ledger.revenue.revenue_balance).
REVENUE_SHARD_PREFIX = "platform:revenue:"
REVENUE_SHARDS = 8


def revenue_shard_owner(slot: int) -> str:
    return f"{REVENUE_SHARD_PREFIX}{slot:02d}"


# Every shard's owner id, for `owner_id IN (...)`: the owner index serves it, where a prefix LIKE is a
# scan of every account in the default collation (~400,000 with 100,000 partners, and the revenue
# roll-up runs at every scheduler tick in every worker).
REVENUE_SHARD_OWNERS = tuple(revenue_shard_owner(i) for i in range(REVENUE_SHARDS))


# A partner's reserved money (prepaid:reserved) is split the same way, per worker slot: accounts of type
# PREPAID_RESERVED with `slot` 0…RESERVED_SLOTS-1 (Account.slot; every other account is slot 0). A new
# grant takes the lowest slot that no other worker's active grant of the partner uses
# (pick_reserved_slot, chosen under a per-partner lock so two workers never pick the same one), the
# slot's account is created on first use, and the grant's reservation, its CDR batches' debits and its
# release all move that slot's account (charging/grants.py). So two gateway workers' grants and CDR
# batches for one partner never lock the same reserved row. The partner's reserved money is the sum of
# its slots (ledger.service.balances and every other read); the audit checks each slot against the
# open amount of the active grants on it (integrity.py invariant 5).
RESERVED_SLOTS = 8

# An account as the CDR writer looks it up: (owner, type, slot); slot 0 but for prepaid:reserved.
AccountKey = tuple[str, AccountType, int]


def pick_reserved_slot(taken: list[int], slots: int = RESERVED_SLOTS) -> int:
    """The reserved slot for a new grant: the lowest one no other worker's active grant uses, else (more
    workers than slots) the lowest of the least used ones."""
    use = [0] * slots
    for s in taken:
        if 0 <= s < slots:
            use[s] += 1
    return min(range(slots), key=lambda s: (use[s], s))


def is_platform_owner(owner_id: str) -> bool:
    """The platform itself or one of its revenue shards (not a partner)."""
    return owner_id == PLATFORM or owner_id.startswith(REVENUE_SHARD_PREFIX)


class EntryKind(enum.StrEnum):
    TOP_UP = "top_up"
    GRANT = "grant"  # available -> reserved
    GRANT_RELEASE = "grant_release"  # reserved -> available
    CHARGE = "charge"  # reserved (prepaid) or receivable (postpaid) -> revenue, per CDR batch
    REFUND = "refund"
    INVOICE = "invoice"
    PAYMENT = "payment"
    DEPOSIT = "deposit"
    DEPOSIT_DEDUCTION = "deposit_deduction"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"
    REVENUE_ROLLUP = "revenue_rollup"  # revenue shards -> the platform's revenue account


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account as other domains name it in a posting: ledger.post needs only the id and type."""

    id: str
    owner_id: str
    type: AccountType
