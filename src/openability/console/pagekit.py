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
from openability.console.web import lang_of, login_redirect, redirect, render
from openability.kernel.clock import SHANGHAI
from openability.kernel.errors import AppError
from openability.kernel.money import MoneyError
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of, current_actor_optional

PORTAL_HOME = "/console/portal"
OPS_HOME = "/console/ops/partners"
PAGE_SIZE = 50

# State and enum labels, zh-CN first.
LABELS: dict[str, tuple[str, str]] = {
    "active": ("正常", "active"),
    "suspended": ("已暂停", "suspended"),
    "pending": ("待处理", "pending"),
    "exited": ("已退出", "exited"),
    "draft": ("草稿", "draft"),
    "retired": ("已下线", "retired"),
    "acknowledged": ("已受理", "acknowledged"),
    "inProgress": ("处理中", "in progress"),
    "completed": ("已生效", "completed"),
    "cancelled": ("已取消", "cancelled"),
    "confirmed": ("已确认", "confirmed"),
    "rejected": ("已拒绝", "rejected"),
    "sandbox": ("沙箱支付（演示）", "sandbox (demo)"),
    "online": ("在线支付", "online"),
    "alipay": ("支付宝", "Alipay"),
    "wechatpay": ("微信支付", "WeChat Pay"),
    "bank_transfer": ("银行转账", "bank transfer"),
    "top_up": ("预付充值", "top-up"),
    "deposit": ("保证金", "deposit"),
    "prepaid": ("预付费", "prepaid"),
    "postpaid": ("后付费", "postpaid"),
    "national": ("全国", "national"),
    "local": ("本地", "local"),
    "standard": ("标准类", "standard"),
    "industry": ("行业类", "industry"),
    "certified": ("认证型", "certified"),
    "close": ("紧密型", "close"),
    "strategic": ("战略型", "strategic"),
    "list": ("目录价", "list price"),
    "segment": ("条（分段）", "segment"),
    "message": ("条", "message"),
    "minute": ("分钟", "minute"),
    "all": ("全部", "all"),
    "AP": ("应用提供商（AP）", "application provider (AP)"),
    "SI": ("系统集成商（SI）", "service integrator (SI)"),
    "sms": ("短信", "SMS"),
    "mms": ("彩信", "MMS"),
    "voice": ("语音通知", "Voice notification"),
}


def tr(request: Request, zh: str, en: str) -> str:
    """The same zh-CN-first choice templates make, for flash messages built in handlers."""
    return zh if lang_of(request) == "zh" else en


def label(value: object, lang: str) -> str:
    key = str(getattr(value, "value", value) or "")
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


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
) -> Response:
    """POST handler body: check CSRF, run `fn` in one unit of work, redirect with a flash or the
    error. `fn` may return a flash text that replaces the default; `ok_url` may be computed after
    `fn` ran (e.g. the page of what it created)."""
    form = await read_form(request)
    back = err_url or (ok_url if isinstance(ok_url, str) else PORTAL_HOME)
    if not csrf_ok(request, form):
        return redirect(
            back, error=tr(request, "表单已过期，请刷新页面后重试", "The form expired; reload and retry")
        )
    try:
        async with container_of(request).uow(actor, correlator=request.headers.get("x-correlator")) as uow:
            msg = await fn(uow, form)
    except (AppError, ValidationError, FormError, MoneyError) as exc:
        return redirect(back, error=error_text(exc))
    return redirect(ok_url if isinstance(ok_url, str) else ok_url(), flash=msg or flash)


def money0() -> Decimal:
    return Decimal("0.0000")
