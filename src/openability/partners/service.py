"""Partners use cases: AP self-registration, SIs (simplest form), partner users, API clients and
their OAuth tokens, operators and their API tokens, login/logout.

Every function takes the caller's unit of work and never commits. Permission rules:
operators (and the system actor) act on every partner, by role; partner users act on their own
partner only, and ids of other partners answer NOT_FOUND as if they did not exist."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from openability.kernel import access, audit, events
from openability.kernel.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Unauthenticated,
)
from openability.kernel.ids import new_id, new_secret
from openability.kernel.uow import Actor, UnitOfWork
from openability.ledger import service as ledger
from openability.partners import rules
from openability.partners.models import AccessToken, ApiClient, Operator, Partner, PartnerUser
from openability.partners.passwords import hash_secret_async, verify_secret_async
from openability.partners.schemas import CreateSi, RegisterAp, UpdatePartner
from openability.partners.tokens import (
    KIND_CLIENT,
    KIND_OPERATOR,
    KIND_PARTNER_USER,
    MANAGEMENT_KINDS,
    hash_token,
    new_token,
)
from openability.partners.types import ClientToken, OperatorRef, PartnerKind, PartnerRef, PartnerStatus, Scope

# Not a kernel topic: only the in-process authenticator cares (key: token hash, or "" for "all").
TOKEN_REVOKED = "auth.token_revoked"


# ---- permission helpers ------------------------------------------------------------------------


def _partner_user_has(actor: Actor, *roles: str) -> bool:
    return actor.type == "partner_user" and any(rules.PARTNER_ROLE_PREFIX + r in actor.roles for r in roles)


def _audit_as(
    uow: UnitOfWork,
    actor: tuple[str, str],
    action: str,
    entity: tuple[str, str],
    *,
    partner_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    """Audit with an explicit actor: for acts by someone not yet authenticated (self-registration,
    login, token issuance), where the unit of work's actor is the anonymous system."""
    audit.record(
        uow.session,
        at=uow.now,
        actor=actor,
        action=action,
        entity=entity,
        partner_id=partner_id,
        before=before,
        after=after,
        correlator=uow.correlator,
        note=note,
    )


async def _flush_unique(uow: UnitOfWork, message: str, code: str) -> None:
    # The pre-checks answer the common case; the unique index decides a race between two requests.
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict(message, code=code) from exc


# ---- lookups -----------------------------------------------------------------------------------


async def _load_partner(uow: UnitOfWork, partner_id: str, *, lock: bool = False) -> Partner:
    access.check_partner_visible(uow.actor, partner_id)
    stmt = select(Partner).where(Partner.id == partner_id)
    if lock:
        stmt = stmt.with_for_update()
    p = await uow.session.scalar(stmt)
    if p is None:
        raise NotFound(f"partner {partner_id} not found")
    return p


async def get_partner(uow: UnitOfWork, partner_id: str) -> Partner:
    """Enforces visibility: a partner actor may read only itself (others: NOT_FOUND)."""
    return await _load_partner(uow, partner_id)


async def list_partners(
    uow: UnitOfWork,
    *,
    kind: PartnerKind | None = None,
    status: PartnerStatus | None = None,
    offset: int = 0,
    limit: int = access.DEFAULT_LIMIT,
) -> tuple[list[Partner], int]:
    offset, limit = access.page(offset, limit)
    conds: list[Any] = []
    if kind is not None:
        conds.append(Partner.kind == kind)
    if status is not None:
        conds.append(Partner.status == status)
    if not access.is_staff(uow.actor):
        conds.append(Partner.id == (uow.actor.partner_id or ""))
    total = await uow.session.scalar(select(func.count()).select_from(Partner).where(*conds)) or 0
    rows = await uow.session.scalars(
        select(Partner).where(*conds).order_by(Partner.created_at, Partner.id).offset(offset).limit(limit)
    )
    return list(rows.all()), total


async def _name_taken(session: AsyncSession, name: str, exclude_id: str | None = None) -> bool:
    stmt = select(Partner.id).where(func.lower(Partner.name) == name.lower())
    if exclude_id is not None:
        stmt = stmt.where(Partner.id != exclude_id)
    return (await session.scalar(stmt.limit(1))) is not None


