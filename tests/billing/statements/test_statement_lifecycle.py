"""A statement's month after the bill run, with the clock moved through December (Asia/Shanghai): issued
with notice before the 10th (R-BILL-03), confirmed or deemed confirmed when the 15th ends (R-BILL-04),
disputed with the partner's figures (R-BILL-05/06), the raw usage log, partner isolation."""

from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.jobs.scheduler import tick
from openability.jobs_catalog import all_jobs
from openability.kernel.audit import AuditEntry
from openability.kernel.notify import Notification
from openability.partners import identity as partners_service

D = Decimal


async def billed(month: Any, container: Any, kit: Any, units: int = 20, *, worlds: int = 1) -> list[Any]:
    """Partners with `units` SMS segments of November usage each, billed on 1 December (drafts)."""
    out = [await kit.make_world(container, balance=D("100.0000"), caps=("sms",)) for _ in range(worlds)]
    month.at(11, 12, 9)
    for w in out:
        await month.send(w, units)
    month.at(12, 1, 0, 0, 10)
    assert await month.run("bill-run") is not None
    return out


async def notices(container: Any, kind: str) -> list[Notification]:
    async with container.uow() as uow:
        return list((await uow.session.scalars(select(Notification).where(Notification.kind == kind))).all())


async def test_r_bill_03_statements_are_issued_with_notice_before_the_tenth(
    month: Any, container: Any, kit: Any
) -> None:
    (w,) = await billed(month, container, kit)
    r = await month.http.get("/api/v1/statements", headers=month.partner(w))
    assert r.json()["total"] == 0  # a draft is the billing office's, not yet the partner's
    assert await month.run("statement-issue") is None  # due from 00:00 on the 3rd
    month.at(12, 3, 0, 0, 1)
    assert await month.run("statement-issue") == "1 statement(s) of 2026-11 or earlier issued"
    r = await month.http.get("/api/v1/statements", headers=month.partner(w))
    (item,) = r.json()["items"]
    assert item["state"] == "issued" and item["total"] == "1.00"
    assert item["issuedAt"] < "2026-12-09T16:00:00Z"  # before the 10th, Beijing time
    assert item["confirmBy"] == "2026-12-15T16:00:00Z"  # the end of the 15th, Beijing time
    (n,) = await notices(container, "statement-issued")
    assert (n.recipient_type, n.recipient_id) == ("partner", w.partner_id)
    assert "2026-11" in n.subject and "1.00" in n.subject and "2026-12-16 00:00" in n.body


async def test_r_bill_03_statements_not_issued_by_the_ninth_alert_the_billing_operators(
    month: Any, container: Any, kit: Any
) -> None:
    async with container.uow() as uow:
        clerk = await partners_service.create_operator(uow, "clerk1", "secret123abc", ["billing_clerk"])
        await partners_service.create_operator(uow, "agent1", "secret123abc", ["service_agent"])
    await billed(month, container, kit)  # the statement-issue job never ran (say it failed)
    month.at(12, 8, 23, 59)
    assert await month.run("statement-late-alert") is None  # due at 00:00 on the 9th
    month.at(12, 9, 0, 0, 1)
    assert (
        await month.run("statement-late-alert") == "2026-11: 1 draft(s), bill run done; 1 operator(s) alerted"
    )
    (n,) = await notices(container, "statement-late")
    assert (n.recipient_type, n.recipient_id) == ("operator", clerk.id)
    assert await month.run("statement-late-alert", force=True) is not None
    assert len(await notices(container, "statement-late")) == 1  # once


async def test_r_bill_03_a_start_on_the_twelfth_still_bills_and_issues_last_month(
    month: Any, container: Any, kit: Any
) -> None:
    """The platform was down from November to the 12th of December: its first tick bills November and
    issues the statements (late, but issued), each job once for the month."""
    w = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    month.at(11, 20, 9)
    await month.send(w, 5)
    month.at(12, 12, 8)
    ran = await tick(container, all_jobs())
    assert "2026-11: 1 statement(s) made" in ran["bill-run"]
    assert ran["statement-issue"] == "1 statement(s) of 2026-11 or earlier issued"
    assert "deemed-confirmation" not in ran  # not due before the end of the 15th
    st = await month.statement_of(w)
    assert st["state"] == "issued"
    again = await tick(container, all_jobs())
    assert "bill-run" not in again and "statement-issue" not in again


