"""Console pages of the partners domain: the landing redirect, login and logout, the public AP
registration page, the operator's partner pages (list with filters and paging, detail with status
changes, new SI) and the portal's API clients. Permissions are the services' own; pages only hide
buttons.

The operator's partner page shows sections owned by domains above this one (balances, orders,
payments): the app hands them in as `console.pagekit.Panel`s (`ops_router(panels)`), so this module
imports nothing above partners."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlparse

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.console.csrf import anon_ok, anon_token, clear_anon_cookie, csrf_ok, set_anon_cookie
from openability.console.pagekit import (
    OPS_HOME,
    PORTAL_HOME,
    FormError,
    OperatorPage,
    Panel,
    PartnerPage,
    act,
    error_page,
    error_text,
    field,
    load_panels,
    page,
    page_args,
    partner_id_of,
    read_form,
    tr,
)
from openability.console.web import SESSION_COOKIE, login_redirect, redirect, render
from openability.kernel.errors import AppError
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import client_address, container_of, current_actor_optional
from openability.partners import identity, lifecycle, oauth
from openability.partners.rules import LOGIN_TTL_SECONDS, SCOPES
from openability.partners.schemas import CreateSi, RegisterAp
from openability.partners.types import PartnerKind, PartnerStatus, ProductKind, Scope, Tier

router = APIRouter(prefix="/console", include_in_schema=False)

PARTNERS = OPS_HOME
CLIENTS = "/console/portal/clients"


# ---- landing, login, logout --------------------------------------------------------------------


def _safe_next(url: str) -> str:
    # only local console paths: never an open redirect
    p = urlparse(url)
    if p.scheme or p.netloc or not url.startswith("/console"):
        return ""
    return url


@router.get("/")
async def home(request: Request) -> Response:
    actor = await current_actor_optional(request)
    if actor is None:
        return login_redirect(request)
    return redirect(OPS_HOME if actor.is_operator else PORTAL_HOME)


def _login_form(request: Request, status: int = 200, **ctx: Any) -> Response:
    token = anon_token(request)
    resp = render(request, "partners_login.html", None, status=status, anon_csrf=token, **ctx)
    return set_anon_cookie(resp, token, secure=container_of(request).settings.session_cookie_secure)


@router.get("/login")
async def login_page(request: Request, next: str = "") -> Response:
    return _login_form(request, next=_safe_next(next))


@router.post("/login")
async def login_submit(
    request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("")
) -> Response:
    if not anon_ok(request, await request.form()):
        # no login at all: a forged post must not sign the victim into someone else's account
        return _login_form(
            request,
            status=400,
            next=_safe_next(next),
            username=username,
            error=tr(request, "表单已过期，请重新登录"),
        )
    try:
        async with container_of(request).uow() as uow:
            token, actor = await identity.login(
                uow, username.strip(), password, source=client_address(request)
            )
    except AppError as exc:
        return _login_form(request, status=401, next=_safe_next(next), error=exc.message, username=username)
    target = _safe_next(next) or (OPS_HOME if actor.is_operator else PORTAL_HOME)
    resp = redirect(target)
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        max_age=LOGIN_TTL_SECONDS,
        secure=container_of(request).settings.session_cookie_secure,
    )
    return clear_anon_cookie(resp)


@router.post("/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        if not csrf_ok(request, await request.form()):
            # a cross-site post must not end the session (nuisance, and a step in login CSRF)
            return render(
                request,
                "console_error.html",
                await current_actor_optional(request),
                status=403,
                message=tr(request, "表单已过期，请刷新页面后重试"),
                back="/console/",
            )
        async with container_of(request).uow() as uow:
            await identity.logout(uow, token)
    resp = redirect("/console/login")
    resp.delete_cookie(SESSION_COOKIE)
    return resp


# ---- public AP self-registration ---------------------------------------------------------------


@router.get("/register")
async def register_page(request: Request) -> Response:
    actor = await current_actor_optional(request)
    token = anon_token(request)
    page = render(request, "partners_register.html", actor, form={}, anon_csrf=token)
    return set_anon_cookie(page, token, secure=container_of(request).settings.session_cookie_secure)


@router.post("/register")
async def register_submit(
    request: Request,
    name: str = Form(""),
    username: str = Form(""),
    password: str = Form(""),
    password2: str = Form(""),
    display_name: str = Form(""),
    contact_name: str = Form(""),
    contact_email: str = Form(""),
    contact_phone: str = Form(""),
    credit_code: str = Form(""),
) -> Response:
    values = {
        "name": name,
        "username": username,
        "display_name": display_name,
        "contact_name": contact_name,
        "contact_email": contact_email,
        "contact_phone": contact_phone,
        "credit_code": credit_code,
    }

    def again(message: str, status: int) -> Response:
        token = anon_token(request)
        resp = render(
            request,
            "partners_register.html",
            None,
            status=status,
            form=values,
            error=message,
            anon_csrf=token,
        )
        return set_anon_cookie(resp, token, secure=container_of(request).settings.session_cookie_secure)

    if not anon_ok(request, await request.form()):
        # a forged post from another site registers nothing (double-submit cookie, console/csrf.py)
        return again("表单已过期，请重新提交 / the form expired; please submit it again", 400)
    if password != password2:
        return again("两次输入的密码不一致 / the passwords do not match", 400)
    try:
        cmd = RegisterAp(
            **{k: v for k, v in values.items() if k != "credit_code"},
            password=password,
            credit_code=credit_code or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return again(f"{where}: {first.get('msg', 'invalid')}", 400)
    container = container_of(request)
    try:
        async with container.uow(correlator=request.headers.get("x-correlator")) as uow:
            await lifecycle.register_ap(uow, cmd)
        async with container.uow() as uow:
            token, _ = await identity.login(uow, cmd.username, password)
    except AppError as exc:
        return again(exc.message, exc.status)
    resp = redirect(PORTAL_HOME, flash="注册成功 / registered")
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        max_age=LOGIN_TTL_SECONDS,
        secure=container_of(request).settings.session_cookie_secure,
    )
    return clear_anon_cookie(resp)


# ---- portal: API clients -----------------------------------------------------------------------


async def _clients_page(
    request: Request, actor: Actor, *, created: Any = None, secret: str = "", status: int = 200
) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            clients, total = await oauth.list_api_clients(uow, partner_id_of(actor), limit=200)
    except AppError as exc:
        return error_page(request, actor, exc, PORTAL_HOME)
    return page(
        request,
        "partners_portal_clients.html",
        actor,
        status=status,
        clients=clients,
        total=total,
        scopes=sorted(SCOPES),
        created=created,
        secret=secret,
    )


@router.get("/portal/clients")
async def clients_page(request: Request, actor: PartnerPage) -> Response:
    return await _clients_page(request, actor)


@router.post("/portal/clients")
async def create_client(request: Request, actor: PartnerPage) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form):
        return redirect(CLIENTS, error=tr(request, "表单已过期，请刷新页面后重试"))
    try:
        name = field(form, "name", max_len=100)
        scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
        if not scopes:
            raise FormError(tr(request, "请至少选择一个能力范围"))
        async with container_of(request).uow(actor) as uow:
            client, secret = await oauth.create_api_client(uow, partner_id_of(actor), name, scopes)
    except (AppError, FormError) as exc:
        return redirect(CLIENTS, error=error_text(exc))
    # Rendered, not redirected: the secret must never travel in a URL, and is shown only this once.
    return await _clients_page(request, actor, created=client, secret=secret, status=201)


@router.post("/portal/clients/{client_id}/revoke")
async def revoke_client(request: Request, actor: PartnerPage, client_id: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> str | None:
        await oauth.revoke_api_client(uow, partner_id_of(actor), client_id)
        return None

    return await act(
        request, actor, fn, ok_url=CLIENTS, flash=tr(request, "已吊销 %(client)s", client=client_id)
    )


# ---- operator: partners ------------------------------------------------------------------------


def _enum_or_none(enum_cls: Any, raw: str) -> Any:
    try:
        return enum_cls(raw) if raw else None
    except ValueError:
        return None


async def partners_page(
    request: Request, actor: OperatorPage, kind: str = "", status: str = "", offset: str = "", limit: str = ""
) -> Response:
    off, lim = page_args(offset, limit)
    k: PartnerKind | None = _enum_or_none(PartnerKind, kind)
    s: PartnerStatus | None = _enum_or_none(PartnerStatus, status)
    async with container_of(request).uow(actor) as uow:
        items, total = await lifecycle.list_partners(uow, kind=k, status=s, offset=off, limit=lim)

    def link(new_offset: int) -> str:
        q = {"kind": k.value if k else "", "status": s.value if s else "", "offset": new_offset, "limit": lim}
        return f"{PARTNERS}?{urlencode({a: b for a, b in q.items() if b != ''})}"

    return page(
        request,
        "partners_ops_list.html",
        actor,
        items=items,
        total=total,
        offset=off,
        limit=lim,
        kind=k.value if k else "",
        status_filter=s.value if s else "",
        kinds=[x.value for x in PartnerKind],
        statuses=[x.value for x in PartnerStatus],
        prev_url=link(max(0, off - lim)) if off > 0 else "",
        next_url=link(off + lim) if off + lim < total else "",
        can_create_si=actor.has_role("reviewer"),
    )


async def new_si_page(request: Request, actor: OperatorPage) -> Response:
    return _si_form(request, actor, {})


def _si_form(
    request: Request, actor: Actor, form: dict[str, str], status: int = 200, error: str = ""
) -> Response:
    ctx: dict[str, Any] = {
        "form": form,
        "scopes": [x.value for x in Scope],
        "tiers": [x.value for x in Tier],
        "product_kinds": [x.value for x in ProductKind],
    }
    if error:
        ctx["error"] = error
    return page(request, "partners_ops_si_new.html", actor, status=status, **ctx)


SI_FIELDS = (
    "name",
    "billing_mode",
    "scope",
    "product_kind",
    "industry",
    "tier",
    "contact_name",
    "contact_email",
    "contact_phone",
    "credit_code",
    "registered_capital",
    "admin_username",
)


async def new_si_submit(request: Request, actor: OperatorPage) -> Response:
    """Re-renders the form with the entered values on any error (no half-created SI: one uow)."""
    form = await read_form(request)
    values = {f: str(form.get(f, "") or "").strip() for f in SI_FIELDS}
    if not csrf_ok(request, form):
        msg = tr(request, "表单已过期，请刷新页面后重试")
        return _si_form(request, actor, values, status=403, error=msg)
    password = str(form.get("admin_password", "") or "")
    data: dict[str, Any] = {k: v for k, v in values.items() if v != "" and k != "admin_username"}
    data["activate"] = form.get("activate") == "on"
    if values["admin_username"] or password:
        data["admin_username"] = values["admin_username"]
        data["admin_password"] = password
    try:
        cmd = CreateSi.model_validate(data)
        async with container_of(request).uow(actor) as uow:
            si = await lifecycle.create_si(uow, cmd)
    except (AppError, ValidationError, ValueError) as exc:
        return _si_form(request, actor, values, status=400, error=error_text(exc))
    return redirect(f"{PARTNERS}/{si.id}", flash=tr(request, "已创建 SI：%(name)s", name=si.name))


async def partner_status(request: Request, actor: OperatorPage, partner_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        raw = field(form, "status", max_len=20)
        if raw not in (PartnerStatus.ACTIVE.value, PartnerStatus.SUSPENDED.value):
            raise FormError(tr(request, "无效的状态"))
        reason = field(form, "reason", max_len=300)
        if not reason:
            raise FormError(tr(request, "请填写原因"))
        p = await lifecycle.set_partner_status(uow, partner_id, PartnerStatus(raw), reason)
        return tr(request, "状态已更新：%(status)s", status=p.status.value)

    return await act(request, actor, fn, ok_url=f"{PARTNERS}/{partner_id}")


def ops_router(panels: Sequence[Panel] = ()) -> APIRouter:
    """The operator's partner pages; `panels` are the detail page's sections from domains above."""
    r = APIRouter(prefix=PARTNERS, include_in_schema=False)
    shown = tuple(panels)

    async def partner_page(request: Request, actor: OperatorPage, partner_id: str) -> Response:
        try:
            async with container_of(request).uow(actor) as uow:
                partner = await lifecycle.get_partner(uow, partner_id)
                users, _ = await identity.list_partner_users(uow, partner.id, limit=200)
                clients, _ = await oauth.list_api_clients(uow, partner.id, limit=200)
                loaded = await load_panels(uow, shown, partner.id)
        except AppError as exc:
            return error_page(request, actor, exc, PARTNERS)
        return page(
            request,
            "partners_ops_partner.html",
            actor,
            partner=partner,
            users=users,
            clients=clients,
            panels=loaded,
            can_set_status=actor.has_role("reviewer", "billing_clerk"),
        )

    r.add_api_route("", partners_page, methods=["GET"])
    r.add_api_route("/new-si", new_si_page, methods=["GET"])  # before /{partner_id}
    r.add_api_route("/new-si", new_si_submit, methods=["POST"])
    r.add_api_route("/{partner_id}", partner_page, methods=["GET"])
    r.add_api_route("/{partner_id}/status", partner_status, methods=["POST"])
    return r
