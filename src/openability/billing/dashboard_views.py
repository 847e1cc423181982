"""The operator dashboard (admin and billing clerks): revenue by month (the last 12), by product and by
partner (top N) for a chosen month, traffic by capability, receivables ageing, the prepaid float. The
charts are SVG drawn on the server (console/web.bar_chart, console/charts.column_chart); each table has
a CSV export, `/console/ops/billing/dashboard/<section>.csv`, streamed, UTF-8 with a BOM so that Excel
opens the Chinese names as text. The figures are billing/dashboard.py's read models."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from openability.billing import dashboard, dashboard_rules, statements
from openability.billing.statement_views import OPS, billing_label, bpage
from openability.console.pagekit import OperatorPage, error_page, label, tr
from openability.console.web import lang_of, redirect
from openability.kernel.errors import AppError, NotFound
from openability.kernel.money import fmt, format_fen, round_fen
from openability.kernel.uow import UnitOfWork
from openability.kernel.web import container_of

router = APIRouter(prefix="/console", include_in_schema=False)

DASHBOARD = f"{OPS}/dashboard"
BOM = "\ufeff".encode()
MAX_TOP = 100


def _top(raw: str) -> int:
    try:
        return max(1, min(int(raw), MAX_TOP)) if raw else 10
    except ValueError:
        return 10


def _month(uow: UnitOfWork, raw: str) -> str:
    return statements.parse_month(raw.strip()) if raw.strip() else dashboard.default_month(uow)


@router.get("/ops/billing/dashboard")
async def dashboard_page(request: Request, actor: OperatorPage, month: str = "", top: str = "") -> Response:
    lang = lang_of(request)
    n = _top(top)
    try:
        async with container_of(request).uow(actor) as uow:
            m = _month(uow, month)
            months = await dashboard.revenue_by_month(uow, m)
            products = await dashboard.revenue_by_product(uow, m)
            partners = await dashboard.revenue_by_partner(uow, m, n)
            traffic = await dashboard.traffic_by_capability(uow, m)
            ageing = await dashboard.receivables_ageing(uow, n)
            float_ = await dashboard.prepaid_float(uow, n)
    except AppError as exc:
        if month:
            return redirect(DASHBOARD, error=exc.message)
        return error_page(request, actor, exc, OPS)

    def name(zh: str, en: str) -> str:
        return zh if lang == "zh" else en

    return bpage(
        request,
        "billing_ops_dashboard.html",
        actor,
        month=m,
        top=n,
        months=months,
        products=products,
        partners=partners,
        traffic=traffic,
        ageing=ageing,
        buckets=dashboard_rules.BUCKETS,
        float_=float_,
        month_chart=[(r.month, r.revenue, format_fen(r.revenue)) for r in months],
        month_chart_light={i for i, r in enumerate(months) if r.billed is None},
        product_chart=[(name(p.name_zh, p.name_en), round_fen(p.amount)) for p in products.rows],
        partner_chart=[(p.name, round_fen(p.amount)) for p in partners.rows],
        traffic_chart=[(label(t.capability, lang), t.calls) for t in traffic],
        ageing_chart=[(billing_label(b, lang), round_fen(ageing.totals[b])) for b in dashboard_rules.BUCKETS],
        csv=lambda section: f"{DASHBOARD}/{section}.csv?month={m}",
    )


# ---- CSV exports ----------------------------------------------------------------------------------------


def _line(values: Sequence[object]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue().encode()


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """The BOM and the header, then the rows a few hundred at a time."""
    yield BOM + _line(header)
    buf: list[bytes] = []
    for row in rows:
        buf.append(_line(row))
        if len(buf) >= 500:
            yield b"".join(buf)
            buf.clear()
    if buf:
        yield b"".join(buf)


Table = tuple[list[str], list[list[Any]]]


async def _revenue_by_month(request: Request, uow: UnitOfWork, month: str) -> Table:
    rows = await dashboard.revenue_by_month(uow, month)
    header = [
        tr(request, "月份"),
        tr(request, "调用次数"),
        tr(request, "计费量"),
        tr(request, "实时计费"),
        tr(request, "出账金额"),
        tr(request, "结算单数"),
        tr(request, "口径"),
    ]
    return header, [
        [
            r.month,
            r.calls,
            r.quantity,
            fmt(r.charged),
            fmt(r.billed) if r.billed is not None else "",
            r.statements,
            billing_label(r.basis, lang_of(request)),
        ]
        for r in rows
    ]


async def _revenue_by_product(request: Request, uow: UnitOfWork, month: str) -> Table:
    b = await dashboard.revenue_by_product(uow, month)
    lang = lang_of(request)
    header = [
        tr(request, "月份"),
        tr(request, "产品编码"),
        tr(request, "产品"),
        tr(request, "能力"),
        tr(request, "单位"),
        tr(request, "调用次数"),
        tr(request, "计费量"),
        tr(request, "金额"),
        tr(request, "口径"),
    ]
    basis = billing_label(b.basis, lang)
    rows: list[list[Any]] = [
        [
            month,
            p.code,
            p.name_zh if lang == "zh" else p.name_en,
            p.capability,
            p.unit,
            p.calls,
            p.quantity,
            fmt(p.amount),
            basis,
        ]
        for p in b.rows
    ]
    if b.basis == dashboard.Basis.BILLED:
        rows.append([month, "", tr(request, "调整"), "", "", "", "", fmt(b.adjustments), basis])
        rows.append([month, "", tr(request, "四舍五入"), "", "", "", "", fmt(b.rounding), basis])
    return header, rows


async def _revenue_by_partner(request: Request, uow: UnitOfWork, month: str) -> Table:
    b = await dashboard.revenue_by_partner(uow, month, None)
    header = [
        tr(request, "月份"),
        tr(request, "合作伙伴编号"),
        tr(request, "合作伙伴"),
        tr(request, "调用次数"),
        tr(request, "计费量"),
        tr(request, "金额"),
        tr(request, "口径"),
    ]
    basis = billing_label(b.basis, lang_of(request))
    return header, [[month, r.partner_id, r.name, r.calls, r.quantity, fmt(r.amount), basis] for r in b.rows]


async def _traffic_by_capability(request: Request, uow: UnitOfWork, month: str) -> Table:
    rows = await dashboard.traffic_by_capability(uow, month)
    lang = lang_of(request)
    header = [
        tr(request, "月份"),
        tr(request, "能力"),
        tr(request, "单位"),
        tr(request, "产品数"),
        tr(request, "调用次数"),
        tr(request, "计费量"),
        tr(request, "实时计费"),
    ]
    return header, [
        [month, label(r.capability, lang), " ".join(r.units), r.products, r.calls, r.quantity, fmt(r.amount)]
        for r in rows
    ]


async def _receivables_ageing(request: Request, uow: UnitOfWork, _month: str) -> Table:
    a = await dashboard.receivables_ageing(uow)
    lang = lang_of(request)
    header = [
        tr(request, "截至"),
        tr(request, "合作伙伴编号"),
        tr(request, "合作伙伴"),
        tr(request, "应收余额"),
    ]
    header += [billing_label(b, lang) for b in dashboard_rules.BUCKETS]
    return header, [
        [
            a.as_of.isoformat(),
            r.partner_id,
            r.name,
            fmt(r.balance),
            *(fmt(r.buckets[b]) for b in dashboard_rules.BUCKETS),
        ]
        for r in a.rows
    ]


async def _prepaid_float(request: Request, uow: UnitOfWork, _month: str) -> Table:
    f = await dashboard.prepaid_float(uow)
    header = [
        tr(request, "合作伙伴编号"),
        tr(request, "合作伙伴"),
        tr(request, "可用余额"),
        tr(request, "预留（使用中）"),
        tr(request, "预付合计"),
    ]
    return header, [[r.partner_id, r.name, fmt(r.available), fmt(r.reserved), fmt(r.total)] for r in f.rows]


SECTIONS: dict[str, Callable[[Request, UnitOfWork, str], Awaitable[Table]]] = {
    "revenue-by-month": _revenue_by_month,
    "revenue-by-product": _revenue_by_product,
    "revenue-by-partner": _revenue_by_partner,
    "traffic-by-capability": _traffic_by_capability,
    "receivables-ageing": _receivables_ageing,
    "prepaid-float": _prepaid_float,
}


@router.get("/ops/billing/dashboard/{section}.csv")
async def dashboard_csv(request: Request, actor: OperatorPage, section: str, month: str = "") -> Response:
    load = SECTIONS.get(section)
    try:
        if load is None:
            raise NotFound(f"no dashboard section {section}")
        async with container_of(request).uow(actor) as uow:
            m = _month(uow, month)
            header, rows = await load(request, uow, m)
    except AppError as exc:
        return error_page(request, actor, exc, DASHBOARD)
    return StreamingResponse(
        csv_chunks(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{section}-{m}.csv"'},
    )