async def test_r_bill_04_the_partner_confirms_its_statement_until_the_fifteenth_ends(
    month: Any, container: Any, kit: Any
) -> None:
    w1, w2 = await billed(month, container, kit, worlds=2)
    month.at(12, 3, 1)
    await month.run("statement-issue")
    s1 = (await month.statement_of(w1))["id"]
    s2 = (await month.statement_of(w2))["id"]
    month.at(12, 15, 23, 59)
    r = await month.http.post(f"/api/v1/statements/{s1}/confirm", headers=month.partner(w1))
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["confirmation"]) == ("confirmed", "partner")
    r = await month.http.post(f"/api/v1/statements/{s1}/confirm", headers=month.partner(w1))
    assert r.status_code == 409 and r.json()["code"] == "STATEMENT_STATE"
    month.at(12, 16, 0, 0, 0)
    r = await month.http.post(f"/api/v1/statements/{s2}/confirm", headers=month.partner(w2))
    assert r.status_code == 422 and r.json()["code"] == "CONFIRMATION_CLOSED"


async def test_r_bill_04_a_statement_neither_confirmed_nor_disputed_is_deemed_confirmed_when_the_fifteenth_ends(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    (w,) = await billed(month, container, kit)
    month.at(12, 3, 1)
    await month.run("statement-issue")
    month.at(12, 15, 23, 59, 59)
    assert await month.run("deemed-confirmation") is None  # the 15th has not ended
    month.at(12, 16, 0, 0, 1)
    assert await month.run("deemed-confirmation") == (
        "1 statement(s) deemed confirmed, 1 prepaid statement(s) settled"
    )
    st = await month.statement_of(w)
    assert st["confirmation"] == "deemed" and st["confirmedBy"] == "system"
    assert st["state"] == "settled"  # prepaid: its money moved in real time and by the true-up
    async with container.uow() as uow:
        actions = (
            await uow.session.scalars(
                select(AuditEntry.action).where(AuditEntry.entity_id == st["id"]).order_by(AuditEntry.at)
            )
        ).all()
    assert "statement.deemed_confirmed" in actions
    await assert_ledger_clean()


async def test_r_bill_06_a_discrepancy_above_five_percent_is_carried_into_next_months_statement(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    (w,) = await billed(month, container, kit, units=20)  # 20 x 0.05 = 1.00
    month.at(12, 3, 1)
    await month.run("statement-issue")
    sid = (await month.statement_of(w))["id"]
    month.at(12, 10, 15)
    r = await month.http.post(
        f"/api/v1/statements/{sid}/disputes",
        data={"partnerTotal": "0.90", "reason": "我们只统计到 18 条"},
        headers=month.partner(w),
    )
    assert r.status_code == 201, r.text
    d = r.json()
    assert (d["state"], d["outcome"], d["statementAmount"], d["partnerAmount"]) == (
        "closed",
        "adjusted",
        "1.0000",
        "0.9000",
    )
    assert d["adjustment"] == "-0.1000"  # 10% > 5%: the difference is carried
    assert (await month.statement_of(w))["state"] == "disputed"
    (n,) = await notices(container, "dispute-closed")
    assert n.recipient_id == w.partner_id and "0.10" in n.body
    # December: 40 more segments, then January's bill run carries the adjustment
    month.at(12, 20, 9)
    await month.send(w, 40)
    before = await w.prepaid_total()
    month.at(1, 1, 0, 0, 10, year=2027)
    await month.run("bill-run")
    r = await month.http.get(
        "/api/v1/statements", params={"partner_id": w.partner_id, "month": "2026-12"}, headers=month.operator
    )
    (dec,) = r.json()["items"]
    r = await month.http.get(f"/api/v1/statements/{dec['id']}", headers=month.operator)
    st = r.json()
    adj = [ln for ln in st["lines"] if ln["kind"] == "adjustment"]
    assert [a["amount"] for a in adj] == ["-0.1000"]
    assert (st["exact"], st["adjustments"], st["total"]) == ("2.0000", "-0.1000", "1.90")
    # in the prepaid partner's favour: credited to its balance with the statement
    assert await w.prepaid_total() - before == D("0.1000")
    await assert_ledger_clean()


async def test_r_bill_06_a_record_list_within_five_percent_leaves_the_statement_as_issued(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    (w,) = await billed(month, container, kit, units=100)  # one call of 100 segments: 5.00
    month.at(12, 3, 1)
    await month.run("statement-issue")
    sid = (await month.statement_of(w))["id"]
    (cdr,) = await w.cdrs()
    async with container.uow() as uow:
        from openability.charging.models import Message

        msg_ids = (
            await uow.session.scalars(select(Message.id).where(Message.usage_record_id == cdr.id))
        ).all()
    assert len(msg_ids) == 100
    listing = "messageId\r\n" + "\r\n".join([*msg_ids[:99], "msg-not-ours"]) + "\r\n"
    r = await month.http.post(
        f"/api/v1/statements/{sid}/disputes",
        files={"records": ("ours.csv", listing.encode(), "text/csv")},
        headers=month.partner(w),
    )
    assert r.status_code == 201, r.text
    d = r.json()
    # every message of the one CDR names it: the record matches; the unknown id is on the partner's side only
    assert (d["recordsSubmitted"], d["recordsMatched"], d["platformOnly"], d["partnerOnly"]) == (100, 1, 0, 1)
    assert d["report"]["partnerOnly"] == ["msg-not-ours"]
    assert (d["outcome"], d["adjustment"], d["discrepancy"]) == ("stands", "0.0000", "0.0000")
    await assert_ledger_clean()


async def test_r_bill_05_records_only_on_the_platform_side_are_reported_with_their_amount(
    month: Any, container: Any, kit: Any
) -> None:
    w = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    month.at(11, 12, 9)
    await month.send(w, 30)  # one CDR of 30 segments: 1.50
    month.at(11, 13, 9)
    await month.send(w, 2)  # a second CDR (0.10), which the partner's list leaves out
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    month.at(12, 3, 1)
    await month.run("statement-issue")
    st = await month.statement_of(w)
    cdrs = sorted(await w.cdrs(), key=lambda c: c.occurred_at)
    r = await month.http.post(
        f"/api/v1/statements/{st['id']}/disputes",
        files={"records": ("ours.csv", f"{cdrs[0].request_key}\n".encode(), "text/csv")},
        headers=month.partner(w),
    )
    assert r.status_code == 201, r.text
    d = r.json()
    assert (d["recordsMatched"], d["platformOnly"], d["report"]["platformOnly"]) == (1, 1, [cdrs[1].id])
    assert (d["report"]["platformOnlyAmount"], d["partnerAmount"]) == ("0.1000", "1.5000")


async def test_r_bill_05_the_raw_usage_log_streams_every_cdr_with_a_checksum(
    month: Any, container: Any, kit: Any
) -> None:
    w = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    month.at(11, 3, 9)
    await month.send(w, 250)  # three calls
    month.at(11, 28, 23, 30)
    await month.send(w, 1)
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    month.at(12, 3, 1)
    await month.run("statement-issue")
    sid = (await month.statement_of(w))["id"]
    r = await month.http.get(f"/api/v1/statements/{sid}/usage.csv", headers=month.partner(w))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    body = r.content
    head, _, last = body.rstrip(b"\r\n").rpartition(b"\r\n")
    data = head + b"\r\n"
    assert last.decode() == f"#sha256={hashlib.sha256(data).hexdigest()};rows=4"
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    cdrs = {c.id: c for c in await w.cdrs()}
    assert {row["cdr_id"] for row in rows} == set(cdrs)
    for row in rows:
        c = cdrs[row["cdr_id"]]
        assert (row["request_id"], int(row["units"]), D(row["amount_cny"]), row["price_version"]) == (
            c.request_key,
            c.quantity,
            c.amount,
            "1",
        )
    assert sum(D(row["amount_cny"]) for row in rows) == D((await month.statement_of(w))["provisional"])


async def test_r_bill_05_another_partners_statement_is_not_found(
    month: Any, container: Any, kit: Any
) -> None:
    a, b = await billed(month, container, kit, worlds=2)
    month.at(12, 3, 1)
    await month.run("statement-issue")
    sid = (await month.statement_of(a))["id"]
    as_b = month.partner(b)
    assert (await month.http.get(f"/api/v1/statements/{sid}", headers=as_b)).status_code == 404
    assert (await month.http.get(f"/api/v1/statements/{sid}/usage.csv", headers=as_b)).status_code == 404
    assert (await month.http.post(f"/api/v1/statements/{sid}/confirm", headers=as_b)).status_code == 404
    r = await month.http.post(f"/api/v1/statements/{sid}/disputes", data={"partnerTotal": "0"}, headers=as_b)
    assert r.status_code == 404
    r = await month.http.get("/api/v1/statements", params={"partner_id": a.partner_id}, headers=as_b)
    assert r.status_code == 404
    r = await month.http.get("/api/v1/statements", headers=as_b)
    assert [i["partnerId"] for i in r.json()["items"]] == [b.partner_id]
    assert (await month.statement_of(a))["state"] == "issued"  # untouched
