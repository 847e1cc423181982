"""The partners domain's face for other domains: the typed queries and commands they call, delegating
to the use-case modules (`lifecycle`, `identity`, `oauth`). No ORM object leaves this module: callers
get read models from `partners.types` (PartnerRef, OperatorRef, ClientToken).

Other domains import only this module (checked: the `partners-use-cases-private` contract); the
partners package itself and the composition layer (seed, runner, cli, app, bootstrap) call the
use-case modules directly. Every function takes the caller's unit of work and never commits."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from openability.kernel.uow import UnitOfWork
from openability.partners import identity, lifecycle, oauth
from openability.partners.models import Operator, Partner
from openability.partners.types import (
    ClientToken,
    OperatorRef,
    PartnerRef,
    PartnerStatus,
    ProductKind,
    Scope,
    Tier,
)


def _partner_ref(p: Partner) -> PartnerRef:
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


def _operator_ref(op: Operator) -> OperatorRef:
    return OperatorRef(
        id=op.id,
        username=op.username,
        display_name=op.display_name,
        roles=tuple(op.roles or ()),
        lead_id=op.lead_id,
        active=op.active,
        created_at=op.created_at,
    )


# ---- partners ----------------------------------------------------------------------------------


async def partner_ref(uow: UnitOfWork, partner_id: str, *, lock: bool = False) -> PartnerRef:
    """The partner as other domains see it; a partner actor sees only itself (others: NOT_FOUND).
    With `lock`, the partner row is locked for the rest of the transaction (serializes, e.g., the
    orders of one partner)."""
    return _partner_ref(await lifecycle.get_partner(uow, partner_id, lock=lock))


async def find_partner_ref(uow: UnitOfWork, partner_id: str) -> PartnerRef | None:
    """Like partner_ref, without the visibility check and None when unknown: for system use (jobs,
    ticket routing) where the caller has already decided who may see what."""
    p = await lifecycle.find_partner(uow, partner_id)
    return _partner_ref(p) if p is not None else None


async def find_partner_refs(uow: UnitOfWork, partner_ids: Iterable[str]) -> dict[str, PartnerRef]:
    """`find_partner_ref` of many partners in one query (the bill run's chunks): id -> ref; unknown
    ids are absent."""
    return {row[0]: PartnerRef(*row) for row in await lifecycle.find_partner_ref_rows(uow, partner_ids)}


async def partner_names(
    uow: UnitOfWork, ids: Iterable[str] | None = None, *, limit: int = 500
) -> dict[str, str]:
    """Partner id -> name, for the given ids, or the first `limit` partners by name."""
    return await lifecycle.partner_names(uow, ids, limit=limit)


async def partners_with_status(uow: UnitOfWork, status: PartnerStatus) -> list[PartnerRef]:
    return [_partner_ref(p) for p in await lifecycle.partners_with_status(uow, status)]


async def set_partner_status(
    uow: UnitOfWork, partner_id: str, status: PartnerStatus, reason: str
) -> PartnerRef:
    """Suspend, activate or exit a partner (the caller's authority is checked: reviewer or billing
    clerk). Exit is final and revokes its API credentials (R-EXIT-01)."""
    return _partner_ref(await lifecycle.set_partner_status(uow, partner_id, status, reason))


async def activate_on_funds(uow: UnitOfWork, partner_id: str, reason: str, note: str | None = None) -> bool:
    """R-BILL-01: a pending prepaid partner becomes active once its funds are confirmed. Audited;
    returns whether the partner was activated now."""
    return await lifecycle.activate_on_funds(uow, partner_id, reason, note)


async def assign_service_owner(
    uow: UnitOfWork, partner_id: str, operator_id: str, note: str | None = None
) -> None:
    """R-CS-02: the partner's dedicated service owner (the owner of its tickets). Audited."""
    await lifecycle.assign_service_owner(uow, partner_id, operator_id, note)


# ---- SI applicants (admission) -----------------------------------------------------------------


async def register_applicant(
    uow: UnitOfWork,
    *,
    name: str,
    username: str,
    password: str,
    display_name: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
    credit_code: str | None,
    billing_mode: str,
    scope: Scope,
    product_kind: ProductKind,
    industry: str | None,
) -> tuple[PartnerRef, str]:
    """An SI applicant partner (status APPLICANT) and its admin user; returns (partner, user id)."""
    p, user = await lifecycle.register_applicant(
        uow,
        name=name,
        username=username,
        password=password,
        display_name=display_name,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
        credit_code=credit_code,
        billing_mode=billing_mode,
        scope=scope,
        product_kind=product_kind,
        industry=industry,
    )
    return _partner_ref(p), user.id


async def apply_contract(
    uow: UnitOfWork,
    partner_id: str,
    *,
    billing_mode: str,
    scope: Scope,
    product_kind: ProductKind,
    industry: str | None,
    tier: Tier,
    credit_code: str | None,
    registered_capital: Decimal | None,
) -> PartnerRef:
    """The applicant's contract terms become its partner record (it stays an applicant)."""
    return _partner_ref(
        await lifecycle.apply_contract(
            uow,
            partner_id,
            billing_mode=billing_mode,
            scope=scope,
            product_kind=product_kind,
            industry=industry,
            tier=tier,
            credit_code=credit_code,
            registered_capital=registered_capital,
        )
    )


async def activate_admitted(uow: UnitOfWork, partner_id: str, reason: str, note: str | None = None) -> bool:
    """R-ADMIT-05: an admitted applicant becomes active; returns whether it was activated now."""
    return await lifecycle.activate_admitted(uow, partner_id, reason, note)


async def partner_branches(uow: UnitOfWork, partner_id: str) -> list[str]:
    """The partner's branch names (R-PARTNER-04 applies to them too)."""
    return list((await lifecycle.get_partner(uow, partner_id)).branches or [])


async def login_token(uow: UnitOfWork, username: str, password: str) -> str:
    """Log a partner user in (a console sign-up logs its new user in); returns the session token."""
    token, _ = await identity.login(uow, username, password)
    return token


# ---- operators ---------------------------------------------------------------------------------


async def operator_ref(uow: UnitOfWork, operator_id: str) -> OperatorRef | None:
    op = await identity.get_operator(uow, operator_id)
    return _operator_ref(op) if op is not None else None


async def active_operators(uow: UnitOfWork) -> list[OperatorRef]:
    return [_operator_ref(op) for op in await identity.active_operators(uow)]


async def operator_labels(uow: UnitOfWork, ids: Iterable[str]) -> dict[str, str]:
    """Operator id -> display name (or username)."""
    return await identity.operator_labels(uow, ids)


async def has_operators(uow: UnitOfWork) -> bool:
    return await identity.has_operators(uow)


# ---- API clients -------------------------------------------------------------------------------


async def client_token(uow: UnitOfWork, token_hash: str) -> ClientToken | None:
    """The API client token with this SHA-256, if it is live (not revoked, client active)."""
    return await oauth.client_token(uow, token_hash)


async def client_token_partner(
    conn: AsyncConnection, token_hash: str
) -> tuple[ClientToken, PartnerRef | None] | None:
    """The live API client token with this SHA-256 and its partner (None: unknown partner), in one
    statement on a plain connection: the gateway's first call of a token."""
    return await oauth.client_token_partner(conn, token_hash)


async def partner_ref_on(conn: AsyncConnection, partner_id: str) -> PartnerRef | None:
    """Like find_partner_ref, in one statement on a plain connection (the gateway's caches)."""
    return await oauth.partner_ref_on(conn, partner_id)


async def client_token_partner_pg(apg: Any, token_hash: str) -> tuple[ClientToken, PartnerRef | None] | None:
    """`client_token_partner` on a raw asyncpg connection in no transaction (PostgreSQL, kernel/rawpg.py)."""
    return await oauth.client_token_partner_pg(apg, token_hash)


async def partner_ref_pg(apg: Any, partner_id: str) -> PartnerRef | None:
    """`partner_ref_on` on a raw asyncpg connection in no transaction (PostgreSQL, kernel/rawpg.py)."""
    return await oauth.partner_ref_pg(apg, partner_id)


async def active_client_count(uow: UnitOfWork, partner_id: str) -> int:
    """How many active API clients the partner has; a partner actor sees only itself (NOT_FOUND)."""
    return await oauth.active_client_count(uow, partner_id)


# ---- notices -----------------------------------------------------------------------------------


async def recipient_email(uow: UnitOfWork, kind: str, recipient_id: str) -> str | None:
    """Where a notice to ("partner", id) or ("operator", id) is mailed: the partner's contact email, the
    operator's email. None when the recipient is unknown, an inactive operator, or has no address."""
    if kind == "partner":
        return await lifecycle.contact_email(uow, recipient_id)
    if kind == "operator":
        return await identity.operator_email(uow, recipient_id)
    return None