async def _username_taken(session: AsyncSession, username: str) -> bool:
    # One namespace for operators and partner users: login resolves a username to exactly one of them.
    if await session.scalar(select(Operator.id).where(Operator.username == username).limit(1)):
        return True
    return (
        await session.scalar(select(PartnerUser.id).where(PartnerUser.username == username).limit(1))
    ) is not None


async def _ensure_unique(uow: UnitOfWork, *, name: str | None = None, username: str | None = None) -> None:
    if name is not None and await _name_taken(uow.session, name):
        raise Conflict(f"a partner named {name!r} already exists", code="DUPLICATE_NAME")
    if username is not None and await _username_taken(uow.session, username):
        raise Conflict(f"the username {username!r} is taken", code="DUPLICATE_USERNAME")


# ---- registration and SIs ----------------------------------------------------------------------


async def register_ap(uow: UnitOfWork, cmd: RegisterAp) -> tuple[Partner, PartnerUser]:
    """R-ADMIT-06: public AP self-registration. Only the brand-word check (R-PARTNER-04) and the
    identity fields stand between the applicant and an active prepaid AP (R-PARTNER-01)."""
    words = uow.settings.brand_words
    billing_mode = rules.check_billing_mode(PartnerKind.AP, cmd.billing_mode)
    name = rules.validate_name(cmd.name, words)
    branches = rules.validate_branches(cmd.branches, words)
    username = rules.validate_username(cmd.username)
    rules.validate_password(cmd.password)
    contact_name = rules.validate_name(cmd.contact_name, (), what="contact name") if cmd.contact_name else ""
    if not contact_name:
        raise InvalidArgument("contact_name is required")
    email = rules.validate_email(cmd.contact_email)
    phone = rules.validate_phone(cmd.contact_phone)
    credit_code = rules.validate_credit_code(cmd.credit_code)
    # Hash before the first statement: on SQLite that statement takes the write lock.
    password_hash = await hash_secret_async(cmd.password)
    await _ensure_unique(uow, name=name, username=username)

    status = PartnerStatus.PENDING if rules.ap_needs_review() else PartnerStatus.ACTIVE
    partner = Partner(
        id=new_id("prt"),
        kind=PartnerKind.AP,
        name=name,
        billing_mode=billing_mode,
        status=status,
        scope=Scope.NATIONAL,
        tier=None,
        contact_name=contact_name,
        contact_email=email,
        contact_phone=phone,
        credit_code=credit_code,
        branches=branches,
        status_reason="self-registered (R-ADMIT-06)",
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(partner)
    await _flush_unique(uow, f"a partner named {name!r} already exists", "DUPLICATE_NAME")
    user = PartnerUser(
        id=new_id("pu"),
        partner_id=partner.id,
        username=username,
        display_name=cmd.display_name.strip() or contact_name,
        email=email,
        password_hash=password_hash,
        role="admin",
        active=True,
        created_at=uow.now,
    )
    uow.session.add(user)
    await _flush_unique(uow, f"the username {username!r} is taken", "DUPLICATE_USERNAME")
    await ledger.ensure_platform_accounts(uow.session, uow.now)
    await ledger.ensure_partner_accounts(uow.session, partner.id, uow.now)

    who = ("partner_user", user.id)
    after = partner.snapshot() | {"contact_email": email, "branches": branches}
    _audit_as(uow, who, "partner.registered", ("partner", partner.id), partner_id=partner.id, after=after)
    _audit_as(
        uow,
        who,
        "partner_user.created",
        ("partner_user", user.id),
        partner_id=partner.id,
        after={"username": username, "role": "admin"},
    )
    uow.publish(events.PARTNER_CHANGED, partner.id)
    return partner, user


async def create_si(uow: UnitOfWork, cmd: CreateSi) -> Partner:
    """An SI in its simplest form: PENDING unless `activate` (the admission flow comes later)."""
    access.require_staff(uow.actor, "reviewer")
    words = uow.settings.brand_words
    billing_mode = rules.check_billing_mode(PartnerKind.SI, cmd.billing_mode)
    name = rules.validate_name(cmd.name, words)
    branches = rules.validate_branches(cmd.branches, words)
    industry = (cmd.industry or "").strip() or None
    if cmd.product_kind.value == "industry" and not industry:
        raise InvalidArgument("an industry SI needs its industry (R-PARTNER-03)", code="INDUSTRY_REQUIRED")
    email = rules.validate_email(cmd.contact_email, required=False)
    phone = rules.validate_phone(cmd.contact_phone, required=False)
    credit_code = rules.validate_credit_code(cmd.credit_code)
    username: str | None = None
    password_hash: str | None = None
    if (cmd.admin_username is None) != (cmd.admin_password is None):
        raise InvalidArgument("admin_username and admin_password go together")
    if cmd.admin_username is not None and cmd.admin_password is not None:
        username = rules.validate_username(cmd.admin_username)
        rules.validate_password(cmd.admin_password)
        password_hash = await hash_secret_async(cmd.admin_password)
    await _ensure_unique(uow, name=name, username=username)

    status = PartnerStatus.ACTIVE if cmd.activate else PartnerStatus.PENDING
    partner = Partner(
        id=new_id("prt"),
        kind=PartnerKind.SI,
        name=name,
        billing_mode=billing_mode,
        status=status,
        scope=cmd.scope,
        tier=cmd.tier,
        product_kind=cmd.product_kind,
        industry=industry,
        contact_name=" ".join(cmd.contact_name.split()),
        contact_email=email,
        contact_phone=phone,
        credit_code=credit_code,
        registered_capital=cmd.registered_capital,
        branches=branches,
        status_reason="activated at creation" if cmd.activate else "",
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(partner)
    await _flush_unique(uow, f"a partner named {name!r} already exists", "DUPLICATE_NAME")
    await ledger.ensure_platform_accounts(uow.session, uow.now)
    await ledger.ensure_partner_accounts(uow.session, partner.id, uow.now)
    uow.audit(
        "partner.created",
        ("partner", partner.id),
        partner_id=partner.id,
        after=partner.snapshot() | {"product_kind": cmd.product_kind.value, "industry": industry},
    )
    if username is not None and password_hash is not None:
        await _add_user(uow, partner, username, password_hash, "admin", "", "")
    uow.publish(events.PARTNER_CHANGED, partner.id)
    return partner


async def update_partner(uow: UnitOfWork, partner_id: str, cmd: UpdatePartner) -> Partner:
    """Rename (brand words checked again, R-PARTNER-04), branches, contacts."""
    actor = uow.actor
    if not (access.is_staff(actor) and actor.has_role("reviewer")) and not _partner_user_has(actor, "admin"):
        access.check_partner_visible(actor, partner_id)
        raise PermissionDenied("needs an operator reviewer or the partner's admin user")
    partner = await _load_partner(uow, partner_id, lock=True)
    words = uow.settings.brand_words
    changes: dict[str, Any] = {}
    if cmd.name is not None:
        name = rules.validate_name(cmd.name, words)
        if name != partner.name:
            if await _name_taken(uow.session, name, exclude_id=partner.id):
                raise Conflict(f"a partner named {name!r} already exists", code="DUPLICATE_NAME")
            changes["name"] = name
    if cmd.branches is not None:
        changes["branches"] = rules.validate_branches(cmd.branches, words)
    if cmd.contact_name is not None:
        changes["contact_name"] = " ".join(cmd.contact_name.split())
    if cmd.contact_email is not None:
        changes["contact_email"] = rules.validate_email(cmd.contact_email, required=partner.kind == "AP")
    if cmd.contact_phone is not None:
        changes["contact_phone"] = rules.validate_phone(cmd.contact_phone, required=partner.kind == "AP")
    changes = {k: v for k, v in changes.items() if getattr(partner, k) != v}
    if not changes:
        return partner
    before = {k: getattr(partner, k) for k in changes}
    for k, v in changes.items():
        setattr(partner, k, v)
    partner.updated_at = uow.now
    await _flush_unique(uow, f"a partner named {partner.name!r} already exists", "DUPLICATE_NAME")
    uow.audit("partner.updated", ("partner", partner.id), partner_id=partner.id, before=before, after=changes)
    uow.publish(events.PARTNER_CHANGED, partner.id)
    return partner


async def set_partner_status(uow: UnitOfWork, partner_id: str, status: PartnerStatus, reason: str) -> Partner:
    """Suspend, activate or exit a partner. Exit is final and revokes its API credentials (R-EXIT-01)."""
    access.require_staff(uow.actor, "reviewer", "billing_clerk")
    status = PartnerStatus(status)
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidArgument("a reason is required", code="REASON_REQUIRED")
    if len(reason) > 300:
        raise InvalidArgument("reason is at most 300 characters")
    partner = await _load_partner(uow, partner_id, lock=True)
    if partner.status == status:
        return partner
    if partner.status == PartnerStatus.EXITED:
        raise RuleViolation(f"partner {partner_id} has exited; its status is final", code="PARTNER_EXITED")
    before = partner.snapshot()
    partner.status = status
    partner.status_reason = reason
    partner.updated_at = uow.now
    uow.audit(
        f"partner.{status.value}" if status != PartnerStatus.ACTIVE else "partner.activated",
        ("partner", partner.id),
        partner_id=partner.id,
        before=before,
        after=partner.snapshot(),
        note=reason,
    )
    if status == PartnerStatus.EXITED:
        clients = (
            await uow.session.scalars(
                select(ApiClient).where(ApiClient.partner_id == partner.id, ApiClient.active.is_(True))
            )
        ).all()
        for c in clients:
            await _revoke_client(uow, c, note=f"partner exited: {reason}")
    uow.publish(events.PARTNER_CHANGED, partner.id)
    return partner


# ---- partner users -----------------------------------------------------------------------------


async def _add_user(
    uow: UnitOfWork,
    partner: Partner,
    username: str,
    password_hash: str,
    role: str,
    display_name: str,
    email: str,
) -> PartnerUser:
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
    await _flush_unique(uow, f"the username {username!r} is taken", "DUPLICATE_USERNAME")
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
        if not _partner_user_has(actor, "admin"):
            raise PermissionDenied("needs an operator or the partner's admin user")
    u = rules.validate_username(username)
    rules.validate_password(password)
    role = rules.validate_partner_user_role(role)
    email = rules.validate_email(email, required=False)
    name = " ".join(display_name.split())
    if len(name) > 100:
        raise InvalidArgument("display_name is at most 100 characters")
    partner = await _load_partner(uow, partner_id)
    if partner.status == PartnerStatus.EXITED:
        raise RuleViolation(f"partner {partner_id} has exited", code="PARTNER_EXITED")
    await _ensure_unique(uow, username=u)
    password_hash = await hash_secret_async(password)
    return await _add_user(uow, partner, u, password_hash, role, name, email)


async def list_partner_users(
    uow: UnitOfWork, partner_id: str, *, offset: int = 0, limit: int = access.DEFAULT_LIMIT
) -> tuple[list[PartnerUser], int]:
    offset, limit = access.page(offset, limit)
    await _load_partner(uow, partner_id)
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


# ---- API clients (OAuth2 client credentials) ---------------------------------------------------


def _can_manage_clients(actor: Actor, partner_id: str) -> None:
    if access.is_staff(actor) and actor.has_role("reviewer", "service_agent"):
        return
    access.check_partner_visible(actor, partner_id)
    if not _partner_user_has(actor, "admin", "developer"):
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
    partner = await _load_partner(uow, partner_id)
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
    await _load_partner(uow, partner_id)
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


async def list_api_clients(
    uow: UnitOfWork, partner_id: str, *, offset: int = 0, limit: int = access.DEFAULT_LIMIT
) -> tuple[list[ApiClient], int]:
    offset, limit = access.page(offset, limit)
    await _load_partner(uow, partner_id)
    cond = ApiClient.partner_id == partner_id
    total = await uow.session.scalar(select(func.count()).select_from(ApiClient).where(cond)) or 0
    rows = await uow.session.scalars(
        select(ApiClient).where(cond).order_by(ApiClient.created_at, ApiClient.id).offset(offset).limit(limit)
    )
    return list(rows.all()), total


def _invalid_client(message: str = "client authentication failed") -> Unauthenticated:
    return Unauthenticated(message, code="INVALID_CLIENT")


async def issue_client_token(
    uow: UnitOfWork, client_id: str, secret: str, scopes: list[str] | None = None
) -> tuple[str, int, list[str]]:
    """OAuth2 client credentials: verify the secret (argon2, constant time), then issue a bearer
    token (stored as SHA-256) valid settings.token_ttl_seconds. Returns (token, expires_in, scopes)."""
    client = await uow.session.get(ApiClient, client_id) if 0 < len(client_id) <= 40 else None
    ok = await verify_secret_async(secret, client.secret_hash if client is not None else None)
    if client is None or not ok:
        raise _invalid_client()
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
    _audit_as(
        uow,
        ("api_client", client.id),
        "client.token_issued",
        ("api_client", client.id),
        partner_id=client.partner_id,
        after={"scopes": granted, "expires_in": ttl},
    )
    return token, ttl, granted


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


async def login(uow: UnitOfWork, username: str, password: str) -> tuple[str, Actor]:
    """Operator or partner user by username; returns a 12-hour bearer token (also the console
    session cookie). Raises Unauthenticated without telling which part was wrong."""
    u = (username or "").strip().lower()
    op = user = None
    if 0 < len(u) <= 80:
        op = await uow.session.scalar(select(Operator).where(Operator.username == u))
        if op is None:
            user = await uow.session.scalar(select(PartnerUser).where(PartnerUser.username == u))
    stored = op.password_hash if op is not None else user.password_hash if user is not None else None
    ok = await verify_secret_async(password or "", stored)
    active = (op is not None and op.active) or (user is not None and user.active)
    if not ok or not active:
        raise Unauthenticated("wrong username or password")
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
    _audit_as(uow, (actor.type, actor.id), "auth.login", (actor.type, actor.id), partner_id=actor.partner_id)
    return token, actor


async def logout(uow: UnitOfWork, token: str) -> None:
    """Revoke a login or operator API token; unknown or already revoked tokens are ignored."""
    h = hash_token(token)
    row = await uow.session.get(AccessToken, h)
    if row is None or row.kind not in MANAGEMENT_KINDS or row.revoked_at is not None:
        return
    row.revoked_at = uow.now
    _audit_as(
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
    await _ensure_unique(uow, username=u)
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
    await _flush_unique(uow, f"the username {u!r} is taken", "DUPLICATE_USERNAME")
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


# ---- the partners domain's face for other domains (typed read models, no ORM) -------------------


def partner_ref_of(p: Partner) -> PartnerRef:
    return PartnerRef(
        id=p.id,
        kind=p.kind,
        name=p.name,
        billing_mode=p.billing_mode,
        status=p.status,
        scope=p.scope,
        tier=p.tier,
        credit_code=p.credit_code,
        service_owner_id=p.service_owner_id,
    )


def operator_ref_of(op: Operator) -> OperatorRef:
    return OperatorRef(
        id=op.id,
        username=op.username,
        display_name=op.display_name,
        roles=tuple(op.roles or ()),
        lead_id=op.lead_id,
        active=op.active,
        created_at=op.created_at,
    )


async def partner_ref(uow: UnitOfWork, partner_id: str, *, lock: bool = False) -> PartnerRef:
    """The partner as other domains see it; a partner actor sees only itself (others: NOT_FOUND).
    With `lock`, the partner row is locked for the rest of the transaction (serializes, e.g., the
    orders of one partner)."""
    return partner_ref_of(await _load_partner(uow, partner_id, lock=lock))


async def find_partner_ref(uow: UnitOfWork, partner_id: str) -> PartnerRef | None:
    """Like partner_ref, without the visibility check and None when unknown: for system use (jobs,
    ticket routing) where the caller has already decided who may see what."""
    p = await uow.session.get(Partner, partner_id)
    return partner_ref_of(p) if p is not None else None


async def partner_names(
    uow: UnitOfWork, ids: Iterable[str] | None = None, *, limit: int = 500
) -> dict[str, str]:
    """Partner id -> name, for the given ids, or the first `limit` partners by name."""
    stmt = select(Partner.id, Partner.name)
    if ids is not None:
        wanted = list(set(ids))
        if not wanted:
            return {}
        stmt = stmt.where(Partner.id.in_(wanted))
    else:
        stmt = stmt.order_by(Partner.name).limit(limit)
    return {pid: name for pid, name in (await uow.session.execute(stmt)).all()}


async def partners_with_status(uow: UnitOfWork, status: PartnerStatus) -> list[PartnerRef]:
    rows = await uow.session.scalars(select(Partner).where(Partner.status == status).order_by(Partner.id))
    return [partner_ref_of(p) for p in rows.all()]


async def activate_on_funds(uow: UnitOfWork, partner_id: str, reason: str, note: str | None = None) -> bool:
    """R-BILL-01: a pending prepaid partner becomes active once its funds are confirmed. Audited;
    returns whether the partner was activated now."""
    p = await _load_partner(uow, partner_id, lock=True)
    if p.status != PartnerStatus.PENDING:
        return False
    before = p.snapshot()
    p.status = PartnerStatus.ACTIVE
    p.status_reason = reason
    p.updated_at = uow.now
    uow.audit(
        "partner.activated", ("partner", p.id), partner_id=p.id, before=before, after=p.snapshot(), note=note
    )
    uow.publish(events.PARTNER_CHANGED, p.id)
    return True


async def assign_service_owner(
    uow: UnitOfWork, partner_id: str, operator_id: str, note: str | None = None
) -> None:
    """R-CS-02: the partner's dedicated service owner (the owner of its tickets). Audited."""
    p = await _load_partner(uow, partner_id, lock=True)
    if p.service_owner_id == operator_id:
        return
    if await uow.session.get(Operator, operator_id) is None:
        raise InvalidArgument(f"operator {operator_id} not found", code="UNKNOWN_OPERATOR")
    before = p.service_owner_id
    p.service_owner_id = operator_id
    p.updated_at = uow.now
    uow.audit(
        "partner.service_owner_assigned",
        ("partner", p.id),
        partner_id=p.id,
        before={"service_owner_id": before},
        after={"service_owner_id": operator_id},
        note=note,
    )


async def operator_ref(uow: UnitOfWork, operator_id: str) -> OperatorRef | None:
    op = await uow.session.get(Operator, operator_id)
    return operator_ref_of(op) if op is not None else None


async def active_operators(uow: UnitOfWork) -> list[OperatorRef]:
    rows = await uow.session.scalars(select(Operator).where(Operator.active.is_(True)).order_by(Operator.id))
    return [operator_ref_of(op) for op in rows.all()]


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


async def client_token(uow: UnitOfWork, token_hash: str) -> ClientToken | None:
    """The API client token with this SHA-256, if it is live (not revoked, client active)."""
    row = (
        await uow.session.execute(
            select(AccessToken, ApiClient.active)
            .join(ApiClient, ApiClient.id == AccessToken.subject_id)
            .where(AccessToken.token_hash == token_hash, AccessToken.kind == KIND_CLIENT)
        )
    ).first()
    if row is None:
        return None
    tok, client_active = row
    if tok.revoked_at is not None or not client_active or tok.partner_id is None:
        return None
    return ClientToken(tok.subject_id, tok.partner_id, frozenset(tok.scopes or ()), tok.expires_at)


async def recipient_email(uow: UnitOfWork, kind: str, recipient_id: str) -> str | None:
    """Where a notice to ("partner", id) or ("operator", id) is mailed: the partner's contact email, the
    operator's email. None when the recipient is unknown, an inactive operator, or has no address."""
    if kind == "partner":
        email = await uow.session.scalar(select(Partner.contact_email).where(Partner.id == recipient_id))
    elif kind == "operator":
        email = await uow.session.scalar(
            select(Operator.email).where(Operator.id == recipient_id, Operator.active.is_(True))
        )
    else:
        return None
    email = (email or "").strip()
    return email or None
