"""Console foundation: static files, login/logout, language switch, landing redirect.
Domain pages live in each domain's views.py and are installed by that domain's api.install()."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from openability.console.csrf import anon_ok, anon_token, clear_anon_cookie, csrf_ok, set_anon_cookie
from openability.console.pagekit import tr
from openability.console.web import SESSION_COOKIE, login_redirect, redirect, render
from openability.kernel.errors import AppError
from openability.kernel.web import container_of, current_actor_optional

if TYPE_CHECKING:
    pass

router = APIRouter(prefix="/console", include_in_schema=False)


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
    return redirect("/console/ops/partners" if actor.is_operator else "/console/portal")


def _login_form(request: Request, status: int = 200, **ctx: Any) -> Response:
    token = anon_token(request)
    resp = render(request, "login.html", None, status=status, anon_csrf=token, **ctx)
    return set_anon_cookie(resp, token)


@router.get("/login")
async def login_page(request: Request, next: str = "") -> Response:
    return _login_form(request, next=_safe_next(next))


@router.post("/login")
async def login_submit(
    request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("")
) -> Response:
    from openability.partners import service as partners

    if not anon_ok(request, await request.form()):
        # no login at all: a forged post must not sign the victim into someone else's account
        return _login_form(
            request,
            status=400,
            next=_safe_next(next),
            username=username,
            error=tr(request, "表单已过期，请重新登录", "The form expired; please log in again"),
        )
    container = container_of(request)
    try:
        async with container.uow() as uow:
            token, actor = await partners.login(uow, username.strip(), password)
    except AppError as exc:
        return _login_form(request, status=401, next=_safe_next(next), error=exc.message, username=username)
    target = _safe_next(next) or ("/console/ops/partners" if actor.is_operator else "/console/portal")
    resp = redirect(target)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", max_age=12 * 3600)
    return clear_anon_cookie(resp)


@router.post("/logout")
async def logout(request: Request) -> Response:
    from openability.partners import service as partners

    token = request.cookies.get(SESSION_COOKIE)
    if token:
        if not csrf_ok(request, await request.form()):
            # a cross-site post must not end the session (nuisance, and a step in login CSRF)
            return render(
                request,
                "console_error.html",
                await current_actor_optional(request),
                status=403,
                message=tr(request, "表单已过期，请刷新页面后重试", "The form expired; reload and retry"),
                back="/console/",
            )
        async with container_of(request).uow() as uow:
            await partners.logout(uow, token)
    resp = redirect("/console/login")
    resp.delete_cookie(SESSION_COOKIE)
    return resp
