"""The operator dashboard's pure rules: the months it shows and the ageing of a receivable by
the due dates of the open statements (R-BILL-07: month M is due by the end of the 26th of M+1)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from openability.billing.dashboard_rules import (
    AgeBucket,
    OpenStatement,
    age_receivable,
    bucket_of,
    due_date,
    months_back,
)

D = Decimal


def test_the_last_twelve_months_cross_the_year() -> None:
    assert months_back("2027-02", 12) == [
        "2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08",
        "2026-09", "2026-10", "2026-11", "2026-12", "2027-01", "2027-02",
    ]  # fmt: skip
    assert months_back("2026-11", 1) == ["2026-11"]


def test_r_bill_07_a_statement_is_due_by_the_end_of_the_26th_of_the_next_month() -> None:
    assert due_date("2026-11") == date(2026, 12, 26)
    assert due_date("2026-12") == date(2027, 1, 26)
    assert bucket_of((date(2026, 12, 26) - due_date("2026-11")).days) == AgeBucket.CURRENT
    assert bucket_of((date(2026, 12, 27) - due_date("2026-11")).days) == AgeBucket.D1_30


def test_r_bill_07_days_past_due_fall_into_their_bucket() -> None:
    assert [bucket_of(d) for d in (-3, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        AgeBucket.CURRENT,
        AgeBucket.CURRENT,
        AgeBucket.D1_30,
        AgeBucket.D1_30,
        AgeBucket.D31_60,
        AgeBucket.D31_60,
        AgeBucket.D61_90,
        AgeBucket.D61_90,
        AgeBucket.OVER_90,
    ]


def test_r_bill_07_the_receivable_is_aged_newest_first_so_the_oldest_is_paid_first() -> None:
    today = date(2027, 2, 10)
    open_ = [OpenStatement("2026-10", D("30.00")), OpenStatement("2026-12", D("20.00"))]
    # 10 of usage not billed yet, December's 20 (due 26 Jan: 15 days late), October's 30 (due 26 Nov:
    # 76 days late) of which 25 still owed: the partner paid 5 of the oldest.
    buckets = age_receivable(D("55.0000"), D("10.0000"), open_, today)
    assert buckets[AgeBucket.UNBILLED] == D("10.0000")
    assert buckets[AgeBucket.D1_30] == D("20.00")
    assert buckets[AgeBucket.D61_90] == D("25.0000")
    assert sum(buckets.values()) == D("55.0000")
    # nothing owed: no bucket; more than the statements and the usage: the rest is on no statement
    assert set(age_receivable(D("-1"), D(0), open_, today).values()) == {D(0)}
    assert age_receivable(D("60"), D(0), open_, today)[AgeBucket.UNBILLED] == D("10.00")
