"""The statement pages of the console, after real gateway usage and a bill run on a moved clock: the
billing clerk's bill runs (progress, results), statements and disputes with the matching report; the
partner's statements, confirmation and dispute (total, or a record-list upload); who sees what."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.billing import statements
from openability.billing.models import BillRun, Statement
from openability.billing.types import BillRunState, StatementState

D = Decimal


async def issued(month: Any, container: Any, kit: Any, units: int = 20, worlds: int = 1) -> list[Any]:
    """Partners with `units` November segments each, billed on 1 December and issued on the 3rd."""
    out = [await kit.make_world(container, balance=D("100.0000"), caps=("sms",)) for _ in range(worlds)]
    month.at(11, 12, 9)
    for w in out:
        await month.send(w, units)
    month.at(12, 1, 0, 0, 10)
    assert await month.run("bill-run") is not None
    month.at(12, 3, 9)
    assert await month.run("statement-issue") is not None
    return out


async def state_of(container: Any, statement_id: str) -> StatementState:
    async with container.uow() as uow:
        s = await uow.session.get(Statement, statement_id)
        assert s is not None
        return s.state


def row(html: str, row_id: str) -> str:
    m = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', html, re.S)
    assert m, row_id
    return m.group(1)


async def test_r_bill_02_the_clerk_watches_the_bill_run_progress_and_reads_its_results(
    month: Any, container: Any, kit: Any, login: Any
) -> None:
    worlds = [await kit.make_world(container, balance=D("100.0000"), caps=("sms",)) for _ in range(2)]
    month.at(11, 12, 9)
    await month.send(worlds[0], 20)  # 1.00
    await month.send(worlds[1], 100)  # 5.00
    month.at(12, 1, 0, 0, 10)
    # A run half-way: one partner's statement made, the other's to come.
    async with container.uow() as uow:
        uow.session.add(
            BillRun(
                month="2026-11",
                state=BillRunState.RUNNING,
                started_at=uow.now,
                started_by="system",
                statements=0,
                total=D(0),
            )
        )
    async with container.uow() as uow:
        assert await statements.bill_partner(uow, "2026-11", worlds[0].partner_id) == 1
    clerk = await login("clerk")
    r = await clerk.get("/console/ops/billing/runs/2026-11/progress")
    assert r.status_code == 200
    assert 'hx-trigger="every 2s"' in r.text  # polled while it runs
    assert "已完成 1 / 2 个合作伙伴" in r.text and 'value="50"' in r.text
    # The run completes: its results.
    assert await month.run("bill-run") is not None
    r = await clerk.get("/console/ops/billing/runs")
    assert "已完成" in row(r.text, "run-2026-11") and "2/2" in row(r.text, "run-2026-11")
    assert "¥6.00" in row(r.text, "run-2026-11")
    r = await clerk.get("/console/ops/billing/runs/2026-11")
    assert r.status_code == 200
    assert "every 2s" not in r.text  # done: no more polling
    assert re.search(r'id="run-statements">2<', r.text) and 'id="run-total">¥6.00<' in r.text
    for w in worlds:
        assert w.partner_id in r.text
    assert 'id="issue-drafts"' in r.text  # two drafts to issue
    # The clerk issues them from the page (before the statement-issue job would, on the 3rd).
    r = await clerk.post("/console/ops/billing/runs/2026-11/issue")
    page = await clerk.follow(r)
    assert clerk.flash(page) == ("ok", "已出具 2 份结算单，并已通知合作伙伴")
    rows, _ = await _all_statements(container)
    assert {s.state for s in rows} == {StatementState.ISSUED}


async def _all_statements(container: Any) -> tuple[list[Statement], int]:
    async with container.uow() as uow:
        return list((await uow.session.scalars(select(Statement))).all()), 0


async def test_r_bill_04_the_partner_confirms_its_statement_in_the_portal(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    (w,) = await issued(month, container, kit, units=20)
    await partner_user(w, "star")
    month.at(12, 10, 9)
    star = await login("star")  # a console session lasts hours: log in after the clock moved
    r = await star.get("/console/portal/statements")
    assert r.status_code == 200
    st = await month.statement_of(w)
    line = row(r.text, f"statement-{st['id']}")
    assert "2026-11" in line and "已出具" in line and "¥1.00" in line and "确认或异议" in line
    r = await star.get(f"/console/portal/statements/{st['id']}")
    assert r.status_code == 200
    assert 'id="statement-total">¥1.00<' in r.text
    assert "sms-" in r.text and "阶梯 tier 0–1000" in r.text  # the usage line
    assert 'id="statement-rounding">¥0.0000<' in r.text and "四舍五入" in r.text
    assert f'href="/api/v1/statements/{st["id"]}/usage.csv"' in r.text
    assert 'id="confirm-statement"' in r.text and 'id="dispute-form"' in r.text
    r = await star.post(f"/console/portal/statements/{st['id']}/confirm")
    page = await star.follow(r)
    assert star.flash(page) == ("ok", "已确认 2026-11 结算单，合计 ¥1.00")
    assert await state_of(container, st["id"]) == StatementState.CONFIRMED
    assert 'id="confirm-statement"' not in page.text and "伙伴确认" in page.text
    # the raw usage log behind the link answers the partner (its console session)
    r = await star.get(f"/api/v1/statements/{st['id']}/usage.csv")
    assert r.status_code == 200 and r.text.splitlines()[-1].startswith("#sha256=")


async def test_r_bill_04_after_the_fifteenth_the_portal_offers_no_confirmation(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    (w,) = await issued(month, container, kit)
    await partner_user(w, "star")
    st = await month.statement_of(w)
    month.at(12, 16, 0, 0, 1)
    star = await login("star")
    r = await star.get(f"/console/portal/statements/{st['id']}?lang=en")
    assert 'id="confirm-statement"' not in r.text and 'id="window-closed"' in r.text
    r = await star.post(f"/console/portal/statements/{st['id']}/confirm")
    kind, text = star.flash(await star.follow(r))
    assert kind == "err" and "closed" in text
    assert await state_of(container, st["id"]) == StatementState.ISSUED


async def test_r_bill_06_a_dispute_by_total_above_five_percent_is_carried_and_shown_to_both_sides(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    (w,) = await issued(month, container, kit, units=100)  # 5.00
    await partner_user(w, "star")
    star = await login("star")
    st = await month.statement_of(w)
    r = await star.post(
        f"/console/portal/statements/{st['id']}/dispute",
        {"basis": "total", "partner_total": "4.50", "reason": "我方统计 90 条"},
        files={"records": ("", b"", "application/octet-stream")},  # the empty file input a browser sends
    )
    page = await star.follow(r)
    assert star.flash(page) == ("ok", "异议已处理：差额 ¥-0.50 超过阈值，将计入下月结算单")
    assert await state_of(container, st["id"]) == StatementState.DISPUTED
    assert 'id="dispute-outcome">差额计入下月<' in page.text
    assert 'id="dispute-discrepancy">¥-0.5000<' in page.text
    clerk = await login("clerk")
    r = await clerk.get("/console/ops/billing/disputes?outcome=adjusted&month=2026-11")
    (dispute_id,) = re.findall(r'<tr id="dispute-([^"]+)">', r.text)
    line = row(r.text, f"dispute-{dispute_id}")
    assert "按总额" in line and "¥5.0000" in line and "¥4.5000" in line and "5%" in line
    assert 'id="dispute-' not in (await clerk.get("/console/ops/billing/disputes?outcome=stands")).text
    # December's bill run carries the adjustment; the dispute page links the statement that carries it.
    month.at(12, 20, 9)
    await month.send(w, 20)
    month.at(1, 1, 0, 1, year=2027)
    await month.run("bill-run")
    clerk = await login("clerk")
    r = await clerk.get(f"/console/ops/billing/disputes/{dispute_id}")
    assert r.status_code == 200 and 'id="dispute-applied">2026-12<' in r.text
    assert "我方统计 90 条" in r.text
    dec = re.search(r'href="/console/ops/billing/statements/([^"]+)" id="dispute-applied"', r.text)
    assert dec
    r = await clerk.get(f"/console/ops/billing/statements/{dec.group(1)}")
    assert "争议调整 2026-11" in r.text and 'id="statement-adjustments">¥-0.5000<' in r.text
    assert 'id="statement-total">¥0.50<' in r.text  # 1.00 of December less the 0.50 carried


async def test_r_bill_05_a_record_list_upload_shows_the_records_on_one_side_only(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    w = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    month.at(11, 12, 9)
    await month.send(w, 30)  # 1.50
    month.at(11, 13, 9)
    await month.send(w, 2)  # 0.10, left out of the partner's list
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    month.at(12, 3, 1)
    await month.run("statement-issue")
    await partner_user(w, "star")
    star = await login("star")
    st = await month.statement_of(w)
    first, second = sorted(await w.cdrs(), key=lambda c: c.occurred_at)
    listing = f"requestId\r\n{first.request_key}\r\nnot-ours-1\r\n".encode()
    r = await star.post(
        f"/console/portal/statements/{st['id']}/dispute",
        {"basis": "records", "reason": ""},
        files={"records": ("ours.csv", listing, "text/csv")},
    )
    page = await star.follow(r)
    assert star.flash(page)[0] == "ok"
    assert 'id="report-platform-only">1<' in page.text and 'id="report-partner-only">1<' in page.text
    assert second.id in page.text and "not-ours-1" in page.text
    assert 'id="dispute-partner-amount">¥1.5000<' in page.text
    # 0.10 of 1.60 is more than 5%: carried
    assert 'id="dispute-outcome">差额计入下月<' in page.text
    clerk = await login("clerk")
    r = await clerk.get("/console/ops/billing/disputes")
    (dispute_id,) = re.findall(r'<tr id="dispute-([^"]+)">', r.text)
    r = await clerk.get(f"/console/ops/billing/disputes/{dispute_id}?lang=en")
    assert "Records on the platform only" in r.text and second.id in r.text and "not-ours-1" in r.text


async def test_r_bill_05_a_record_list_that_is_not_utf8_is_refused_with_nothing_written(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    (w,) = await issued(month, container, kit)
    await partner_user(w, "star")
    star = await login("star")
    st = await month.statement_of(w)
    r = await star.post(
        f"/console/portal/statements/{st['id']}/dispute",
        {"basis": "records"},
        files={"records": ("ours.csv", "编号\n".encode("gb18030"), "text/csv")},
    )
    assert star.flash(await star.follow(r)) == ("err", "记录清单须为 UTF-8 编码的 CSV 文件")
    assert await state_of(container, st["id"]) == StatementState.ISSUED


async def test_r_bill_05_another_partners_statement_page_is_not_found(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    a, b = await issued(month, container, kit, worlds=2)
    await partner_user(b, "other")
    other = await login("other")
    st = await month.statement_of(a)
    r = await other.get(f"/console/portal/statements/{st['id']}")
    assert r.status_code == 404
    r = await other.get("/console/portal/statements")
    assert st["id"] not in r.text and "2026-11" in r.text  # its own statement only
    r = await other.post(f"/console/portal/statements/{st['id']}/confirm")
    assert other.flash(await other.follow(r))[0] == "err"
    assert await state_of(container, st["id"]) == StatementState.ISSUED
    assert (await other.get(f"/api/v1/statements/{st['id']}/usage.csv")).status_code == 404


async def test_r_bill_03_a_draft_is_the_billing_offices_until_it_is_issued(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    w = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    month.at(11, 12, 9)
    await month.send(w, 20)
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    st = await month.statement_of(w)
    await partner_user(w, "star")
    star = await login("star")
    assert (await star.get(f"/console/portal/statements/{st['id']}")).status_code == 404
    clerk = await login("clerk")
    r = await clerk.get(f"/console/ops/billing/statements/{st['id']}")
    assert r.status_code == 200 and 'id="statement-state">草稿<' in r.text and 'id="issue-drafts"' in r.text
    assert 'id="confirm-statement"' not in r.text


async def test_r_bill_04_the_clerk_lists_and_filters_statements_and_confirms_for_the_partner(
    month: Any, container: Any, kit: Any, login: Any
) -> None:
    a, b = await issued(month, container, kit, worlds=2)
    sa, sb = await month.statement_of(a), await month.statement_of(b)
    clerk = await login("clerk")
    r = await clerk.get("/console/ops/billing/statements?month=2026-11&state=issued")
    assert f'id="statement-{sa["id"]}"' in r.text and f'id="statement-{sb["id"]}"' in r.text
    r = await clerk.get(f"/console/ops/billing/statements?partner_id={a.partner_id}")
    assert f'id="statement-{sa["id"]}"' in r.text and f'id="statement-{sb["id"]}"' not in r.text
    r = await clerk.get(f"/console/ops/partners/{a.partner_id}")  # the partner page's statements section
    section = r.text.split('id="partner-statements"', 1)[1].split("</table>", 1)[0]
    assert f'href="/console/ops/billing/statements/{sa["id"]}"' in section and "已出具" in section
    r = await clerk.get("/console/ops/billing/statements?limit=1")
    assert 'id="next-page"' in r.text and len(re.findall(r'<tr id="statement-', r.text)) == 1
    r = await clerk.get("/console/ops/billing/statements?month=2026-13")
    assert clerk.flash(await clerk.follow(r))[0] == "err"
    r = await clerk.get(f"/console/ops/billing/statements/{sa['id']}")
    assert "代合作伙伴确认或提出异议" in r.text
    r = await clerk.post(f"/console/ops/billing/statements/{sa['id']}/confirm")
    assert clerk.flash(await clerk.follow(r))[0] == "ok"
    assert await state_of(container, sa["id"]) == StatementState.CONFIRMED
    # a service agent reads statements, but acting on them is the billing office's
    agent = await login("agent")
    r = await agent.get(f"/console/ops/billing/statements/{sb['id']}")
    assert r.status_code == 200 and 'id="confirm-statement"' not in r.text
    r = await agent.post(f"/console/ops/billing/statements/{sb['id']}/confirm")
    assert agent.flash(await agent.follow(r))[0] == "err"
    assert await state_of(container, sb["id"]) == StatementState.ISSUED
    # a form without its CSRF token changes nothing
    r = await clerk.post(f"/console/ops/billing/statements/{sb['id']}/confirm", csrf=False)
    assert clerk.flash(await clerk.follow(r)) == ("err", "表单已过期，请刷新页面后重试")
    assert await state_of(container, sb["id"]) == StatementState.ISSUED
