"""Partners use cases, lifecycle: AP self-registration, SIs (simplest form), updates, status changes
(suspend, activate, exit), activation once funds are confirmed, the service owner; and the reads of
partners.

Every function takes the caller's unit of work and never commits. Permission rules: operators (and
the system actor) act on every partner, by role; partner users act on their own partner only, and ids
of other partners answer NOT_FOUND as if they did not exist."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from openability.kernel import access, events
from openability.kernel.errors import Conflict, InvalidArgument, PermissionDenied, RuleViolation
from openability.kernel.ids import new_id
from openability.kernel.uow import UnitOfWork
from openability.ledger import service as ledger
from openability.partners import identity, oauth, rules
from openability.partners._common import (
    audit_as,
    ensure_unique,
    flush_unique,
    load_partner,
    name_taken,
    partner_user_has,
)
from openability.partners.models import PARTNER_REF_COLUMNS, Partner, PartnerUser
from openability.partners.passwords import hash_secret_async
from openability.partners.schemas import CreateSi, RegisterAp, UpdatePartner
from openability.partners.types import PartnerKind, PartnerStatus, ProductKind, Scope, Tier

# ---- reads -------------------------------------------------------------------------------------


async def get_partner(uow: UnitOfWork, partner_id: str, *, lock: bool = False) -> Partner:
    """Enforces visibility: a partner actor may read only itself (others: NOT_FOUND). With `lock`, the
    row is locked for the rest of the transaction."""
    return await load_partner(uow, partner_id, lock=lock)


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


async def find_partner(uow: UnitOfWork, partner_id: str) -> Partner | None:
    """The partner without the visibility check, None when unknown: for system use (jobs, ticket
    routing) where the caller has already decided who may see what."""
    return await uow.session.get(Partner, partner_id)


async def find_partner_ref_rows(uow: UnitOfWork, partner_ids: Iterable[str]) -> list[Any]:
    """The PartnerRef columns of many partners in one query, as plain rows (no ORM object per
    partner: the bill run reads 10,000 at a time); unknown ids are absent."""
    ids = sorted(set(partner_ids))
    if not ids:
        return []
    return list((await uow.session.execute(select(*PARTNER_REF_COLUMNS).where(Partner.id.in_(ids)))).all())


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


async def partners_with_status(uow: UnitOfWork, status: PartnerStatus) -> list[Partner]:
    rows = await uow.session.scalars(select(Partner).where(Partner.status == status).order_by(Partner.id))
    return list(rows.all())


async def contact_email(uow: UnitOfWork, partner_id: str) -> str | None:
    """The partner's contact email; None when the partner is unknown or has no address."""
    email = await uow.session.scalar(select(Partner.contact_email).where(Partner.id == partner_id))
    return (email or "").strip() or None


