"""R-BILL-07: the payment window of a postpaid statement. Collection from the deposit starts at 00:00 on the
27th (Asia/Shanghai) of the next month; a payment notice filed by the end of the 26th defers it to 00:00
on the 1st. The clock is moved to either side of each instant."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

D = Decimal


async def test_r_bill_07_without_a_notice_collection_starts_at_00_00_on_the_27th(
    office: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    due = await office.due(w)
    assert (due["state"], due["amount"], due["unpaid"]) == ("due", "4.50", "4.50")
    assert due["noticeBy"] == "2026-12-26T16:00:00Z"  # the end of the 26th, Beijing time
    assert due["collectAt"] == "2026-12-26T16:00:00Z"
    (n,) = await office.notices("statement-due")
    assert n.recipient_id == w.partner_id and "4.50" in n.subject and "2026-12-27 00:00" in n.body

    office.m.at(12, 26, 23, 59, 59)
    assert await office.m.run("collections") is None  # not yet due
    with pytest.raises(RuntimeError, match="starts at 2026-12-27 00:00"):
        await office.m.run("collections", period="2026-11")  # an explicit run before its time
    assert (await office.due(w))["deducted"] == "0.00"

    office.m.at(12, 27, 0, 0, 0)
    assert "1 statement(s) collected" in (await office.m.run("collections"))
    due = await office.due(w)
    assert (due["state"], due["deducted"], due["unpaid"]) == ("paid", "4.50", "0.00")
    assert due["collectedAt"] == "2026-12-26T16:00:00Z"
    r = await office.http.get(f"/api/v1/statements/{sid}", headers=office.clerk)
    assert r.json()["state"] == "settled"
    await assert_ledger_clean()


async def test_r_bill_07_a_notice_filed_by_the_end_of_the_26th_defers_collection_to_the_1st(
    office: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    office.m.at(12, 26, 23, 59, 59)
    r = await office.notice(w, sid, "4.50", ref="ICBC-20261226-001")
    assert r.status_code == 201, r.text
    assert (r.json()["purpose"], r.json()["state"], r.json()["statementId"]) == ("statement", "pending", sid)

    office.m.at(12, 27, 0, 0, 0)
    assert "0 statement(s) collected" in (await office.m.run("collections"))
    due = await office.due(w)
    assert (due["state"], due["deducted"], due["deferred"]) == ("due", "0.00", True)
    assert due["collectAt"] == "2026-12-31T16:00:00Z"  # 00:00 on 1 January, Beijing time

    office.m.at(12, 31, 23, 59, 59)
    # The deferred pass of this instant is October's (due since 1 December): November's is not due until
    # 00:00 on the 1st, and an explicit run of it before then is refused.
    assert (await office.m.run("collections-deferred")).startswith("2026-10 or earlier: 0 statement(s)")
    with pytest.raises(RuntimeError, match="starts at 2027-01-01 00:00"):
        await office.m.run("collections-deferred", period="2026-11")
    assert (await office.due(w))["deducted"] == "0.00"

    # The funds never arrived (the notice is still unconfirmed): at 00:00 on the 1st the deposit pays.
    office.m.at(1, 1, 0, 0, 0, year=2027)
    assert "1 statement(s) collected" in (await office.m.run("collections-deferred"))
    due = await office.due(w)
    assert (due["state"], due["deducted"], due["collectedAt"]) == ("paid", "4.50", "2026-12-31T16:00:00Z")
    await assert_ledger_clean()


async def test_r_bill_07_a_notice_filed_at_00_00_on_the_27th_is_late(office: Any) -> None:
    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    office.m.at(12, 27, 0, 0, 0)  # the notice comes in before the job's tick at that same instant
    assert (await office.notice(w, sid, "4.50")).status_code == 201
    assert "1 statement(s) collected" in (await office.m.run("collections"))
    due = await office.due(w)
    assert (due["deferred"], due["deducted"]) == (False, "4.50")


async def test_r_bill_07_a_deferred_statement_partly_paid_before_the_1st_has_only_the_rest_collected(
    office: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    office.m.at(12, 20, 10)
    notice = await office.notice(w, sid, "3.00")
    office.m.at(12, 27, 0, 0, 1)
    await office.m.run("collections")
    office.m.at(12, 28, 10)
    assert (await office.confirm(notice.json()["id"])).status_code == 200
    assert (await office.due(w))["state"] == "partially_paid"
    office.m.at(1, 1, 0, 0, 1, year=2027)
    await office.m.run("collections-deferred")
    due = await office.due(w)
    assert (due["paid"], due["deducted"], due["state"]) == ("3.00", "1.50", "paid")
    await assert_ledger_clean()
