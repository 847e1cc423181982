"""Private helpers shared by the partners use-case modules (lifecycle, identity, oauth): audit with an
explicit actor, flush under a unique index, name and username uniqueness, loading a partner with
the caller's visibility, and the partner-role check. Nothing outside `openability.partners` imports
this module (checked: the `partners-use-cases-private` contract)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from openability.kernel import access, audit
from openability.kernel.errors import Conflict, NotFound
from openability.kernel.uow import Actor, UnitOfWork
from openability.partners import rules
from openability.partners.models import Operator, Partner, PartnerUser


def partner_user_has(actor: Actor, *roles: str) -> bool:
    """Whether the actor is a partner user holding one of these partner roles."""
    return actor.type == "partner_user" and any(rules.PARTNER_ROLE_PREFIX + r in actor.roles for r in roles)


def audit_as(
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


async def flush_unique(uow: UnitOfWork, message: str, code: str) -> None:
    # The pre-checks answer the common case; the unique index decides a race between two requests.
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict(message, code=code) from exc


async def load_partner(uow: UnitOfWork, partner_id: str, *, lock: bool = False) -> Partner:
    """The partner row, visible to the caller (a partner actor sees only itself; others: NOT_FOUND).
    With `lock`, the row is locked for the rest of the transaction."""
    access.check_partner_visible(uow.actor, partner_id)
    stmt = select(Partner).where(Partner.id == partner_id)
    if lock:
        stmt = stmt.with_for_update()
    p = await uow.session.scalar(stmt)
    if p is None:
        raise NotFound(f"partner {partner_id} not found")
    return p


async def name_taken(session: AsyncSession, name: str, exclude_id: str | None = None) -> bool:
    stmt = select(Partner.id).where(func.lower(Partner.name) == name.lower())
    if exclude_id is not None:
        stmt = stmt.where(Partner.id != exclude_id)
    return (await session.scalar(stmt.limit(1))) is not None


async def username_taken(session: AsyncSession, username: str) -> bool:
    # One namespace for operators and partner users: login resolves a username to exactly one of them.
    if await session.scalar(select(Operator.id).where(Operator.username == username).limit(1)):
        return True
    return (
        await session.scalar(select(PartnerUser.id).where(PartnerUser.username == username).limit(1))
    ) is not None


async def ensure_unique(uow: UnitOfWork, *, name: str | None = None, username: str | None = None) -> None:
    if name is not None and await name_taken(uow.session, name):
        raise Conflict(f"a partner named {name!r} already exists", code="DUPLICATE_NAME")
    if username is not None and await username_taken(uow.session, username):
        raise Conflict(f"the username {username!r} is taken", code="DUPLICATE_USERNAME")