# ---- registration, SIs, updates, status --------------------------------------------------------


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
    await ensure_unique(uow, name=name, username=username)

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
    await flush_unique(uow, f"a partner named {name!r} already exists", "DUPLICATE_NAME")
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
    await flush_unique(uow, f"the username {username!r} is taken", "DUPLICATE_USERNAME")
    await ledger.ensure_platform_accounts(uow.session, uow.now)
    await ledger.ensure_partner_accounts(uow.session, partner.id, uow.now)

    who = ("partner_user", user.id)
    after = partner.snapshot() | {"contact_email": email, "branches": branches}
    audit_as(uow, who, "partner.registered", ("partner", partner.id), partner_id=partner.id, after=after)
    audit_as(
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
    rules.check_registered_capital(cmd.registered_capital, uow.settings.min_registered_capital)
    username: str | None = None
    password_hash: str | None = None
    if (cmd.admin_username is None) != (cmd.admin_password is None):
        raise InvalidArgument("admin_username and admin_password go together")
    if cmd.admin_username is not None and cmd.admin_password is not None:
        username = rules.validate_username(cmd.admin_username)
        rules.validate_password(cmd.admin_password)
        password_hash = await hash_secret_async(cmd.admin_password)
    await ensure_unique(uow, name=name, username=username)

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
    await flush_unique(uow, f"a partner named {name!r} already exists", "DUPLICATE_NAME")
    await ledger.ensure_platform_accounts(uow.session, uow.now)
    await ledger.ensure_partner_accounts(uow.session, partner.id, uow.now)
    uow.audit(
        "partner.created",
        ("partner", partner.id),
        partner_id=partner.id,
        after=partner.snapshot() | {"product_kind": cmd.product_kind.value, "industry": industry},
    )
    if username is not None and password_hash is not None:
        await identity.add_partner_user(uow, partner, username, password_hash, "admin", "", "")
    uow.publish(events.PARTNER_CHANGED, partner.id)
    return partner


async def update_partner(uow: UnitOfWork, partner_id: str, cmd: UpdatePartner) -> Partner:
    """Rename (brand words checked again, R-PARTNER-04), branches, contacts."""
    actor = uow.actor
    if not (access.is_staff(actor) and actor.has_role("reviewer")) and not partner_user_has(actor, "admin"):
        access.check_partner_visible(actor, partner_id)
        raise PermissionDenied("needs an operator reviewer or the partner's admin user")
    partner = await load_partner(uow, partner_id, lock=True)
    words = uow.settings.brand_words
    changes: dict[str, Any] = {}
    if cmd.name is not None:
        name = rules.validate_name(cmd.name, words)
        if name != partner.name:
            if await name_taken(uow.session, name, exclude_id=partner.id):
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
    await flush_unique(uow, f"a partner named {partner.name!r} already exists", "DUPLICATE_NAME")
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
    partner = await load_partner(uow, partner_id, lock=True)
    if partner.status == status:
        return partner
    if partner.status == PartnerStatus.EXITED:
        raise RuleViolation(f"partner {partner_id} has exited; its status is final", code="PARTNER_EXITED")
    if partner.status == PartnerStatus.APPLICANT and status != PartnerStatus.EXITED:
        raise RuleViolation(
            f"partner {partner_id} is an applicant: it is activated by the admission flow only (R-ADMIT-05)",
            code="APPLICANT_NOT_ADMITTED",
        )
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
        await oauth.revoke_partner_clients(uow, partner.id, note=f"partner exited: {reason}")
    uow.publish(events.PARTNER_CHANGED, partner.id)
    return partner


async def activate_on_funds(uow: UnitOfWork, partner_id: str, reason: str, note: str | None = None) -> bool:
    """R-BILL-01: a pending prepaid partner becomes active once its funds are confirmed. Audited;
    returns whether the partner was activated now."""
    p = await load_partner(uow, partner_id, lock=True)
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
    p = await load_partner(uow, partner_id, lock=True)
    if p.service_owner_id == operator_id:
        return
    if await identity.get_operator(uow, operator_id) is None:
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


# ---- SI applicants (the admission flow: openability.admission, through partners.service) --------


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
) -> tuple[Partner, PartnerUser]:
    """An SI applicant (R-ADMIT-05): a partner in status APPLICANT with its first (admin) user, who
    fills the application. Public self-registration, like an AP's (an operator registering a company
    on its behalf does the same). Names are checked for brand words (R-PARTNER-04); nothing is active
    until the admission flow activates it."""
    words = uow.settings.brand_words
    mode = rules.check_billing_mode(PartnerKind.SI, billing_mode)
    clean_name = rules.validate_name(name, words)
    user_name = rules.validate_username(username)
    rules.validate_password(password)
    contact = " ".join(contact_name.split())
    if not contact:
        raise InvalidArgument("contact_name is required")
    email = rules.validate_email(contact_email)
    phone = rules.validate_phone(contact_phone)
    code = rules.validate_credit_code(credit_code)
    industry = (industry or "").strip() or None
    password_hash = await hash_secret_async(password)
    await ensure_unique(uow, name=clean_name, username=user_name)
    partner = Partner(
        id=new_id("prt"),
        kind=PartnerKind.SI,
        name=clean_name,
        billing_mode=mode,
        status=PartnerStatus.APPLICANT,
        scope=scope,
        tier=None,
        product_kind=product_kind,
        industry=industry,
        contact_name=contact,
        contact_email=email,
        contact_phone=phone,
        credit_code=code,
        branches=[],
        status_reason="applied for admission (R-ADMIT-05)",
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(partner)
    await flush_unique(uow, f"a partner named {clean_name!r} already exists", "DUPLICATE_NAME")
    user = PartnerUser(
        id=new_id("pu"),
        partner_id=partner.id,
        username=user_name,
        display_name=" ".join(display_name.split()) or contact,
        email=email,
        password_hash=password_hash,
        role="admin",
        active=True,
        created_at=uow.now,
    )
    uow.session.add(user)
    await flush_unique(uow, f"the username {user_name!r} is taken", "DUPLICATE_USERNAME")
    await ledger.ensure_platform_accounts(uow.session, uow.now)
    await ledger.ensure_partner_accounts(uow.session, partner.id, uow.now)
    who = ("partner_user", user.id)
    audit_as(
        uow, who, "partner.applied", ("partner", partner.id), partner_id=partner.id, after=partner.snapshot()
    )
    audit_as(
        uow,
        who,
        "partner_user.created",
        ("partner_user", user.id),
        partner_id=partner.id,
        after={"username": user_name, "role": "admin"},
    )
    uow.publish(events.PARTNER_CHANGED, partner.id)
    return partner, user


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
) -> Partner:
    """An applicant's contract was recorded: its billing mode (one, R-PARTNER-02), classification
    (R-PARTNER-03) and initial price band are the contract's. It stays an applicant until activated."""
    access.require_staff(uow.actor, "reviewer")
    p = await load_partner(uow, partner_id, lock=True)
    if p.status != PartnerStatus.APPLICANT:
        raise RuleViolation(
            f"partner {partner_id} is {p.status.value}, not an applicant", code="NOT_APPLICANT"
        )
    before = p.snapshot()
    p.billing_mode = rules.check_billing_mode(PartnerKind.SI, billing_mode)
    p.scope = scope
    p.product_kind = product_kind
    p.industry = (industry or "").strip() or None
    p.tier = tier
    p.credit_code = rules.validate_credit_code(credit_code) or p.credit_code
    p.registered_capital = registered_capital
    p.updated_at = uow.now
    uow.audit("partner.contracted", ("partner", p.id), partner_id=p.id, before=before, after=p.snapshot())
    uow.publish(events.PARTNER_CHANGED, p.id)
    return p


async def activate_admitted(uow: UnitOfWork, partner_id: str, reason: str, note: str | None = None) -> bool:
    """R-ADMIT-05: an admitted applicant becomes active (the admission flow decided it: contract
    recorded, funds confirmed, certificates valid). Audited; returns whether it was activated now."""
    p = await load_partner(uow, partner_id, lock=True)
    if p.status != PartnerStatus.APPLICANT:
        return False
    before = p.snapshot()
    p.status = PartnerStatus.ACTIVE
    p.status_reason = reason[:300]
    p.updated_at = uow.now
    uow.audit(
        "partner.activated", ("partner", p.id), partner_id=p.id, before=before, after=p.snapshot(), note=note
    )
    uow.publish(events.PARTNER_CHANGED, p.id)
    return True
