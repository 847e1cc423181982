"""Partners use cases, OAuth: API clients of a partner (create, revoke, list), OAuth2 client-credentials
token issuance, and the client-token lookup the gateway's cache uses.

Every function takes the caller's unit of work and never commits. Operators with the reviewer or
service-agent role manage every partner's clients; a partner's admin or developer user manages its own
(ids of other partners answer NOT_FOUND as if they did not exist)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openability.kernel import access, events
from openability.kernel.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Unauthenticated,
)
from openability.kernel.ids import new_id, new_secret
from openability.kernel.rawpg import PgQuery
from openability.kernel.uow import Actor, UnitOfWork
from openability.partners import rules, throttle
from openability.partners._common import audit_as, load_partner, partner_user_has
from openability.partners.models import PARTNER_REF_COLUMNS, AccessToken, ApiClient, Partner
from openability.partners.passwords import hash_secret_async, verify_secret_async
from openability.partners.tokens import KIND_CLIENT, hash_token, new_token
from openability.partners.types import ClientToken, PartnerRef, PartnerStatus

# ---- API clients (OAuth2 client credentials) ---------------------------------------------------


def _can_manage_clients(actor: Actor, partner_id: str) -> None:
    if access.is_staff(actor) and actor.has_role("reviewer", "service_agent"):
        return
    access.check_partner_visible(actor, partner_id)
    if not partner_user_has(actor, "admin", "developer"):
        raise PermissionDenied("needs an operator or the partner's admin/developer user")


async def create_api_client(
    uow: UnitOfWork, partner_id: str, name: str, scopes: list[str]
) -> tuple[ApiClient, str]:
    """Returns the client and its secret; the secret is shown this once and stored argon2-hashed."""
    _can_manage_clients(uow.actor, partner_id)
    cname = " ".join(name.split())
    if not 1 <= len(cname) <= 100:
        raise InvalidArgument("client name must be 1–100 characters")
    granted = rules.validate_scopes(scopes)
    partner = await load_partner(uow, partner_id)
    if partner.status == PartnerStatus.EXITED:
        raise RuleViolation(f"partner {partner_id} has exited", code="PARTNER_EXITED")
    active = await uow.session.scalar(
        select(func.count())
        .select_from(ApiClient)
        .where(ApiClient.partner_id == partner_id, ApiClient.active.is_(True))
    )
    if (active or 0) >= rules.MAX_ACTIVE_CLIENTS:
        raise RuleViolation(
            f"at most {rules.MAX_ACTIVE_CLIENTS} active API clients per partner; revoke one first",
            code="TOO_MANY_CLIENTS",
        )
    secret = new_secret()
    client = ApiClient(
        id=new_id("cli"),
        partner_id=partner_id,
        name=cname,
        secret_hash=await hash_secret_async(secret),
        scopes=granted,
        active=True,
        created_at=uow.now,
    )
    uow.session.add(client)
    await uow.session.flush()
    uow.audit(
        "client.created",
        ("api_client", client.id),
        partner_id=partner_id,
        after={"name": cname, "scopes": granted},
    )
    uow.publish(events.CLIENT_CHANGED, client.id)
    return client, secret


async def _revoke_client(uow: UnitOfWork, client: ApiClient, note: str = "") -> None:
    client.active = False
    client.revoked_at = uow.now
    await uow.session.execute(
        update(AccessToken)
        .where(
            AccessToken.kind == KIND_CLIENT,
            AccessToken.subject_id == client.id,
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=uow.now)
    )
    uow.audit(
        "client.revoked",
        ("api_client", client.id),
        partner_id=client.partner_id,
        before={"active": True},
        after={"active": False},
        note=note or None,
    )
    uow.publish(events.CLIENT_CHANGED, client.id)


async def revoke_api_client(uow: UnitOfWork, partner_id: str, client_id: str) -> ApiClient:
    """Revokes the client and every access token issued to it (effective at once: CLIENT_CHANGED)."""
    _can_manage_clients(uow.actor, partner_id)
    await load_partner(uow, partner_id)
    client = await uow.session.scalar(
        select(ApiClient)
        .where(ApiClient.id == client_id, ApiClient.partner_id == partner_id)
        .with_for_update()
    )
    if client is None:
        raise NotFound(f"API client {client_id} not found")
    if client.active:
        await _revoke_client(uow, client)
    return client


async def revoke_partner_clients(uow: UnitOfWork, partner_id: str, note: str) -> None:
    """Revoke every active client of the partner and their tokens (its exit, R-EXIT-01). The caller has
    checked its authority and locked the partner."""
    clients = (
        await uow.session.scalars(
            select(ApiClient).where(ApiClient.partner_id == partner_id, ApiClient.active.is_(True))
        )
    ).all()
    for c in clients:
        await _revoke_client(uow, c, note=note)


async def list_api_clients(
    uow: UnitOfWork, partner_id: str, *, offset: int = 0, limit: int = access.DEFAULT_LIMIT
) -> tuple[list[ApiClient], int]:
    offset, limit = access.page(offset, limit)
    await load_partner(uow, partner_id)
    cond = ApiClient.partner_id == partner_id
    total = await uow.session.scalar(select(func.count()).select_from(ApiClient).where(cond)) or 0
    rows = await uow.session.scalars(
        select(ApiClient).where(cond).order_by(ApiClient.created_at, ApiClient.id).offset(offset).limit(limit)
    )
    return list(rows.all()), total


async def active_client_count(uow: UnitOfWork, partner_id: str) -> int:
    """How many active API clients the partner has (visibility checked)."""
    await load_partner(uow, partner_id)
    n = await uow.session.scalar(
        select(func.count())
        .select_from(ApiClient)
        .where(ApiClient.partner_id == partner_id, ApiClient.active.is_(True))
    )
    return n or 0


# ---- OAuth2 client credentials: tokens ---------------------------------------------------------


def _invalid_client(message: str = "client authentication failed") -> Unauthenticated:
    return Unauthenticated(message, code="INVALID_CLIENT")


async def issue_client_token(
    uow: UnitOfWork,
    client_id: str,
    secret: str,
    scopes: list[str] | None = None,
    *,
    source: str | None = None,
) -> tuple[str, int, list[str]]:
    """OAuth2 client credentials: verify the secret (argon2, constant time), then issue a bearer
    token (stored as SHA-256) valid settings.token_ttl_seconds. Returns (token, expires_in, scopes).
    Wrong secrets are counted and audited, and a guessing run is throttled (429) per client and per
    `source` address (throttle.py)."""
    keys = throttle.keys_for(f"client:{client_id[:60]}", source)
    await throttle.check(uow, keys, "client.token")
    client = await uow.session.get(ApiClient, client_id) if 0 < len(client_id) <= 40 else None
    ok = await verify_secret_async(secret, client.secret_hash if client is not None else None)
    if client is None or not ok:
        await throttle.failed(
            uow, keys, "client.token", "unknown client" if client is None else "wrong secret"
        )
        raise _invalid_client()
    await throttle.succeeded(uow, keys[0])
    if not client.active:
        raise _invalid_client("client has been revoked")
    partner = await uow.session.get(Partner, client.partner_id)
    if partner is None or partner.status == PartnerStatus.EXITED:
        raise _invalid_client("the client's partner has exited")
    granted = rules.narrow_scopes(list(client.scopes), scopes)
    ttl = int(uow.settings.token_ttl_seconds)
    token = new_token()
    uow.session.add(
        AccessToken(
            token_hash=hash_token(token),
            kind=KIND_CLIENT,
            subject_id=client.id,
            partner_id=client.partner_id,
            scopes=granted,
            name=client.name,
            created_at=uow.now,
            expires_at=uow.now + timedelta(seconds=ttl),
        )
    )
    audit_as(
        uow,
        ("api_client", client.id),
        "client.token_issued",
        ("api_client", client.id),
        partner_id=client.partner_id,
        after={"scopes": granted, "expires_in": ttl},
    )
    return token, ttl, granted


# The gateway's first call of a token: the token, its client's state and the partner, columns only.
_TOKEN_PARTNER = (
    select(
        AccessToken.subject_id,
        AccessToken.partner_id,
        AccessToken.scopes,
        AccessToken.expires_at,
        AccessToken.revoked_at,
        ApiClient.active,
        *PARTNER_REF_COLUMNS,
    )
    .join(ApiClient, ApiClient.id == AccessToken.subject_id)
    .outerjoin(Partner, Partner.id == AccessToken.partner_id)
    .where(AccessToken.token_hash == bindparam("h"), AccessToken.kind == KIND_CLIENT)
)
_PARTNER_REF = select(*PARTNER_REF_COLUMNS).where(Partner.id == bindparam("pid"))
_TOKEN_PARTNER_PG = PgQuery(_TOKEN_PARTNER)
_PARTNER_REF_PG = PgQuery(_PARTNER_REF)


def _ref(row: Any) -> PartnerRef:
    return PartnerRef(*row)


async def client_token_partner(
    conn: AsyncConnection, token_hash: str
) -> tuple[ClientToken, PartnerRef | None] | None:
    """`client_token` and the token's partner in one statement, on a plain connection (Core, no ORM
    objects): the gateway's cold path, one round trip for a token it has not seen."""
    return _token_partner((await conn.execute(_TOKEN_PARTNER, {"h": token_hash})).first())


