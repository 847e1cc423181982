"""An invoice as a PDF (ReportLab). The Chinese text is set in Adobe's STSong-Light CID font, which PDF
readers ship (UnicodeCIDFont): nothing is embedded, so a PDF is a few kB and no font file is needed on
the server. Rendering is pure (an InvoiceDoc in, bytes out) and deterministic (ReportLab's invariant
mode: no creation date or random id in the file)."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

# ReportLab (~7 MiB and 80 modules) is imported when a PDF is rendered, not by every process that
# imports this module's types (the server, which renders a PDF only when one is asked for).
if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus.flowables import Flowable

from openability.billing.invoice_rules import amount_in_words, rate_label

FONT = "STSong-Light"
MEDIA_TYPE = "application/pdf"


@dataclass(frozen=True, slots=True)
class DocLine:
    description: str
    quantity: str  # "1350" or ""
    unit_price: str  # "0.0500" or ""
    amount: str  # tax-inclusive, "64.00"


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    credit_code: str
    address_phone: str
    bank_account: str  # bank name and account number


@dataclass(frozen=True, slots=True)
class InvoiceDoc:
    number: str
    issued_on: date
    kind_label: str  # "结算单 2026-11 / statement"
    type_label: str  # "增值税普通发票 / general VAT invoice"
    seller: Party
    buyer: Party
    lines: tuple[DocLine, ...]
    net: Decimal
    rate: Decimal
    tax: Decimal
    gross: Decimal
    fapiao_number: str | None
    fapiao_date: date | None


@functools.cache
def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _styles() -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=22, alignment=1)
    subtitle = ParagraphStyle("subtitle", parent=body, fontSize=11, leading=16, alignment=1)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.grey)
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    return body, title, subtitle, small, right


def _yuan(v: Decimal) -> str:
    return f"¥{v:,.2f}"


def _party(label: str, p: Party, body: ParagraphStyle) -> list[list[Flowable | str]]:
    from reportlab.platypus import Paragraph

    return [
        [Paragraph(f"{label}名称 Name", body), Paragraph(p.name or "—", body)],
        [Paragraph("统一社会信用代码 Credit code", body), Paragraph(p.credit_code or "—", body)],
        [Paragraph("地址、电话 Address, phone", body), Paragraph(p.address_phone or "—", body)],
        [Paragraph("开户行及账号 Bank, account", body), Paragraph(p.bank_account or "—", body)],
    ]


def render(doc: InvoiceDoc) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    body, title, subtitle, small, right = _styles()
    buf = io.BytesIO()
    pdf = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"发票 {doc.number}",
        author=doc.seller.name,
        creator="openability",
        invariant=1,
    )
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("FONTNAME", (0, 0), (-1, -1), _font()),
        ]
    )
    story: list[Flowable] = [
        Paragraph("发票 Invoice", title),
        Paragraph(doc.type_label, subtitle),
        Spacer(1, 4 * mm),
        Table(
            [
                [Paragraph("发票号 Number", body), Paragraph(doc.number, body)],
                [Paragraph("开票日期 Date", body), Paragraph(doc.issued_on.isoformat(), body)],
                [Paragraph("开票事项 For", body), Paragraph(doc.kind_label, body)],
                [
                    Paragraph("税务发票号码 Fapiao number", body),
                    Paragraph(
                        f"{doc.fapiao_number}（{doc.fapiao_date.isoformat() if doc.fapiao_date else ''}）"
                        if doc.fapiao_number
                        else "待税务系统开具 / not yet issued by the tax system",
                        body,
                    ),
                ],
            ],
            colWidths=[50 * mm, 130 * mm],
            style=grid,
        ),
        Spacer(1, 4 * mm),
        Table(
            [[Paragraph("购买方 Buyer", body), ""], *_party("购买方", doc.buyer, body)],
            colWidths=[50 * mm, 130 * mm],
            style=TableStyle([*grid.getCommands(), ("SPAN", (0, 0), (1, 0))]),
        ),
        Spacer(1, 3 * mm),
        Table(
            [[Paragraph("销售方 Seller", body), ""], *_party("销售方", doc.seller, body)],
            colWidths=[50 * mm, 130 * mm],
            style=TableStyle([*grid.getCommands(), ("SPAN", (0, 0), (1, 0))]),
        ),
        Spacer(1, 4 * mm),
    ]
    rows: list[list[Flowable | str]] = [
        [
            Paragraph("项目 Item", body),
            Paragraph("数量 Qty", right),
            Paragraph("单价（含税）Unit price", right),
            Paragraph("金额（含税）Amount", right),
        ]
    ]
    rows += [
        [
            Paragraph(ln.description, body),
            Paragraph(ln.quantity, right),
            Paragraph(ln.unit_price, right),
            Paragraph(ln.amount, right),
        ]
        for ln in doc.lines
    ]
    story += [
        Table(rows, colWidths=[90 * mm, 25 * mm, 30 * mm, 35 * mm], repeatRows=1, style=grid),
        Spacer(1, 4 * mm),
        Table(
            [
                [Paragraph("金额（不含税）Amount before tax", body), Paragraph(_yuan(doc.net), right)],
                [Paragraph("税率 VAT rate", body), Paragraph(rate_label(doc.rate), right)],
                [Paragraph("税额 VAT", body), Paragraph(_yuan(doc.tax), right)],
                [Paragraph("价税合计（小写）Total, tax included", body), Paragraph(_yuan(doc.gross), right)],
                [
                    Paragraph("价税合计（大写）Total in words", body),
                    Paragraph(amount_in_words(doc.gross), right),
                ],
            ],
            colWidths=[90 * mm, 90 * mm],
            style=grid,
        ),
        Spacer(1, 6 * mm),
        Paragraph(
            "目录价格为含税价；本单据由能力开放平台开具，税务发票以税务系统开具的发票为准。"
            " Catalog prices include VAT; the official fapiao is the one the tax system issues.",
            small,
        ),
    ]
    pdf.build(story)
    return buf.getvalue()
