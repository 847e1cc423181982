"""The CDR writer's batch accounting (charging/cdr_batch.py), the one pure function both of its paths
use: which account each CDR debits, the grants' consumption and the daily rollups (R-CHARGE-02,
R-CHARGE-06)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from openability.charging.cdr_batch import batch_totals
from openability.charging.types import CdrRecord
from openability.ledger.types import AccountType

AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
DAY = date(2026, 12, 2)


def cdr(
    i: int, partner: str, amount: str, mode: str, grant: str | None, plan: str = "pp1", claimed: bool = False
) -> CdrRecord:
    return CdrRecord(
        f"cdr{i}", partner, "prod", "sms", "sendMessage", "cli", f"k{i}", "h", 2, "segment",
        Decimal(amount), mode, plan, "list", "national", "2026-12", grant, AT, DAY, ["+1"], {}, [],
        claimed,
    )  # fmt: skip


def test_r_charge_02_each_cdr_debits_one_account_and_grants_consume_what_they_recorded() -> None:
    recs = [
        cdr(0, "p1", "0.0500", "prepaid", "g1"),
        cdr(1, "p1", "0.0500", "prepaid", "g1", claimed=True),
        cdr(2, "p1", "0.0300", "prepaid", "g2"),  # g2 found closed: charged to available
        cdr(3, "p1", "0.0200", "prepaid", None),
        cdr(4, "p2", "1.5000", "postpaid", None, plan="pp2"),
    ]
    t = batch_totals(recs, closed={"g2"})
    assert t.grant_ids == ["g1", "g1", None, None, None]
    assert t.debits == {
        ("p1", AccountType.PREPAID_RESERVED, 0): Decimal("0.1000"),
        ("p1", AccountType.PREPAID_AVAILABLE, 0): Decimal("0.0500"),
        ("p2", AccountType.RECEIVABLE, 0): Decimal("1.5000"),
    }
    assert t.consumed == {"g1": Decimal("0.1000")}
    assert t.total == Decimal("1.6500") == sum(t.debits.values())
    assert [r.id for r in t.claimed] == ["cdr1"]


def test_r_charge_06_rollups_are_keyed_by_price_version_band_and_scope_in_key_order() -> None:
    recs = [
        cdr(0, "p2", "0.0500", "prepaid", None),
        cdr(1, "p1", "0.0500", "prepaid", None, plan="pp9"),
        cdr(2, "p1", "0.0400", "prepaid", None),
        cdr(3, "p1", "0.0500", "prepaid", None, plan="pp9"),
    ]
    rolled = [
        (k[0], k[3], v.month, v.calls, v.quantity, v.amount)
        for k, v in batch_totals(recs, closed=set()).sorted_rollups()
    ]
    assert rolled == [
        ("p1", "pp1", "2026-12", 1, 2, Decimal("0.0400")),
        ("p1", "pp9", "2026-12", 2, 4, Decimal("0.1000")),
        ("p2", "pp1", "2026-12", 1, 2, Decimal("0.0500")),
    ]