async def client_token_partner_pg(apg: Any, token_hash: str) -> tuple[ClientToken, PartnerRef | None] | None:
    """`client_token_partner` on a raw asyncpg connection in no transaction (kernel/rawpg.py): the
    gateway's cold path on PostgreSQL."""
    return _token_partner(await _TOKEN_PARTNER_PG.first(apg, h=token_hash))


async def partner_ref_pg(apg: Any, partner_id: str) -> PartnerRef | None:
    """`partner_ref_on` on a raw asyncpg connection in no transaction (kernel/rawpg.py)."""
    row = await _PARTNER_REF_PG.first(apg, pid=partner_id)
    return _ref(row) if row is not None else None


def _token_partner(row: Any) -> tuple[ClientToken, PartnerRef | None] | None:
    if row is None:
        return None
    client_id, partner_id, scopes, expires_at, revoked_at, client_active = row[:6]
    if revoked_at is not None or not client_active or partner_id is None:
        return None
    tok = ClientToken(client_id, partner_id, frozenset(scopes or ()), expires_at)
    return tok, (_ref(row[6:]) if row[6] is not None else None)


async def partner_ref_on(conn: AsyncConnection, partner_id: str) -> PartnerRef | None:
    """The partner's read model on a plain connection (Core, columns only), for the gateway."""
    row = (await conn.execute(_PARTNER_REF, {"pid": partner_id})).first()
    return _ref(row) if row is not None else None


async def client_token(uow: UnitOfWork, token_hash: str) -> ClientToken | None:
    """The API client token with this SHA-256, if it is live (not revoked, client active): the
    gateway's read (`client_token_partner`) in the unit of work's transaction."""
    found = await client_token_partner(await uow.session.connection(), token_hash)
    return None if found is None else found[0]
