"""Pure rules of the operator dashboard (billing/dashboard.py): the months it shows and the ageing of
a partner's receivable by the due dates of its open statements. No I/O.

Ageing: a postpaid statement of month M is due by the end of the 26th of M+1 (Asia/Shanghai, R-BILL-07);
from the 27th it is past due, and its days past due put it in a bucket: current (not yet due), 1–30,
31–60, 61–90, over 90. What a partner owes is its `receivable` balance in the ledger (each CDR batch
debits it, true-ups and payments credit it); payments settle the oldest debt first, so the balance is
allocated to what was charged last: first the usage not yet on a statement (`unbilled`), then the open
statements from the newest to the oldest. A balance above all of them is `unbilled` too (it is on no
open statement); a balance below them leaves the oldest statements paid."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ZERO = Decimal("0.0000")
# R-BILL-07: the payment window of month M's statement ends with the 26th of M+1.
PAYMENT_DAY = 26


class AgeBucket(enum.StrEnum):
    UNBILLED = "unbilled"  # usage since the last bill run (or receivable on no open statement)
    CURRENT = "current"  # on a statement not yet due
    D1_30 = "1-30"
    D31_60 = "31-60"
    D61_90 = "61-90"
    OVER_90 = "90+"


BUCKETS = tuple(AgeBucket)


def months_back(month: str, n: int) -> list[str]:
    """The `n` months ending with `month` (YYYY-MM), oldest first."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - n + 1, index + 1)]


def due_date(month: str, payment_day: int = PAYMENT_DAY) -> date:
    """R-BILL-07: the last day of month M's payment window (the 26th of M+1)."""
    year, mon = int(month[:4]), int(month[5:7])
    return date(year + mon // 12, mon % 12 + 1, payment_day)


def bucket_of(days_past_due: int) -> AgeBucket:
    if days_past_due <= 0:
        return AgeBucket.CURRENT
    if days_past_due <= 30:
        return AgeBucket.D1_30
    if days_past_due <= 60:
        return AgeBucket.D31_60
    if days_past_due <= 90:
        return AgeBucket.D61_90
    return AgeBucket.OVER_90


@dataclass(frozen=True, slots=True)
class OpenStatement:
    month: str
    total: Decimal


def age_receivable(
    balance: Decimal,
    unbilled: Decimal,
    statements: Sequence[OpenStatement],
    today: date,
    payment_day: int = PAYMENT_DAY,
) -> dict[AgeBucket, Decimal]:
    """Allocate a partner's receivable `balance` to the buckets (see the module's docstring): the
    buckets sum to the balance when it is positive; nothing is owed otherwise."""
    out = dict.fromkeys(BUCKETS, ZERO)
    left = balance
    if left <= 0:
        return out
    take = min(left, max(unbilled, ZERO))
    out[AgeBucket.UNBILLED] += take
    left -= take
    for s in sorted(statements, key=lambda s: s.month, reverse=True):
        if left <= 0:
            break
        take = min(left, max(s.total, ZERO))
        out[bucket_of((today - due_date(s.month, payment_day)).days)] += take
        left -= take
    out[AgeBucket.UNBILLED] += left
    return out
