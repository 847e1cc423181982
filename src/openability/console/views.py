"""Console foundation: static files, login/logout, language switch, landing redirect.
Domain pages live in each domain's views.py and are installed by that domain's api.install()."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from fastapi import APIRouter, FastAPI, Form, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from openability.console.web import SESSION_COOKIE, login_redirect, redirect, render
from openability.kernel.errors import AppError
from openability.kernel.web import container_of, current_actor_optional

if TYPE_CHECKING:
    from openability.bootstrap import Container

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


@router.get("/login")
async def login_page(request: Request, next: str = "") -> Response:
    return render(request, "login.html", None, next=_safe_next(next))


@router.post("/login")
async def login_submit(
    request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("")
) -> Response:
    from openability.partners import service as partners

    container = container_of(request)
    try:
        async with container.uow() as uow:
            token, actor = await partners.login(uow, username.strip(), password)
    except AppError as exc:
        return render(
            request,
            "login.html",
            None,
            status=401,
            next=_safe_next(next),
            error=exc.message,
            username=username,
        )
    target = _safe_next(next) or ("/console/ops/partners" if actor.is_operator else "/console/portal")
    resp = redirect(target)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", max_age=12 * 3600)
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    from openability.partners import service as partners

    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with container_of(request).uow() as uow:
            await partners.logout(uow, token)
    resp = redirect("/console/login")
    resp.delete_cookie(SESSION_COOKIE)
    return resp


def install(app: FastAPI, container: Container) -> None:
    from pathlib import Path

    static = Path(__file__).resolve().parent / "static"
    app.mount("/console/static", StaticFiles(directory=str(static)), name="console-static")
    app.include_router(router)
    from openability.console import pages_ops, pages_portal

    app.include_router(pages_portal.router)
    app.include_router(pages_ops.router)
