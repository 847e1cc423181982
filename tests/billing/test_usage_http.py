"""Usage read API: daily rollups (JSON/CSV) and CDR listing; each partner sees only its own."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from openability.bootstrap import Container
from openability.catalog.models import Product
from openability.charging import usage
from openability.charging.models import UsageDaily, UsageRecord
from openability.kernel.errors import InvalidArgument
from openability.kernel.ids import new_id
from openability.ledger.models import JournalEntry
from openability.ledger.types import EntryKind

D = Decimal


def err(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    b: dict[str, Any] = r.json()
    if code:
        assert b["code"] == code, b
    return b


async def add_usage(
    container: Container, partner_id: str, product_code: str, day: date, calls: int, qty: int, amount: str
) -> None:
    """Rows as the CDR writer leaves them: one CDR (with its journal entry) and the daily rollup."""
    from sqlalchemy import select

    async with container.uow() as uow:
        s = uow.session
        product = await s.scalar(select(Product).where(Product.code == product_code))
        assert product is not None
        je = JournalEntry(id=new_id("je"), kind=EntryKind.CHARGE, memo="test", created_at=uow.now)
        s.add(je)
        await s.flush()
        month = f"{day.year:04d}-{day.month:02d}"
        s.add(
            UsageRecord(
                id=new_id("cdr"),
                partner_id=partner_id,
                product_id=product.id,
                capability=product.capability_code,
                operation="sendMessage",
                client_id="cli_test",
                request_key=new_id("req"),
                quantity=qty,
                unit=product.unit,
                amount=D(amount),
                billing_mode="prepaid",
                price_plan_id="pp_test",
                band="list",
                scope="national",
                month=month,
                journal_entry_id=je.id,
                occurred_at=datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC),
                recipients=["+8613800000000"],
                response={},
            )
        )
        s.add(
            UsageDaily(
                partner_id=partner_id,
                product_id=product.id,
                day=day,
                price_plan_id="pp_test",
                band="list",
                scope="national",
                month=month,
                calls=calls,
                quantity=qty,
                amount=D(amount),
            )
        )


@pytest.fixture
async def two_partners(container: Container, seeded: None, make_partner: Any) -> tuple[str, str]:
    a = await make_partner("AP")
    b = await make_partner("SI")
    await add_usage(container, a.id, "sms-standard", date(2026, 11, 1), 10, 12, "0.6000")
    await add_usage(container, a.id, "sms-standard", date(2026, 11, 2), 5, 5, "0.2500")
    await add_usage(container, a.id, "voice-notify", date(2026, 11, 2), 2, 3, "0.4500")
    await add_usage(container, a.id, "sms-standard", date(2026, 10, 31), 1, 1, "0.0500")
    await add_usage(container, b.id, "sms-standard", date(2026, 11, 2), 7, 7, "0.3360")
    return a.id, b.id


async def test_usage_json_own_partner(
    api: httpx.AsyncClient, auth: Any, two_partners: tuple[str, str]
) -> None:
    a, _ = two_partners
    r = await api.get("/api/v1/usage", headers=auth.partner(a), params={"month": "2026-11"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["month"] == "2026-11" and u["partnerId"] == a and u["currency"] == "CNY"
    assert [(i["day"], i["product"], i["calls"], i["quantity"], i["amount"]) for i in u["items"]] == [
        ("2026-11-01", "sms-standard", 10, 12, "0.6000"),
        ("2026-11-02", "sms-standard", 5, 5, "0.2500"),
        ("2026-11-02", "voice-notify", 2, 3, "0.4500"),
    ]
    assert u["totals"] == {"calls": 17, "quantity": 20, "amount": "1.3000"}
    # default month is the current one (clock: 2026-11-02 Asia/Shanghai)
    assert (await api.get("/api/v1/usage", headers=auth.partner(a))).json()["totals"]["calls"] == 17
    r = await api.get(
        "/api/v1/usage", headers=auth.partner(a), params={"month": "2026-11", "product": "voice-notify"}
    )
    assert r.json()["totals"] == {"calls": 2, "quantity": 3, "amount": "0.4500"}
    r = await api.get("/api/v1/usage", headers=auth.partner(a), params={"month": "2026-10"})
    assert r.json()["totals"]["amount"] == "0.0500"
    r = await api.get("/api/v1/usage", headers=auth.partner(a), params={"month": "2026-09"})
    assert r.json()["items"] == [] and r.json()["totals"] == {"calls": 0, "quantity": 0, "amount": "0.0000"}


async def test_usage_csv_export(api: httpx.AsyncClient, auth: Any, two_partners: tuple[str, str]) -> None:
    a, _ = two_partners
    r = await api.get("/api/v1/usage", headers=auth.partner(a), params={"month": "2026-11", "format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="usage-2026-11-{a}.csv"'
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["month", "day", "partner_id", "product", "calls", "quantity", "amount_cny"]
    assert rows[1] == ["2026-11", "2026-11-01", a, "sms-standard", "10", "12", "0.6000"]
    assert len(rows) == 4


async def test_usage_isolation_and_operator_view(
    api: httpx.AsyncClient, auth: Any, two_partners: tuple[str, str]
) -> None:
    a, b = two_partners
    err(await api.get("/api/v1/usage", headers=auth.partner(a), params={"partner_id": b}), 404)
    err(await api.get("/api/v1/usage/records", headers=auth.partner(a), params={"partner_id": b}), 404)
    r = await api.get("/api/v1/usage", headers=auth.partner(b), params={"month": "2026-11"})
    assert r.json()["totals"] == {"calls": 7, "quantity": 7, "amount": "0.3360"}
    r = await api.get("/api/v1/usage", headers=auth.operator, params={"month": "2026-11", "partner_id": a})
    assert r.json()["totals"]["calls"] == 17
    r = await api.get("/api/v1/usage", headers=auth.operator, params={"month": "2026-11"})
    assert r.json()["partnerId"] is None and r.json()["totals"]["calls"] == 24
    r = await api.get("/api/v1/usage", headers=auth.operator, params={"month": "2026-11", "format": "csv"})
    assert r.headers["content-disposition"] == 'attachment; filename="usage-2026-11.csv"'
    err(await api.get("/api/v1/usage"), 401)


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-1", "26-11", "2026/11", "november", "2026-00", "2026-11-01"]
)
async def test_usage_bad_month(
    api: httpx.AsyncClient, auth: Any, two_partners: tuple[str, str], month: str
) -> None:
    a, _ = two_partners
    err(
        await api.get("/api/v1/usage", headers=auth.partner(a), params={"month": month}), 400, "INVALID_MONTH"
    )
    err(
        await api.get("/api/v1/usage/records", headers=auth.partner(a), params={"month": month}),
        400,
        "INVALID_MONTH",
    )


async def test_usage_bad_filters(api: httpx.AsyncClient, auth: Any, two_partners: tuple[str, str]) -> None:
    a, _ = two_partners
    h = auth.partner(a)
    err(await api.get("/api/v1/usage", headers=h, params={"product": "nope"}), 404)
    err(await api.get("/api/v1/usage", headers=h, params={"format": "xml"}), 400, "INVALID_ARGUMENT")
    err(await api.get("/api/v1/usage/records", headers=h, params={"limit": 0}), 400)
    err(await api.get("/api/v1/usage/records", headers=h, params={"offset": "x"}), 400)


async def test_operator_unknown_partner_id_404(
    api: httpx.AsyncClient, auth: Any, two_partners: tuple[str, str]
) -> None:
    # An operator naming an unknown partner gets 404, not an empty (and misleading) 200.
    a, _ = two_partners
    for url in ("/api/v1/usage", "/api/v1/usage/records"):
        for params in ({"partner_id": "prt_nobody"}, {"partner_id": "prt_nobody", "format": "csv"}):
            if url.endswith("records") and "format" in params:
                continue
            b = err(await api.get(url, headers=auth.operator, params=params), 404, "NOT_FOUND")
            assert "prt_nobody" in b["message"]
        r = await api.get(url, headers=auth.operator, params={"partner_id": a, "month": "2026-11"})
        assert r.status_code == 200 and r.json()["items"]
        r = await api.get(url, headers=auth.operator, params={"month": "2026-11"})  # all partners
        assert r.status_code == 200 and r.json()["items"]


async def test_usage_records(api: httpx.AsyncClient, auth: Any, two_partners: tuple[str, str]) -> None:
    a, _ = two_partners
    h = auth.partner(a)
    r = await api.get("/api/v1/usage/records", headers=h, params={"month": "2026-11"})
    page = r.json()
    assert page["total"] == 3 and page["limit"] == 50
    assert all(i["partnerId"] == a for i in page["items"])
    assert page["items"][0]["occurredAt"] >= page["items"][-1]["occurredAt"]
    first = page["items"][0]
    assert first["amount"].count(".") == 1 and first["recipients"] == ["+8613800000000"]
    r = await api.get(
        "/api/v1/usage/records",
        headers=h,
        params={"month": "2026-11", "product": "sms-standard", "limit": 1, "offset": 1},
    )
    assert (
        r.json()["total"] == 2
        and len(r.json()["items"]) == 1
        and r.json()["items"][0]["product"] == "sms-standard"
    )


def test_parse_month() -> None:
    now = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)  # already November in Asia/Shanghai
    assert usage.parse_month(None, now) == "2026-11"
    assert usage.parse_month("2025-01", now) == "2025-01"
    with pytest.raises(InvalidArgument):
        usage.parse_month("2025-1", now)
