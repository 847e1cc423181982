"""Shared plumbing of every domain's console pages (each domain's views.py): who may see a page
(`OperatorPage` / `PartnerPage` parameters, answered by the handler `install` registers), the CSRF
check (tokens in console/csrf.py), form parsing that never raises, labels for states, the PRG
(post/redirect/get) step, and `Panel`s, the sections a domain adds to a page of a domain below it.

Pages stay thin: they call one domain service per action and render a template. This module knows no
domain: it imports the kernel only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from openability.console.csrf import csrf_ok as csrf_ok
from openability.console.csrf import csrf_token_for as csrf_token_for
from openability.console.i18n import N_, gettext_for
from openability.console.web import lang_of, login_redirect, redirect, render
from openability.kernel.clock import SHANGHAI
from openability.kernel.errors import AppError
from openability.kernel.money import MoneyError
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of, current_actor_optional

PORTAL_HOME = "/console/portal"
OPS_HOME = "/console/ops/partners"
PAGE_SIZE = 50

# State and enum labels: the zh-CN text (a catalog id, translated where shown).
LABELS: dict[str, str] = {
    "active": N_("正常"),
    "suspended": N_("已暂停"),
    "pending": N_("待处理"),
    "applicant": N_("申请中"),
    "exited": N_("已退出"),
    "draft": N_("草稿"),
    "retired": N_("已下线"),
    "acknowledged": N_("已受理"),
    "inProgress": N_("处理中"),
    "completed": N_("已生效"),
    "cancelled": N_("已取消"),
    "confirmed": N_("已确认"),
    "rejected": N_("已拒绝"),
    "sandbox": N_("沙箱支付（演示）"),
    "online": N_("在线支付"),
    "alipay": N_("支付宝"),
    "wechatpay": N_("微信支付"),
    "bank_transfer": N_("银行转账"),
    "top_up": N_("预付充值"),
    "deposit": N_("保证金"),
    "statement": N_("结算单付款"),
    "due": N_("待付款"),
    "partially_paid": N_("部分付款"),
    "overdue": N_("逾期欠费"),
    "paid": N_("已付清"),
    "prepaid": N_("预付费"),
    "postpaid": N_("后付费"),
    "national": N_("全国"),
    "local": N_("本地"),
    "standard": N_("标准类"),
    "industry": N_("行业类"),
    "certified": N_("认证型"),
    "close": N_("紧密型"),
    "strategic": N_("战略型"),
    "list": N_("目录价"),
    "segment": N_("条（分段）"),
    "message": N_("条"),
    "minute": N_("分钟"),
    "all": N_("全部"),
    "AP": N_("应用提供商（AP）"),
    "SI": N_("系统集成商（SI）"),
    "sms": N_("短信"),
    "mms": N_("彩信"),
    "voice": N_("语音通知"),
}


def tr(request: Request, message: str, **values: object) -> str:
    """A console text in the request's language, for flash messages and errors built in handlers:
    `message` is the zh-CN text (the catalog id); `%(name)s` placeholders are filled from `values`."""
    text = gettext_for(lang_of(request), message)
    return text % values if values else text


def label(value: object, lang: str) -> str:
    key = str(getattr(value, "value", value) or "")
    text = LABELS.get(key)
    return key if text is None else gettext_for(lang, text)


def fmt_time(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else ""


# ---- who may see a page ------------------------------------------------------------------------
#
# A page declares its visitor with a parameter: `actor: OperatorPage` or `actor: PartnerPage`. The
# dependency resolves the actor before the page runs, or raises `PageRefused`, which the handler that
# `install(app)` registers turns into the answer: the login page (with ?next= the page asked for) for
# a visitor who is not logged in, the visitor's own home for one logged in on the wrong side.


class PageRefused(Exception):
    """The visitor may not see the page: sent to `to` (login when empty)."""

    def __init__(self, to: str = "") -> None:
        super().__init__(to or "login")
        self.to = to


async def partner_page_actor(request: Request) -> Actor:
    """A partner user's actor (with its partner id), else PageRefused (login, or the operator home)."""
    actor = await current_actor_optional(request)
    if actor is None:
        raise PageRefused()
    if actor.is_operator:
        raise PageRefused(OPS_HOME)
    if actor.type != "partner_user" or not actor.partner_id:
        raise PageRefused()
    return actor


async def operator_page_actor(request: Request) -> Actor:
    """An operator's actor, else PageRefused (login, or the partner portal's home)."""
    actor = await current_actor_optional(request)
    if actor is None:
        raise PageRefused()
    if not actor.is_operator:
        raise PageRefused(PORTAL_HOME)
    return actor


