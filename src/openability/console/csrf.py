"""CSRF tokens for console forms, in two kinds.

- Logged in: one token per login session, an HMAC of the session cookie with the secret key, so
  nothing is stored and a token from one session is worthless in another. `render` puts it in every
  page as `csrf` (the logout form in base.html needs it too).
- Not logged in yet (login, AP self-registration): a double-submit token, a random value kept in a
  short-lived HttpOnly cookie and repeated in a hidden field (`anon_csrf`). A cross-site page can
  make the browser send the cookie (SameSite=Lax does not cover every case) but cannot read it, so
  it cannot put the matching value in the form: that stops login CSRF (logging a victim into the
  attacker's account) and forged registrations."""

from __future__ import annotations

import hashlib
import hmac
import re

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from openability.kernel.ids import new_secret
from openability.kernel.web import container_of

SESSION_COOKIE = "oa_session"
ANON_COOKIE = "oa_csrf"
ANON_TTL_SECONDS = 3600
FIELD = "csrf"
_ANON_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def csrf_token_for(secret_key: str, session: str) -> str:
    return hmac.new(secret_key.encode(), b"csrf:" + session.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_token(request: Request) -> str:
    """The token of the request's login session ("" without a session cookie)."""
    session = request.cookies.get(SESSION_COOKIE, "")
    return csrf_token_for(container_of(request).settings.secret_key, session) if session else ""


def csrf_ok(request: Request, form: FormData) -> bool:
    # A request authenticated by an Authorization header cannot be forged cross-site; only the
    # cookie session needs the token (SameSite=Lax already blocks most cross-site posts).
    if not request.cookies.get(SESSION_COOKIE) and request.headers.get("authorization"):
        return True
    expected = csrf_token(request)
    return bool(expected) and _same(expected, form.get(FIELD, ""))


# ---- before login: double-submit cookie ---------------------------------------------------------


def anon_token(request: Request) -> str:
    """The token for a form rendered to a visitor: the one already in the cookie when it is well
    formed (so two open tabs both stay valid), else a new random one."""
    current = request.cookies.get(ANON_COOKIE, "")
    return current if _ANON_SHAPE.match(current) else new_secret(32)


def set_anon_cookie(resp: Response, token: str, *, secure: bool = False) -> Response:
    resp.set_cookie(
        ANON_COOKIE,
        token,
        max_age=ANON_TTL_SECONDS,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    return resp


def clear_anon_cookie(resp: Response) -> Response:
    resp.delete_cookie(ANON_COOKIE, path="/console", httponly=True, samesite="lax")
    return resp


def anon_ok(request: Request, form: FormData) -> bool:
    cookie = request.cookies.get(ANON_COOKIE, "")
    return bool(_ANON_SHAPE.match(cookie)) and _same(cookie, form.get(FIELD, ""))


def _same(expected: str, got: object) -> bool:
    # compare bytes: compare_digest refuses non-ASCII str, and a form field can hold anything
    return isinstance(got, str) and hmac.compare_digest(expected.encode(), got.encode())
