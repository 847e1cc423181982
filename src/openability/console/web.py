"""Console rendering shared by every domain's pages: Jinja2 over each domain's templates/ folder,
zh-CN first with an English switch (`lang` cookie or `?lang=`; texts from the gettext catalogs of
console/i18n.py through jinja2.ext.i18n), login redirect, flash messages, an SVG bar chart."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import quote

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from openability.console.charts import column_chart
from openability.console.csrf import SESSION_COOKIE as SESSION_COOKIE
from openability.console.csrf import csrf_token
from openability.console.i18n import (
    DEFAULT_LANG,
    LANGS,
    by_lang,
    catalog,
    jinja_gettext,
    jinja_ngettext,
    jinja_npgettext,
    jinja_pgettext,
    rendering_in,
)
from openability.kernel.money import format_fen
from openability.kernel.uow import Actor

PKG = Path(__file__).resolve().parent.parent
DOMAINS = (
    "console",
    "partners",
    "catalog",
    "billing",
    "charging",
    "gateway",
    "tickets",
    "ledger",
    "credit",
    "notifications",
    "admission",
)
LANG_COOKIE = "lang"


class _I18nEnvironment(Protocol):
    """What jinja2.ext.i18n adds to the Environment it is installed on."""

    def install_gettext_callables(
        self,
        gettext: Callable[..., str],
        ngettext: Callable[..., str],
        newstyle: bool | None = None,
        pgettext: Callable[..., str] | None = None,
        npgettext: Callable[..., str] | None = None,
    ) -> None: ...


@lru_cache(maxsize=1)
def env() -> Environment:
    loaders = [
        FileSystemLoader(str(PKG / d / "templates")) for d in DOMAINS if (PKG / d / "templates").is_dir()
    ]
    e = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html"]),
        enable_async=False,
        extensions=["jinja2.ext.i18n"],
    )
    # One set of callables for every request: they read the language `render` sets for its render.
    cast(_I18nEnvironment, e).install_gettext_callables(
        gettext=jinja_gettext,
        ngettext=jinja_ngettext,
        newstyle=True,
        pgettext=jinja_pgettext,
        npgettext=jinja_npgettext,
    )
    e.globals["by_lang"] = by_lang
    for lang in LANGS:
        catalog(lang)  # a missing compiled catalog fails the first page, not the first English one
    e.filters["money"] = lambda v: f"¥{Decimal(v):,.4f}" if v is not None else ""
    # 四舍五入 through the one money path (a format spec would round half-even: 0.125 -> 0.12).
    e.filters["fen"] = lambda v: format_fen(v) if v is not None else ""
    e.globals["bar_chart"] = bar_chart
    e.globals["column_chart"] = column_chart
    return e


def lang_of(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or DEFAULT_LANG
    return "en" if lang.startswith("en") else DEFAULT_LANG


def render(
    request: Request, template: str, actor: Actor | None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    lang = lang_of(request)
    values: dict[str, Any] = {
        "request": request,
        "actor": actor,
        "lang": lang,
        "flash": request.query_params.get("flash", ""),
        "error": request.query_params.get("error", ""),
        # every page of a logged-in user carries its session's token (base.html's logout form)
        "csrf": csrf_token(request) if actor is not None else "",
    }
    values.update(ctx)
    with rendering_in(lang):
        html = env().get_template(template).render(**values)
    resp = HTMLResponse(html, status_code=status)
    if "lang" in request.query_params:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return resp


def redirect(url: str, *, flash: str = "", error: str = "") -> RedirectResponse:
    if flash or error:
        sep = "&" if "?" in url else "?"
        key, val = ("flash", flash) if flash else ("error", error)
        url = f"{url}{sep}{key}={quote(val)}"
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> Response:
    return redirect(f"/console/login?next={quote(str(request.url.path))}")


def bar_chart(
    items: Sequence[tuple[str, Decimal | int | None]], width: int = 560, bar_height: int = 22, unit: str = ""
) -> Markup:
    """Server-side SVG horizontal bar chart (no JS, no CDN). A None value (nothing to measure, e.g. a
    percentage of no decided tickets) gets no bar and "-", not a 0 bar."""
    if not items:
        return Markup("")
    peak = max((Decimal(v) for _, v in items if v is not None), default=Decimal(1)) or Decimal(1)
    label_w = 150
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * (bar_height + 6)
        if value is None:
            rows.append(
                f'<text x="0" y="{y + 15}" font-size="12">{Markup.escape(label)}</text>'
                f'<text x="{label_w + 6}" y="{y + 15}" font-size="12">-</text>'
            )
            continue
        w = int((Decimal(value) / peak) * (width - label_w - 90)) if peak else 0
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="12">{Markup.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_height}" fill="#2b6cb0" rx="3"/>'
            f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="12">{Markup.escape(str(value))}{unit}</text>'
        )
    h = len(items) * (bar_height + 6)
    return Markup(
        f'<svg class="chart" role="img" width="{width}" height="{h}" viewBox="0 0 {width} {h}">{"".join(rows)}</svg>'
    )
