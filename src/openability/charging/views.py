"""Console pages of the charging domain: the portal's usage by month (per product and per day, with
a chart and the CSV export link). Partner users only; each sees its own partner's usage."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from openability.charging import usage
from openability.console.pagekit import PartnerPage, page
from openability.console.web import lang_of, redirect
from openability.kernel.errors import AppError
from openability.kernel.web import container_of

router = APIRouter(prefix="/console", include_in_schema=False)

USAGE = "/console/portal/usage"


@router.get("/portal/usage")
async def usage_page(request: Request, actor: PartnerPage, month: str = "") -> Response:
    lang = lang_of(request)
    try:
        async with container_of(request).uow(actor) as uow:
            summary = await usage.usage_summary(uow, month=month.strip() or None)
            names = await usage.product_names(uow)
    except AppError as exc:
        return redirect(USAGE, error=exc.message)
    products = usage.by_product(summary, names)
    rows = [
        {
            "day": r.day,
            "name": names.get(r.product_id, (r.product_code, r.product_code, r.product_code))[
                1 if lang == "zh" else 2
            ],
            "code": r.product_code,
            "calls": r.calls,
            "quantity": r.quantity,
            "amount": r.amount,
        }
        for r in summary.rows
    ]
    return page(
        request,
        "charging_portal_usage.html",
        actor,
        summary=summary,
        month=summary.month,
        rows=rows,
        by_product=products,
        chart=[(p.name_zh if lang == "zh" else p.name_en, p.amount) for p in products],
        csv_url=f"/api/v1/usage?format=csv&month={summary.month}",
    )
