"""Partners use cases, identity: partner users, operators and their API tokens, login and logout, and
the actor behind a management-API token (what `partners.auth` resolves).

Every function takes the caller's unit of work (or, for the authenticator, a session) and never
commits. Operators act by role; partner users act on their own partner only, and ids of other
partners answer NOT_FOUND as if they did not exist. Usernames are one namespace for operators and
partner users."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openability.kernel import access
from openability.kernel.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Unauthenticated,
)
from openability.kernel.ids import new_id
from openability.kernel.uow import Actor, UnitOfWork
from openability.partners import rules, throttle
from openability.partners._common import audit_as, ensure_unique, flush_unique, load_partner, partner_user_has
from openability.partners.models import AccessToken, Operator, Partner, PartnerUser
from openability.partners.passwords import hash_secret_async, verify_secret_async
from openability.partners.tokens import (
    KIND_OPERATOR,
    KIND_PARTNER_USER,
    MANAGEMENT_KINDS,
    hash_token,
    new_token,
)
from openability.partners.types import PartnerStatus

# Not a kernel topic: only the in-process authenticator cares (key: token hash, or "" for "all").
TOKEN_REVOKED = "auth.token_revoked"


# ---- partner users -----------------------------------------------------------------------------


async def add_partner_user(
    uow: UnitOfWork,
    partner: Partner,
    username: str,
    password_hash: str,
    role: str,
    display_name: str,
    email: str,
) -> PartnerUser:
    """Add a user to the partner: fields already validated, password already hashed, authority already
    checked by the caller (create_partner_user, or an SI's admin at its creation). Audited."""
    user = PartnerUser(
        id=new_id("pu"),
        partner_id=partner.id,
        username=username,
        display_name=display_name,
        email=email,
        password_hash=password_hash,
        role=role,
        active=True,
        created_at=uow.now,
    )
    uow.session.add(user)
    await flush_unique(uow, f"the username {username!r} is taken", "DUPLICATE_USERNAME")
    uow.audit(
        "partner_user.created",
        ("partner_user", user.id),
        partner_id=partner.id,
        after={"username": username, "role": role},
    )
    return user


async def create_partner_user(
    uow: UnitOfWork,
    partner_id: str,
    username: str,
    password: str,
    role: str = "admin",
    display_name: str = "",
    email: str = "",
) -> PartnerUser:
    actor = uow.actor
    if not (access.is_staff(actor) and actor.has_role("reviewer", "service_agent")):
        access.check_partner_visible(actor, partner_id)
        if not partner_user_has(actor, "admin"):
            raise PermissionDenied("needs an operator or the partner's admin user")
    u = rules.validate_username(username)
    rules.validate_password(password)
    role = rules.validate_partner_user_role(role)
    email = rules.validate_email(email, required=False)
    name = " ".join(display_name.split())
    if len(name) > 100:
        raise InvalidArgument("display_name is at most 100 characters")
    partner = await load_partner(uow, partner_id)
    if partner.status == PartnerStatus.EXITED:
        raise RuleViolation(f"partner {partner_id} has exited", code="PARTNER_EXITED")
    await ensure_unique(uow, username=u)
    password_hash = await hash_secret_async(password)
    return await add_partner_user(uow, partner, u, password_hash, role, name, email)


async def list_partner_users(
    uow: UnitOfWork, partner_id: str, *, offset: int = 0, limit: int = access.DEFAULT_LIMIT
) -> tuple[list[PartnerUser], int]:
    offset, limit = access.page(offset, limit)
    await load_partner(uow, partner_id)
    cond = PartnerUser.partner_id == partner_id
    total = await uow.session.scalar(select(func.count()).select_from(PartnerUser).where(cond)) or 0
    rows = await uow.session.scalars(
        select(PartnerUser)
        .where(cond)
        .order_by(PartnerUser.created_at, PartnerUser.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all()), total


# ---- login sessions ----------------------------------------------------------------------------


def operator_actor(op: Operator) -> Actor:
    return Actor(
        type="operator", id=op.id, roles=frozenset(op.roles or ()), name=op.display_name or op.username
    )


def partner_user_actor(user: PartnerUser) -> Actor:
    return Actor(
        type="partner_user",
        id=user.id,
        partner_id=user.partner_id,
        roles=rules.partner_actor_roles(user.role),
        name=user.display_name or user.username,
    )


async def login(
    uow: UnitOfWork, username: str, password: str, *, source: str | None = None
) -> tuple[str, Actor]:
    """Operator or partner user by username; returns a 12-hour bearer token (also the console
    session cookie). Raises Unauthenticated without telling which part was wrong; failures are
    counted and audited, and a guessing run is throttled (429) per account and per `source` address
    (throttle.py)."""
    u = (username or "").strip().lower()
    keys = throttle.keys_for(f"user:{u}", source)
    await throttle.check(uow, keys, "auth.login")
    op = user = None
    if 0 < len(u) <= 80:
        op = await uow.session.scalar(select(Operator).where(Operator.username == u))
        if op is None:
            user = await uow.session.scalar(select(PartnerUser).where(PartnerUser.username == u))
    stored = op.password_hash if op is not None else user.password_hash if user is not None else None
    ok = await verify_secret_async(password or "", stored)
    active = (op is not None and op.active) or (user is not None and user.active)
    if not ok or not active:
        reason = "unknown user" if stored is None else "wrong password" if not ok else "inactive"
        await throttle.failed(uow, keys, "auth.login", reason)
        raise Unauthenticated("wrong username or password")
    await throttle.succeeded(uow, keys[0])
    actor = operator_actor(op) if op is not None else partner_user_actor(user)  # type: ignore[arg-type]
    token = new_token()
    uow.session.add(
        AccessToken(
            token_hash=hash_token(token),
            kind=KIND_OPERATOR if op is not None else KIND_PARTNER_USER,
            subject_id=actor.id,
            partner_id=actor.partner_id,
            scopes=[],
            name="login",
            created_at=uow.now,
            expires_at=uow.now + timedelta(seconds=rules.LOGIN_TTL_SECONDS),
        )
    )
    audit_as(uow, (actor.type, actor.id), "auth.login", (actor.type, actor.id), partner_id=actor.partner_id)
    return token, actor


async def logout(uow: UnitOfWork, token: str) -> None:
    """Revoke a login or operator API token; unknown or already revoked tokens are ignored."""
    h = hash_token(token)
    row = await uow.session.get(AccessToken, h)
    if row is None or row.kind not in MANAGEMENT_KINDS or row.revoked_at is not None:
        return
    row.revoked_at = uow.now
    audit_as(
        uow, (row.kind, row.subject_id), "auth.logout", (row.kind, row.subject_id), partner_id=row.partner_id
    )
    uow.publish(TOKEN_REVOKED, h)


async def actor_for_token_hash(
    session: AsyncSession, token_hash: str, now: datetime
) -> tuple[Actor, datetime | None] | None:
    """Resolve a management-API token (operator or partner user, never an API client's token) to its
    actor and expiry; None when unknown, expired, revoked or its user is inactive."""
    row = await session.get(AccessToken, token_hash)
    if row is None or row.kind not in MANAGEMENT_KINDS or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.kind == KIND_OPERATOR:
        op = await session.get(Operator, row.subject_id)
        if op is None or not op.active:
            return None
        return operator_actor(op), row.expires_at
    user = await session.get(PartnerUser, row.subject_id)
    if user is None or not user.active:
        return None
    return partner_user_actor(user), row.expires_at


# ---- operators ---------------------------------------------------------------------------------


async def create_operator(
    uow: UnitOfWork,
    username: str,
    password: str,
    roles: list[str],
    display_name: str = "",
    lead_id: str | None = None,
    email: str = "",
) -> Operator:
    access.require_staff(uow.actor, "admin")
    u = rules.validate_username(username)
    rules.validate_password(password)
    granted = rules.validate_operator_roles(roles)
    email = rules.validate_email(email, required=False)
    name = " ".join(display_name.split())
    if len(name) > 100:
        raise InvalidArgument("display_name is at most 100 characters")
    password_hash = await hash_secret_async(password)
    if lead_id is not None and await uow.session.get(Operator, lead_id) is None:
        raise InvalidArgument(f"lead operator {lead_id} not found", code="UNKNOWN_LEAD")
    await ensure_unique(uow, username=u)
    op = Operator(
        id=new_id("op"),
        username=u,
        display_name=name,
        email=email,
        password_hash=password_hash,
        roles=granted,
        lead_id=lead_id,
        active=True,
        created_at=uow.now,
    )
    uow.session.add(op)
    await flush_unique(uow, f"the username {u!r} is taken", "DUPLICATE_USERNAME")
    uow.audit(
        "operator.created", ("operator", op.id), after={"username": u, "roles": granted, "lead_id": lead_id}
    )
    return op


async def create_operator_token(
    uow: UnitOfWork, username: str, name: str, ttl_days: int | None = None
) -> str:
    """A long-lived operator API token (shown once; only its SHA-256 is kept)."""
    access.require_staff(uow.actor, "admin")
    tname = " ".join(name.split())
    if not 1 <= len(tname) <= 100:
        raise InvalidArgument("token name must be 1–100 characters")
    if ttl_days is not None and not 1 <= ttl_days <= 3650:
        raise InvalidArgument("ttl_days must be 1–3650")
    op = await uow.session.scalar(select(Operator).where(Operator.username == username.strip().lower()))
    if op is None:
        raise NotFound(f"operator {username!r} not found")
    if not op.active:
        raise RuleViolation(f"operator {username!r} is inactive", code="OPERATOR_INACTIVE")
    token = new_token()
    expires = uow.now + timedelta(days=ttl_days) if ttl_days else None
    uow.session.add(
        AccessToken(
            token_hash=hash_token(token),
            kind=KIND_OPERATOR,
            subject_id=op.id,
            partner_id=None,
            scopes=[],
            name=tname,
            created_at=uow.now,
            expires_at=expires,
        )
    )
    uow.audit("operator.token_created", ("operator", op.id), after={"name": tname, "expires_at": expires})
    return token


async def list_operators(
    uow: UnitOfWork, *, offset: int = 0, limit: int = access.DEFAULT_LIMIT
) -> tuple[list[Operator], int]:
    access.require_staff(uow.actor)
    offset, limit = access.page(offset, limit)
    total = await uow.session.scalar(select(func.count()).select_from(Operator)) or 0
    rows = await uow.session.scalars(
        select(Operator).order_by(Operator.created_at, Operator.id).offset(offset).limit(limit)
    )
    return list(rows.all()), total


async def get_operator(uow: UnitOfWork, operator_id: str) -> Operator | None:
    return await uow.session.get(Operator, operator_id)


async def active_operators(uow: UnitOfWork) -> list[Operator]:
    rows = await uow.session.scalars(select(Operator).where(Operator.active.is_(True)).order_by(Operator.id))
    return list(rows.all())


async def operator_labels(uow: UnitOfWork, ids: Iterable[str]) -> dict[str, str]:
    """Operator id -> display name (or username)."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await uow.session.execute(
        select(Operator.id, Operator.display_name, Operator.username).where(Operator.id.in_(wanted))
    )
    return {oid: (name or username) for oid, name, username in rows.all()}


async def has_operators(uow: UnitOfWork) -> bool:
    return (await uow.session.scalar(select(Operator.id).limit(1))) is not None


async def operator_email(uow: UnitOfWork, operator_id: str) -> str | None:
    """The active operator's email; None when unknown, inactive or without an address."""
    email = await uow.session.scalar(
        select(Operator.email).where(Operator.id == operator_id, Operator.active.is_(True))
    )
    return (email or "").strip() or None
