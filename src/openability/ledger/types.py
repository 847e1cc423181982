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
