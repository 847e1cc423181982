"""Server-side SVG charts for console pages (no script, no CDN: the CSP allows scripts from the
platform's origin only). `web.bar_chart` draws horizontal bars; `column_chart` draws one column per
period (e.g. a month), with a text above each and the columns of provisional figures in a lighter
colour."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal

from markupsafe import Markup, escape

COLOR = "#2b6cb0"
LIGHT = "#90cdf4"


def column_chart(
    items: Sequence[tuple[str, Decimal | int, str]],
    *,
    light: Collection[int] = (),
    width: int = 760,
    height: int = 220,
) -> Markup:
    """`items`: (label under the column, value, text above it); the columns whose index is in `light`
    are drawn lighter. Negative values draw no column (the text still says the figure); zero draws
    neither."""
    if not items:
        return Markup("")
    peak = max((Decimal(v) for _, v, _ in items), default=Decimal(0))
    peak = peak if peak > 0 else Decimal(1)
    top, bottom = 18, 22
    plot = height - top - bottom
    slot = width / len(items)
    bar = max(4.0, slot * 0.6)
    parts = [f'<line x1="0" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#cbd5e0"/>']
    for i, (label, value, text) in enumerate(items):
        v = Decimal(value)
        h = int(v / peak * plot) if v > 0 else 0
        x = i * slot + (slot - bar) / 2
        cx = i * slot + slot / 2
        fill = LIGHT if i in light else COLOR
        if h:
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot - h}" width="{bar:.1f}" height="{h}" fill="{fill}" rx="2">'
                f"<title>{escape(label)}: {escape(text)}</title></rect>"
            )
        if v:  # a zero says nothing above an empty slot
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot - h - 4}" font-size="10" text-anchor="middle">{escape(text)}</text>'
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">{escape(label)}</text>'
        )
    return Markup(
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>'
    )
