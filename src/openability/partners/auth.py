"""Management-API authentication: `Authorization: Bearer <token>` or the console session cookie,
resolved to an Actor by the token's SHA-256 (operator and partner-user tokens only: an API client's
OAuth token is for the capability API and never authenticates here).

Positive answers are cached for settings.cache_ttl_seconds (a few seconds) so a page that fires a
burst of htmx requests costs one lookup; logout and revocations clear the cache at once in this
process, other processes catch up within the TTL."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request

from openability.console.csrf import csrf_token_for
from openability.console.web import SESSION_COOKIE
from openability.kernel import events
from openability.kernel.errors import PermissionDenied
from openability.kernel.uow import Actor
from openability.partners.identity import TOKEN_REVOKED, actor_for_token_hash
from openability.partners.tokens import hash_token

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

MAX_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    actor: Actor
    fresh_until: datetime
    expires_at: datetime | None


def token_from_request(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        # A non-bearer Authorization header is not ours (e.g. Basic at /oauth/token).
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie or None


class TokenAuthenticator:
    def __init__(self, container: Platform) -> None:
        self.container = container
        self._cache: dict[str, _Entry] = {}
        self.lookups = 0  # database lookups made; tests check the cache with it

    def invalidate(self, _topic: str = "", key: str = "") -> None:
        # Any revocation: drop everything. The cache is tiny and rebuilt within a few requests.
        self._cache.clear()

    def subscribe(self) -> None:
        ev = self.container.events
        ev.subscribe(TOKEN_REVOKED, self.invalidate)
        ev.subscribe(events.CLIENT_CHANGED, self.invalidate)

    async def resolve(self, token: str) -> Actor | None:
        if len(token) > 200:
            return None
        h = hash_token(token)
        now = self.container.clock.now()
        hit = self._cache.get(h)
        if hit is not None and hit.fresh_until > now and (hit.expires_at is None or hit.expires_at > now):
            return hit.actor
        self._cache.pop(h, None)
        self.lookups += 1
        async with self.container.sessionmaker() as session:
            found = await actor_for_token_hash(session, h, now)
        if found is None:
            return None
        actor, expires_at = found
        if len(self._cache) >= MAX_CACHE_ENTRIES:
            self._cache.clear()
        ttl = timedelta(seconds=float(self.container.settings.cache_ttl_seconds))
        self._cache[h] = _Entry(actor, now + ttl, expires_at)
        return actor

    async def __call__(self, request: Request) -> Actor | None:
        token = token_from_request(request)
        if token is None:
            return None
        if _cookie_needs_csrf(request, token):
            # The browser sends the session cookie with any cross-site request: on the management API a
            # state-changing call with the cookie must also prove it comes from our own pages.
            expected = csrf_token_for(self.container.settings.secret_key, token)
            if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
                raise PermissionDenied(
                    f"a state-changing API call authenticated by the session cookie needs the "
                    f"{CSRF_HEADER} header (or use 'Authorization: Bearer <token>')",
                    code="CSRF_TOKEN_REQUIRED",
                )
        return await self.resolve(token)


CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _cookie_needs_csrf(request: Request, token: str) -> bool:
    return (
        request.method not in _SAFE_METHODS
        and request.url.path.startswith("/api/")
        and not request.headers.get("authorization")
        and request.cookies.get(SESSION_COOKIE) == token
    )


def install_authenticator(platform: Platform) -> TokenAuthenticator:
    """The platform's authenticator (one per process, subscribed to revocations)."""
    existing = platform.authenticator
    if isinstance(existing, TokenAuthenticator):
        return existing
    auth = TokenAuthenticator(platform)
    auth.subscribe()
    platform.authenticator = auth
    return auth
