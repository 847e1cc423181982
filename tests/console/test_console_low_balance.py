"""The portal's low-balance alert form (issue 7 item 9): a prepaid partner's admin sets the threshold
below which it gets one notice per crossing, changes it, and removes it; a bad amount is refused with
its reason and leaves the alert as it was."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from openability.billing.models import LowBalanceAlert
from openability.bootstrap import Container


async def threshold(container: Container, partner_id: str) -> Decimal | None:
    async with container.uow() as uow:
        row = await uow.session.get(LowBalanceAlert, partner_id)
        return row.threshold if row is not None else None


async def test_a_partner_sets_changes_and_removes_its_low_balance_alert(
    browser: Any, world: Any, container: Container
) -> None:
    await browser.login("ap1user")
    page = await browser.get("/console/portal/topup")
    assert 'id="low-balance-form"' in page.text and "尚未设置" in page.text

    page = await browser.follow(await browser.post("/console/portal/low-balance", {"threshold": "50.00"}))
    assert browser.flash(page) == ("ok", "余额低于 ¥50.00 时将提醒您")
    assert await threshold(container, world.ap_id) == Decimal("50.00")
    assert 'id="low-balance-threshold">¥50.0000' in page.text

    page = await browser.follow(await browser.post("/console/portal/low-balance", {"threshold": "1e3"}))
    kind, text = browser.flash(page)
    assert kind == "err" and "threshold" in text
    assert await threshold(container, world.ap_id) == Decimal("50.00")

    page = await browser.follow(await browser.post("/console/portal/low-balance", {"threshold": "80"}))
    assert await threshold(container, world.ap_id) == Decimal("80.00")

    page = await browser.follow(await browser.post("/console/portal/low-balance", {"threshold": ""}))
    assert browser.flash(page) == ("ok", "已取消余额提醒")
    assert await threshold(container, world.ap_id) is None


async def test_the_form_needs_the_csrf_token(browser: Any, world: Any, container: Container) -> None:
    await browser.login("ap1user")
    r = await browser.post("/console/portal/low-balance", {"threshold": "50.00"}, csrf=False)
    assert r.status_code in (303, 403)
    assert await threshold(container, world.ap_id) is None
