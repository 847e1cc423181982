"""Who may see what, and how lists page: the one place every service asks.

Operators (and the system actor) act on every partner, by role; a partner's users and API clients see
their own partner only, and another partner's ids answer NOT_FOUND exactly as unknown ids do (no
existence leak). Lists page with offset/limit; out-of-range paging is refused the same way everywhere
(the HTTP layer refuses it first with the same bounds: kernel.web.Offset/Limit)."""

from __future__ import annotations

from openability.kernel.errors import InvalidArgument, NotFound, PermissionDenied
from openability.kernel.uow import Actor

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# The largest row offset SQLite and PostgreSQL take (signed 64-bit).
MAX_OFFSET = 2**63 - 1


def is_staff(actor: Actor) -> bool:
    return actor.type in ("operator", "system")


def require_staff(actor: Actor, *roles: str) -> None:
    """Operators only (the system actor too); with roles, one of them (admin has every role)."""
    if actor.type == "system":
        return
    if not actor.is_operator:
        raise PermissionDenied("operator only")
    if roles and not actor.has_role(*roles):
        raise PermissionDenied(f"needs one of the operator roles: {', '.join(roles)}")


def check_partner_visible(actor: Actor, partner_id: str) -> None:
    """A partner actor sees only its own partner; other ids look exactly like unknown ids."""
    if not is_staff(actor) and actor.partner_id != partner_id:
        raise NotFound(f"partner {partner_id} not found")


def scope_partner(actor: Actor, partner_id: str | None) -> str | None:
    """The partner a list is about: a partner actor's own (asking for another is NOT_FOUND); for staff
    the one asked for, or None for all."""
    if is_staff(actor):
        return partner_id
    if partner_id is not None:
        check_partner_visible(actor, partner_id)
    return actor.partner_id or "-"


def page(offset: int, limit: int) -> tuple[int, int]:
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument(f"offset must be 0–{MAX_OFFSET}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1–{MAX_LIMIT}")
    return offset, limit
