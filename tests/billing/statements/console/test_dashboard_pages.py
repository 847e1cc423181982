"""The operator dashboard after real gateway usage, a bill run and a clock moved into the next months:
its figures against the ledger and the rollups, the CSV exports (a BOM, the header, the rows), the
receivables ageing of a postpaid partner's statement past its due date (R-BILL-07), and who may see it."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.billing.models import Statement
from openability.ledger.types import AccountType
from openability.partners.models import Partner
from openability.partners.types import BillingMode, PartnerKind

D = Decimal
BOM = b"\xef\xbb\xbf"


def cell(html: str, element_id: str) -> str:
    m = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', html)
    assert m, element_id
    return m.group(1).strip()


def money(text: str) -> Decimal:
    return D(text.replace("¥", "").replace(",", ""))


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def a_month_of_two_partners(month: Any, container: Any, kit: Any) -> tuple[Any, Any]:
    """A prepaid AP (星河软件) and a postpaid SI: November used and billed (issued on the 3rd), then
    December usage, not billed yet."""
    ap = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    si = await kit.make_world(
        container,
        kind=PartnerKind.SI,
        billing_mode=BillingMode.POSTPAID,
        balance=D(0),
        caps=("sms",),
        products=ap.products,
    )
    async with container.uow() as uow:
        p = await uow.session.get(Partner, ap.partner_id)
        assert p is not None
        p.name = "星河软件有限公司"
    month.at(11, 12, 9)
    await month.send(ap, 100)  # 5.00
    await month.send(si, 40)  # 2.00
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    month.at(12, 3, 9)
    await month.run("statement-issue")
    month.at(12, 5, 9)
    await month.send(ap, 20)
    await month.send(si, 60)
    return ap, si


async def test_the_dashboards_figures_are_the_ledgers_and_the_rollups(
    month: Any, container: Any, kit: Any, login: Any, assert_ledger_clean: Any
) -> None:
    ap, si = await a_month_of_two_partners(month, container, kit)
    clerk = await login("clerk")
    r = await clerk.get("/console/ops/billing/dashboard?month=2026-12")
    assert r.status_code == 200
    html = r.text
    assert html.count('<svg class="chart"') >= 5  # server-drawn charts, no script
    async with container.uow() as uow:
        billed = sum(
            (
                s.total
                for s in (await uow.session.scalars(select(Statement).where(Statement.month == "2026-11")))
            ),
            D(0),
        )
    # November: billed (the statements); December: what real time charged (the CDRs behind the rollups)
    nov = re.search(r'<tr id="month-2026-11">(.*?)</tr>', html, re.S)
    dec = re.search(r'<tr id="month-2026-12">(.*?)</tr>', html, re.S)
    assert nov and dec
    assert f"¥{billed:,.2f}" in nov.group(1) and "已出账" in nov.group(1)
    december = [c for w in (ap, si) for c in await w.cdrs() if c.month == "2026-12"]
    charged = sum((c.amount for c in december), D(0))
    assert f"¥{charged:,.4f}" in dec.group(1) and "未出账" in dec.group(1)
    assert money(cell(html, "product-total")) == charged
    assert money(cell(html, "partner-total")) == charged
    sms = re.search(r'<tr id="capability-sms">(.*?)</tr>', html, re.S)
    assert sms and f'<td class="num">{len(december)}</td>' in sms.group(1)
    # the prepaid float is the sum of the partners' prepaid accounts in the ledger
    balances = [await w.balances() for w in (ap, si)]
    available = sum((b[AccountType.PREPAID_AVAILABLE] for b in balances), D(0))
    reserved = sum((b[AccountType.PREPAID_RESERVED] for b in balances), D(0))
    assert money(cell(html, "float-available")) == available
    assert money(cell(html, "float-total")) == available + reserved
    # top 1: one partner named, the other summed; the totals are still every partner's
    html = (await clerk.get("/console/ops/billing/dashboard?month=2026-12&top=1")).text
    assert len(re.findall(r'<tr id="partner-prt_', html)) == 1 and "其他 1 家" in html
    assert money(cell(html, "partner-total")) == charged
    assert money(cell(html, "float-available")) == available
    await assert_ledger_clean()


async def test_r_bill_07_an_unpaid_postpaid_statement_ages_from_its_due_date(
    month: Any, container: Any, kit: Any, login: Any
) -> None:
    _ap, si = await a_month_of_two_partners(month, container, kit)
    st = await month.statement_of(si)
    month.at(1, 10, 9, year=2027)  # November's statement was due by the end of 26 December
    clerk = await login("root")
    r = await clerk.get("/console/ops/billing/dashboard")
    html = r.text
    receivable = (await si.balances())[AccountType.RECEIVABLE]
    december = sum((c.amount for c in await si.cdrs() if c.month == "2026-12"), D(0))
    assert receivable == D(st["exact"]) + december
    assert money(cell(html, "ageing-total")) == receivable
    assert money(cell(html, "ageing-1-30")) == D(st["total"])  # 15 days past due
    assert money(cell(html, "ageing-unbilled")) == december  # December is not billed yet
    assert money(cell(html, "ageing-current")) == 0
    r = await clerk.get("/console/ops/billing/dashboard/receivables-ageing.csv")
    header, *lines = rows_of(r.content)
    assert header[:4] == ["截至", "合作伙伴编号", "合作伙伴", "应收余额"]
    assert header[4:] == [
        "未出账",
        "未到期",
        "逾期 1–30 天",
        "逾期 31–60 天",
        "逾期 61–90 天",
        "逾期 90 天以上",
    ]
    (line,) = lines
    assert line[:2] == ["2027-01-10", si.partner_id]
    assert D(line[3]) == receivable and D(line[6]) == D(st["total"])


async def test_the_csv_exports_carry_a_bom_the_header_and_the_rows(
    month: Any, container: Any, kit: Any, login: Any
) -> None:
    ap, si = await a_month_of_two_partners(month, container, kit)
    clerk = await login("clerk")
    r = await clerk.get("/console/ops/billing/dashboard/revenue-by-partner.csv?month=2026-11")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="revenue-by-partner-2026-11.csv"' in r.headers["content-disposition"]
    header, *lines = rows_of(r.content)
    assert header == ["月份", "合作伙伴编号", "合作伙伴", "调用次数", "计费量", "金额", "口径"]
    by_id = {ln[1]: ln for ln in lines}
    assert by_id[ap.partner_id] == [
        "2026-11",
        ap.partner_id,
        "星河软件有限公司",
        "1",
        "100",
        "5.0000",
        "已出账",
    ]
    assert set(by_id) == {ap.partner_id, si.partner_id}
    r = await clerk.get("/console/ops/billing/dashboard/revenue-by-month.csv?month=2026-12&lang=en")
    header, *lines = rows_of(r.content)
    assert header[0] == "Month" and len(lines) == 12 and lines[-1][0] == "2026-12"
    r = await clerk.get("/console/ops/billing/dashboard/prepaid-float.csv")
    header, *lines = rows_of(r.content)
    assert {ln[0] for ln in lines} == {ap.partner_id}  # the postpaid SI holds no prepaid money
    assert D(lines[0][4]) == (await ap.prepaid_total())
    for section in ("revenue-by-product", "traffic-by-capability"):
        r = await clerk.get(f"/console/ops/billing/dashboard/{section}.csv?month=2026-11")
        header, *lines = rows_of(r.content)
        assert header[0] == "月份" and lines, section
    assert (await clerk.get("/console/ops/billing/dashboard/nothing.csv")).status_code == 404


async def test_the_dashboard_is_for_admins_and_billing_clerks_only(
    month: Any, container: Any, kit: Any, login: Any, partner_user: Any
) -> None:
    ap = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    agent = await login("agent")
    assert (await agent.get("/console/ops/billing/dashboard")).status_code == 403
    assert (await agent.get("/console/ops/billing/dashboard/prepaid-float.csv")).status_code == 403
    r = await agent.get("/console/ops/billing")
    assert r.headers["location"] == "/console/ops/billing/statements"
    await partner_user(ap, "star")
    star = await login("star")
    r = await star.get("/console/ops/billing/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/console/portal"
    clerk = await login("clerk")
    assert (await clerk.get("/console/ops/billing")).headers["location"] == "/console/ops/billing/dashboard"
    r = await clerk.get("/console/ops/billing/dashboard?month=2026-13")
    assert clerk.flash(await clerk.follow(r))[0] == "err"