OperatorPage = Annotated[Actor, Depends(operator_page_actor)]
PartnerPage = Annotated[Actor, Depends(partner_page_actor)]


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    return redirect(exc.to) if exc.to else login_redirect(request)


def install(app: FastAPI) -> None:
    """Register the console's exception handler (called once, by the app factory)."""
    app.add_exception_handler(PageRefused, _refused)


def partner_id_of(actor: Actor) -> str:
    """The partner of a PartnerPage actor (partner_page_actor guarantees there is one)."""
    assert actor.partner_id is not None
    return actor.partner_id


# ---- sections a domain contributes to another domain's page ------------------------------------


@dataclass(frozen=True)
class Panel:
    """A section of a page owned by a domain above the page's own (e.g. balances on the operator's
    partner page): its template, rendered with its values as `panel`, and what loads those values
    for one entity id in the page's unit of work. The app hands panels to the page's router, so the
    page's domain imports nothing above itself."""

    template: str
    load: Callable[[UnitOfWork, str], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class LoadedPanel:
    template: str
    values: Mapping[str, Any]


async def load_panels(uow: UnitOfWork, panels: Sequence[Panel], entity_id: str) -> list[LoadedPanel]:
    return [LoadedPanel(p.template, await p.load(uow, entity_id)) for p in panels]


# ---- rendering and actions ---------------------------------------------------------------------


def page(request: Request, template: str, actor: Actor, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = lang_of(request)
    values: dict[str, Any] = {
        "L": lambda v: label(v, lang),
        "fmt_time": fmt_time,
        "path": request.url.path,
    }
    values.update(ctx)
    return render(request, template, actor, status=status, **values)


def error_page(request: Request, actor: Actor, exc: AppError, back: str) -> HTMLResponse:
    return page(request, "console_error.html", actor, status=exc.status, message=exc.message, back=back)


def error_text(exc: Exception) -> str:
    if isinstance(exc, AppError):
        return exc.message
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e.get("loc", ()))
        msg = str(e.get("msg", "invalid input"))
        return f"{where}: {msg}" if where else msg
    return str(exc)


class FormError(Exception):
    """Bad form input found by the page itself (before any service is called)."""


async def read_form(request: Request) -> FormData:
    return await request.form()


def field(form: FormData | Mapping[str, Any], name: str, *, max_len: int = 1000) -> str:
    v = form.get(name, "")
    s = v if isinstance(v, str) else ""
    if len(s) > max_len:
        raise FormError(f"{name}: at most {max_len} characters")
    return s.strip()


def int_field(form: FormData | Mapping[str, Any], name: str, default: int | None = None) -> int:
    raw = field(form, name, max_len=20)
    if not raw and default is not None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise FormError(f"{name}: a whole number is required") from None


def page_args(offset: str | int | None, limit: str | int | None) -> tuple[int, int]:
    """Query-string paging that never fails: junk falls back to the defaults."""

    def num(v: str | int | None, default: int) -> int:
        try:
            return int(v) if v not in (None, "") else default
        except (TypeError, ValueError):
            return default

    return max(0, num(offset, 0)), max(1, min(num(limit, PAGE_SIZE), 200))


async def act(
    request: Request,
    actor: Actor,
    fn: Callable[[UnitOfWork, FormData], Awaitable[str | None]],
    *,
    ok_url: str | Callable[[], str],
    err_url: str | None = None,
    flash: str = "",
    refuse: bool = False,
) -> Response:
    """POST handler body: check CSRF, run `fn` in one unit of work, redirect with a flash or the
    error. `fn` may return a flash text that replaces the default; `ok_url` may be computed after
    `fn` ran (e.g. the page of what it created). With `refuse`, an action the visitor may not take
    (PERMISSION_DENIED) or on something it may not see (NOT_FOUND) answers the error page with that
    status (403, 404) instead of a redirect."""
    form = await read_form(request)
    back = err_url or (ok_url if isinstance(ok_url, str) else PORTAL_HOME)
    if not csrf_ok(request, form):
        return redirect(back, error=tr(request, "表单已过期，请刷新页面后重试"))
    try:
        async with container_of(request).uow(actor, correlator=request.headers.get("x-correlator")) as uow:
            msg = await fn(uow, form)
    except (AppError, ValidationError, FormError, MoneyError) as exc:
        if refuse and isinstance(exc, AppError) and exc.status in (403, 404):
            return error_page(request, actor, exc, back)
        return redirect(back, error=error_text(exc))
    return redirect(ok_url if isinstance(ok_url, str) else ok_url(), flash=msg or flash)


def money0() -> Decimal:
    return Decimal("0.0000")
