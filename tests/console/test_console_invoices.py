"""Invoice pages (issue 7 item 7): the portal's invoices with the VAT split, PDF download and the invoice
profile form; the clerks' invoices with the fapiao number entry. Through the whole app, logged in."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

CODE = "91350100M000100Y43"


async def test_the_portal_lists_invoices_with_the_split_and_downloads_the_pdf(
    browser: Any, world: Any
) -> None:
    await browser.login("ap1user")
    r = await browser.get("/console/portal/invoices")
    assert r.status_code == 200
    assert "INV-202611-000001" in r.text and "价税合计" in r.text and "预付费充值" in r.text
    assert "¥94.34" in r.text and "¥5.66" in r.text and "¥100.00" in r.text  # 100.00 at 6%
    assert "待税务开票" in r.text and 'id="profile-form"' in r.text
    r = await browser.get("/console/portal/invoices?lang=en")
    assert "Amount before tax" in r.text and "Awaiting fapiao" in r.text and "价税合计" not in r.text
    inv_id = r.text.split('id="pdf-', 1)[1].split('"', 1)[0]
    r = await browser.get(f"/console/portal/invoices/{inv_id}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "星河软件有限公司" in text and "壹佰元整" in text
    await browser.login("ap2user")  # another partner's invoice: not found
    assert (await browser.get(f"/console/portal/invoices/{inv_id}/pdf")).status_code == 404


async def test_the_portal_invoice_profile_form(browser: Any, world: Any) -> None:
    await browser.login("ap1user")
    r = await browser.post(
        "/console/portal/invoices/profile", {"buyer_name": "星河软件有限公司", "invoice_type": "special"}
    )
    kind, text = browser.flash(await browser.follow(r))
    assert kind == "err" and "creditCode" in text
    form = {
        "buyer_name": "星河软件有限公司",
        "credit_code": CODE,
        "bank_name": "招商银行深圳分行",
        "bank_account": "755912345610001",
        "address": "深圳市南山区科技园 1 号",
        "phone": "0755-86868686",
        "invoice_type": "special",
    }
    r = await browser.follow(await browser.post("/console/portal/invoices/profile", form))
    assert browser.flash(r) == ("ok", "开票信息已保存")
    assert f'value="{CODE}"' in r.text and 'value="special" selected' in r.text


async def test_a_clerk_records_the_fapiao_number_on_the_invoices_page(browser: Any, world: Any) -> None:
    await browser.login("reviewer")
    r = await browser.get("/console/ops/invoices")
    assert r.status_code == 200 and "INV-202611-000001" in r.text and 'name="fapiao_number"' not in r.text
    await browser.login("clerk")
    r = await browser.get("/console/ops/invoices")
    assert 'name="fapiao_number"' in r.text and "星河软件有限公司" in r.text
    inv_id = r.text.split('id="fapiao-', 1)[1].split('"', 1)[0]
    url = f"/console/ops/invoices/{inv_id}/fapiao"
    r = await browser.follow(await browser.post(url, {"fapiao_number": "1234", "fapiao_date": "2026-11-02"}))
    assert browser.flash(r)[0] == "err"
    r = await browser.follow(
        await browser.post(url, {"fapiao_number": "26112000000000000001", "fapiao_date": "2026-11-02"})
    )
    assert browser.flash(r) == ("ok", "已录入税务发票号码 26112000000000000001（INV-202611-000001）")
    assert "<code>26112000000000000001</code>" in r.text
    r = await browser.get("/console/ops/invoices?state=issued")
    assert "INV-202611-000001" not in r.text
    r = await browser.get(f"/console/ops/invoices/{inv_id}/pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
