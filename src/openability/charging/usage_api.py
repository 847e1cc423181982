"""Usage read API (installed by billing.api): daily rollups with totals (JSON or CSV) and CDR listing."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from openability.catalog.schemas import ApiModel
from openability.charging import usage
from openability.kernel.money import fmt
from openability.kernel.web import CurrentActor, Limit, Offset, uow_for

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


class UsageRowOut(ApiModel):
    day: date
    partner_id: str
    product_id: str
    product: str
    calls: int
    quantity: int
    amount: str


class UsageTotalsOut(ApiModel):
    calls: int
    quantity: int
    amount: str


class UsageOut(ApiModel):
    month: str
    partner_id: str | None
    product: str | None
    currency: str = "CNY"
    items: list[UsageRowOut]
    totals: UsageTotalsOut


class UsageRecordOut(ApiModel):
    id: str
    partner_id: str
    product_id: str
    product: str
    capability: str
    operation: str
    client_id: str
    request_key: str
    quantity: int
    unit: str
    amount: str
    billing_mode: str
    price_plan_id: str
    band: str
    scope: str
    month: str
    occurred_at: datetime
    recipients: list[str]


class UsageRecordPage(BaseModel):
    items: list[UsageRecordOut]
    total: int
    offset: int
    limit: int


@router.get("", response_model=UsageOut, responses={200: {"content": {"text/csv": {}}}})
async def get_usage(
    request: Request,
    actor: CurrentActor,
    month: str | None = None,
    product: str | None = None,
    partner_id: str | None = None,
    format: Literal["json", "csv"] = "json",
) -> UsageOut | Response:
    async with uow_for(request, actor) as uow:
        s = await usage.usage_summary(uow, month=month, product=product, partner_id=partner_id)
    if format == "csv":
        # An operator's partner_id filter is free text: only id characters may reach the header (a
        # non-latin-1 character cannot be sent at all, a quote would end the filename).
        suffix = re.sub(r"[^A-Za-z0-9_-]", "_", s.partner_id) if s.partner_id else ""
        name = f"usage-{s.month}" + (f"-{suffix}" if suffix else "") + ".csv"
        return Response(
            usage.usage_csv(s),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return UsageOut(
        month=s.month,
        partner_id=s.partner_id,
        product=product,
        items=[
            UsageRowOut(
                day=r.day,
                partner_id=r.partner_id,
                product_id=r.product_id,
                product=r.product_code,
                calls=r.calls,
                quantity=r.quantity,
                amount=fmt(r.amount),
            )
            for r in s.rows
        ],
        totals=UsageTotalsOut(calls=s.calls, quantity=s.quantity, amount=fmt(s.amount)),
    )


@router.get("/records")
async def list_records(
    request: Request,
    actor: CurrentActor,
    month: str | None = None,
    product: str | None = None,
    partner_id: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> UsageRecordPage:
    async with uow_for(request, actor) as uow:
        rows, total, codes = await usage.list_usage_records(
            uow, month=month, product=product, partner_id=partner_id, offset=offset, limit=limit
        )
    return UsageRecordPage(
        items=[
            UsageRecordOut(
                id=r.id,
                partner_id=r.partner_id,
                product_id=r.product_id,
                product=codes.get(r.product_id, r.product_id),
                capability=r.capability,
                operation=r.operation,
                client_id=r.client_id,
                request_key=r.request_key,
                quantity=r.quantity,
                unit=r.unit,
                amount=fmt(r.amount),
                billing_mode=r.billing_mode,
                price_plan_id=r.price_plan_id,
                band=r.band,
                scope=r.scope,
                month=r.month,
                occurred_at=r.occurred_at,
                recipients=list(r.recipients),
            )
            for r in rows
        ],
        total=total,
        offset=offset,
        limit=limit,
    )
