"""Admission use cases: SI applicants and their applications, documents, the automatic checks, the
review, the contract and activation (R-ADMIT-01..05, R-PARTNER-02/03/04, R-EXIT-03, R-BILL-01), exit
bans, termination and contract renewal.

Every function takes the caller's unit of work and never commits. Who may do what: operators with the
reviewer role (admin has every role) and the system actor review, decide, contract and ban; the
applicant's partner users read their own applications and its admin users fill, upload and submit;
another partner's application answers NOT_FOUND exactly as an unknown id does.

Activation hooks into billing without billing knowing admission: billing emits the in-transaction
event FUNDS_CONFIRMED when real funds are confirmed (after the payment's invoice is issued), and
`on_funds_confirmed` (subscribed by the composition root, `subscribe`) activates a contracted applicant
in the same transaction once nothing blocks it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from openability.admission import rules
from openability.admission.models import (
    Application,
    ChecklistEntry,
    Contract,
    Document,
    ExitBan,
    ReportRequest,
)
from openability.admission.schemas import (
    ApplicationFields,
    BanIn,
    ChecklistIn,
    ContractIn,
    DecisionIn,
    RegisterApplicantIn,
    RenewIn,
)
from openability.admission.types import (
    CERTIFICATES,
    EDITABLE,
    OPEN,
    ApplicationFacts,
    ApplicationState,
    BanFacts,
    CheckFailure,
    ChecklistItem,
    ContractState,
    Decision,
    DocumentFacts,
    DocumentKind,
)
from openability.billing import service as billing
from openability.billing.types import PaymentPurpose, PaymentState
from openability.catalog import service as catalog
from openability.kernel import access, events
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import business_date
from openability.kernel.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, RuleViolation
from openability.kernel.ids import new_id
from openability.kernel.notify import notify
from openability.kernel.uow import Actor, UnitOfWork
from openability.partners import rules as partner_rules
from openability.partners import service as partners
from openability.partners.types import PartnerKind, PartnerStatus, ProductKind, Scope, Tier

REVIEW_ROLES = ("reviewer",)
S = ApplicationState
A = "application"  # the audit entity type and the documents' owner type of applications


# ---- who may do what ---------------------------------------------------------------------------


def is_partner_admin(actor: Actor) -> bool:
    return actor.type == "partner_user" and partner_rules.PARTNER_ROLE_PREFIX + "admin" in actor.roles


def is_reviewer(actor: Actor) -> bool:
    return actor.type == "system" or (actor.is_operator and actor.has_role(*REVIEW_ROLES))


def require_reviewer(uow: UnitOfWork) -> None:
    access.require_staff(uow.actor, *REVIEW_ROLES)


def _require_filler(uow: UnitOfWork, app: Application) -> None:
    """The applicant's admin user, or a reviewer acting on its behalf."""
    if is_reviewer(uow.actor):
        return
    access.check_partner_visible(uow.actor, app.partner_id)
    if not is_partner_admin(uow.actor):
        raise PermissionDenied("needs the applicant's admin user or an operator reviewer")


def _who(actor: Actor) -> str:
    return f"{actor.type}:{actor.id}"


# ---- storage -----------------------------------------------------------------------------------


def storage_dir(uow: UnitOfWork) -> Path:
    return Path(uow.settings.data_dir) / "admission"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)


# ---- reads -------------------------------------------------------------------------------------


async def get_application(uow: UnitOfWork, application_id: str, *, lock: bool = False) -> Application:
    """The application, visible to staff and to its own partner's users (others: NOT_FOUND)."""
    stmt = select(Application).where(Application.id == application_id)
    if lock:  # and reread: a row read earlier in this transaction may have changed before the lock
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    app = await uow.session.scalar(stmt)
    if app is None or (not access.is_staff(uow.actor) and app.partner_id != uow.actor.partner_id):
        raise NotFound(f"application {application_id} not found")
    return app


async def list_applications(
    uow: UnitOfWork,
    *,
    state: ApplicationState | None = None,
    partner_id: str | None = None,
    offset: int = 0,
    limit: int = access.DEFAULT_LIMIT,
) -> tuple[list[Application], int]:
    """Staff see every application (the reviewer queue: state=submitted, oldest submission first); a
    partner's users see their own partner's."""
    offset, limit = access.page(offset, limit)
    pid = access.scope_partner(uow.actor, partner_id)
    conds: list[Any] = []
    if pid is not None:
        conds.append(Application.partner_id == pid)
    if state is not None:
        conds.append(Application.state == state)
    total = await uow.session.scalar(select(func.count()).select_from(Application).where(*conds)) or 0
    order = (
        (Application.submitted_at, Application.id)
        if state in (S.SUBMITTED, S.UNDER_REVIEW)
        else (Application.created_at.desc(), Application.id.desc())
    )
    rows = await uow.session.scalars(
        select(Application).where(*conds).order_by(*order).offset(offset).limit(limit)
    )
    return list(rows.all()), int(total)


async def documents_of(uow: UnitOfWork, owner_type: str, owner_id: str) -> list[Document]:
    rows = await uow.session.scalars(
        select(Document)
        .where(Document.owner_type == owner_type, Document.owner_id == owner_id)
        .order_by(Document.created_at, Document.id)
    )
    return list(rows.all())


async def checklist_of(uow: UnitOfWork, application_id: str) -> list[ChecklistEntry]:
    rows = await uow.session.scalars(
        select(ChecklistEntry)
        .where(ChecklistEntry.application_id == application_id)
        .order_by(ChecklistEntry.at, ChecklistEntry.id)
    )
    return list(rows.all())


def latest_checklist(entries: Sequence[ChecklistEntry]) -> dict[ChecklistItem, ChecklistEntry]:
    out: dict[ChecklistItem, ChecklistEntry] = {}
    for e in entries:
        out[e.item] = e
    return out


async def contracts_of(
    uow: UnitOfWork, *, application_id: str | None = None, partner_id: str | None = None
) -> list[Contract]:
    stmt = select(Contract)
    if application_id is not None:
        stmt = stmt.where(Contract.application_id == application_id)
    if partner_id is not None:
        stmt = stmt.where(Contract.partner_id == partner_id)
    rows = await uow.session.scalars(stmt.order_by(Contract.created_at, Contract.id))
    return list(rows.all())


async def history(uow: UnitOfWork, application_id: str) -> list[AuditEntry]:
    """Every transition and act on the application, oldest first (the audit rows)."""
    rows = await uow.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity_type == A, AuditEntry.entity_id == application_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return list(rows.all())


def _doc_facts(d: Document) -> DocumentFacts:
    assert d.kind is not None
    return DocumentFacts(d.id, d.kind, d.number, d.issuer, d.valid_from, d.valid_to)


def effective_documents(docs: Sequence[Document]) -> list[Document]:
    """The documents that count (the latest certificate of each kind, every other material)."""
    keep = {f.id for f in rules.effective_documents([_doc_facts(d) for d in docs if d.kind is not None])}
    return [d for d in docs if d.id in keep]


async def active_bans(uow: UnitOfWork, on: date) -> list[BanFacts]:
    rows = await uow.session.scalars(select(ExitBan).where(ExitBan.until >= on).order_by(ExitBan.since))
    return [
        BanFacts(b.id, b.credit_code, b.company_name, b.business_category, b.until, b.reason)
        for b in rows.all()
    ]


async def evaluate(uow: UnitOfWork, app: Application) -> list[CheckFailure]:
    """The automatic checks of a submission, on the application as it stands now (R-ADMIT-05)."""
    today = business_date(uow.now)
    docs = await documents_of(uow, A, app.id)
    branches = await partners.partner_branches(uow, app.partner_id)
    facts = ApplicationFacts(
        company_name=app.company_name,
        branches=tuple(branches),
        credit_code=app.credit_code,
        registered_capital=app.registered_capital,
        product_kind=app.product_kind,
        industry=app.industry,
        scope=app.scope,
        intended_products=tuple(app.intended_products or ()),
        needs_resource_authorization=app.needs_resource_authorization,
        local_customer_resources=app.local_customer_resources,
        local_promotion_resources=app.local_promotion_resources,
        documents=tuple(_doc_facts(d) for d in docs if d.kind is not None),
    )
    return rules.submission_failures(
        facts,
        on=today,
        minimum_capital=uow.settings.min_registered_capital,
        brand_words=uow.settings.brand_words,
        bans=await active_bans(uow, today),
    )


# ---- applicants and applications ---------------------------------------------------------------


def _snapshot(app: Application) -> dict[str, Any]:
    return {
        "state": app.state.value,
        "company_name": app.company_name,
        "credit_code": app.credit_code,
        "registered_capital": app.registered_capital,
        "product_kind": app.product_kind,
        "industry": app.industry,
        "scope": app.scope,
        "billing_mode": app.billing_mode,
    }


def _apply_fields(app: Application, f: ApplicationFields) -> dict[str, Any]:
    """Set the fields the request gave; returns what changed."""
    given = f.model_fields_set
    values: dict[str, Any] = {}
    if "credit_code" in given:
        values["credit_code"] = partner_rules.validate_credit_code(f.credit_code)
    if "registered_capital" in given:
        values["registered_capital"] = f.registered_capital
    if "legal_representative" in given:
        values["legal_representative"] = " ".join((f.legal_representative or "").split())
    if "address" in given:
        values["address"] = " ".join((f.address or "").split())
    if "product_kind" in given and f.product_kind is not None:
        values["product_kind"] = f.product_kind.value
    if "industry" in given:
        values["industry"] = (f.industry or "").strip() or None
    if "scope" in given and f.scope is not None:
        values["scope"] = f.scope.value
    if "intended_products" in given:
        values["intended_products"] = _products(f.intended_products or [])
    if "billing_mode" in given and f.billing_mode is not None:
        values["billing_mode"] = partner_rules.check_billing_mode(PartnerKind.SI, f.billing_mode).value
    if "needs_resource_authorization" in given and f.needs_resource_authorization is not None:
        values["needs_resource_authorization"] = f.needs_resource_authorization
    if "local_customer_resources" in given:
        values["local_customer_resources"] = (f.local_customer_resources or "").strip()
    if "local_promotion_resources" in given:
        values["local_promotion_resources"] = (f.local_promotion_resources or "").strip()
    changes: dict[str, Any] = {}
    for k, v in values.items():
        if getattr(app, k) != v:
            setattr(app, k, v)
            changes[k] = v
    return changes


def _products(items: Sequence[str]) -> list[str]:
    out: list[str] = []
    for p in items:
        name = " ".join(p.split())
        if name and name not in out:
            out.append(name)
    return out


async def _open_application(uow: UnitOfWork, partner_id: str) -> Application | None:
    return await uow.session.scalar(
        select(Application)
        .where(Application.partner_id == partner_id, Application.state.in_([s.value for s in OPEN]))
        .limit(1)
    )


async def _new_application(
    uow: UnitOfWork, partner_id: str, company_name: str, f: ApplicationFields
) -> Application:
    app = Application(
        id=new_id("apl"),
        partner_id=partner_id,
        state=S.DRAFT,
        company_name=company_name,
        product_kind=ProductKind.STANDARD.value,
        scope=Scope.NATIONAL.value,
        intended_products=[],
        billing_mode="prepaid",
        needs_resource_authorization=False,
        local_customer_resources="",
        local_promotion_resources="",
        legal_representative="",
        address="",
        decision_reason="",
        created_at=uow.now,
        updated_at=uow.now,
    )
    _apply_fields(app, f)
    uow.session.add(app)
    await uow.session.flush()
    uow.audit("application.created", (A, app.id), partner_id=partner_id, after=_snapshot(app))
    return app


async def register_applicant(uow: UnitOfWork, cmd: RegisterApplicantIn) -> tuple[str, str, Application]:
    """Self-registration of an SI applicant (or an operator reviewer on its behalf): the applicant
    partner (status applicant) with its admin user, and its draft application. Returns (partner id,
    user id, application)."""
    fields = cmd.application_fields()
    ref, user_id = await partners.register_applicant(
        uow,
        name=cmd.name,
        username=cmd.username,
        password=cmd.password,
        display_name=cmd.display_name,
        contact_name=cmd.contact_name,
        contact_email=cmd.contact_email,
        contact_phone=cmd.contact_phone,
        credit_code=cmd.credit_code,
        billing_mode=cmd.billing_mode or "prepaid",
        scope=cmd.scope or Scope.NATIONAL,
        product_kind=cmd.product_kind or ProductKind.STANDARD,
        industry=cmd.industry,
    )
    app = await _new_application(uow, ref.id, ref.name, fields)
    return ref.id, user_id, app


async def create_application(uow: UnitOfWork, partner_id: str | None, f: ApplicationFields) -> Application:
    """A new application of an applicant partner (e.g. after a rejection): its admin user, or a reviewer
    naming the partner. One open application per partner at a time."""
    actor = uow.actor
    if is_reviewer(actor):
        if not partner_id:
            raise InvalidArgument("partnerId is required", code="PARTNER_REQUIRED")
    else:
        partner_id = access.scope_partner(actor, partner_id)
        if not is_partner_admin(actor):
            raise PermissionDenied("needs the applicant's admin user or an operator reviewer")
    assert partner_id is not None
    ref = await partners.partner_ref(uow, partner_id, lock=True)
    if ref.kind != PartnerKind.SI or ref.status != PartnerStatus.APPLICANT:
        raise RuleViolation(
            "applications are for SI applicants; an AP needs none (R-ADMIT-06), an admitted SI renews its "
            "contract instead",
            code="NOT_APPLICANT",
        )
    existing = await _open_application(uow, partner_id)
    if existing is not None:
        raise Conflict(
            f"application {existing.id} is still {existing.state.value}",
            code="APPLICATION_OPEN",
            details={"applicationId": existing.id},
        )
    return await _new_application(uow, partner_id, ref.name, f)


async def update_application(uow: UnitOfWork, application_id: str, f: ApplicationFields) -> Application:
    app = await get_application(uow, application_id, lock=True)
    _require_filler(uow, app)
    if app.state not in EDITABLE:
        raise Conflict(
            f"the application is {app.state.value}: only a draft or a returned one can change",
            code="INVALID_STATE",
        )
    before = _snapshot(app)
    changes = _apply_fields(app, f)
    if changes:
        app.updated_at = uow.now
        uow.audit("application.updated", (A, app.id), partner_id=app.partner_id, before=before, after=changes)
    return app


async def withdraw(uow: UnitOfWork, application_id: str, reason: str = "") -> Application:
    app = await get_application(uow, application_id, lock=True)
    _require_filler(uow, app)
    await _transition(uow, app, S.WITHDRAWN, note=reason or None)
    return app


async def _transition(
    uow: UnitOfWork, app: Application, target: ApplicationState, *, note: str | None = None, **after: Any
) -> None:
    rules.check_transition(app.state, target)
    before = app.state.value
    app.state = target
    app.updated_at = uow.now
    uow.audit(
        f"application.{target.value}",
        (A, app.id),
        partner_id=app.partner_id,
        before={"state": before},
        after={"state": target.value, **after},
        note=note,
    )
    uow.publish(events.PARTNER_CHANGED, app.partner_id)


# ---- documents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    kind: DocumentKind
    filename: str
    data: bytes
    number: str = ""
    issuer: str = ""
    valid_from: date | None = None
    valid_to: date | None = None


async def store_file(
    uow: UnitOfWork, partner_id: str, owner: tuple[str, str], filename: str, data: bytes, **meta: Any
) -> Document:
    """Check (size, type by content, name) and store a partner's file: written under a generated name
    before the row (a rolled-back upload leaves an orphan file, never a row without bytes)."""
    ctype = rules.check_file(data, uow.settings.admission_max_document_bytes)
    name = rules.check_filename(filename)
    doc_id = new_id("doc")
    key = f"{partner_id}/{doc_id}"
    await asyncio.to_thread(_write, storage_dir(uow) / key, data)
    doc = Document(
        id=doc_id,
        partner_id=partner_id,
        owner_type=owner[0],
        owner_id=owner[1],
        filename=name,
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        uploaded_by_type=uow.actor.type,
        uploaded_by_id=uow.actor.id,
        created_at=uow.now,
        number=meta.get("number", ""),
        issuer=meta.get("issuer", ""),
        valid_from=meta.get("valid_from"),
        valid_to=meta.get("valid_to"),
        kind=meta.get("kind"),
    )
    uow.session.add(doc)
    await uow.session.flush()
    return doc


async def add_document(uow: UnitOfWork, application_id: str, up: Upload) -> Document:
    """R-ADMIT-01/03: upload a certificate (number, issuer, validity) or another material. A draft or
    returned application takes any; a contracted or active one takes renewed certificates only."""
    app = await get_application(uow, application_id, lock=True)
    _require_filler(uow, app)
    kind = DocumentKind(up.kind)
    renewal = app.state in (S.CONTRACTED, S.ACTIVE)
    if app.state not in EDITABLE and not (renewal and kind in CERTIFICATES):
        raise Conflict(
            f"the application is {app.state.value}: documents are added to a draft or a returned "
            "application (a contracted or active SI uploads renewed certificates only)",
            code="INVALID_STATE",
        )
    number, issuer = rules.check_document_fields(kind, up.number, up.issuer, up.valid_from, up.valid_to)
    doc = await store_file(
        uow,
        app.partner_id,
        (A, app.id),
        up.filename,
        up.data,
        kind=kind,
        number=number,
        issuer=issuer,
        valid_from=up.valid_from,
        valid_to=up.valid_to,
    )
    app.updated_at = uow.now
    uow.audit(
        "application.document_added",
        (A, app.id),
        partner_id=app.partner_id,
        after={
            "document_id": doc.id,
            "kind": kind.value,
            "number": number,
            "valid_to": up.valid_to,
            "filename": doc.filename,
            "size": doc.size,
            "sha256": doc.sha256,
        },
    )
    return doc


async def read_document(uow: UnitOfWork, application_id: str, document_id: str) -> tuple[Document, bytes]:
    """A document's bytes: for the application's own partner and staff only (others: NOT_FOUND)."""
    app = await get_application(uow, application_id)
    doc = await uow.session.get(Document, document_id)
    if doc is None or doc.owner_type != A or doc.owner_id != app.id:
        raise NotFound(f"document {document_id} not found")
    return doc, await read_bytes(uow, doc)


async def read_bytes(uow: UnitOfWork, doc: Document) -> bytes:
    try:
        return await asyncio.to_thread((storage_dir(uow) / doc.storage_key).read_bytes)
    except FileNotFoundError:
        raise NotFound(f"document {doc.id} content missing") from None


# ---- submission and review ---------------------------------------------------------------------


def checks_failed(failures: Sequence[CheckFailure]) -> RuleViolation:
    first = "; ".join(f.message for f in failures[:3])
    more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
    return RuleViolation(
        f"the application fails {len(failures)} automatic check(s): {first}{more}",
        code="ADMISSION_CHECKS_FAILED",
        details={"failures": [f.as_dict() for f in failures]},
    )


async def submit(uow: UnitOfWork, application_id: str) -> Application:
    """R-ADMIT-05: draft (or returned) → submitted, once every automatic check passes; else 422
    ADMISSION_CHECKS_FAILED listing each failure with a reason the applicant can act on."""
    app = await get_application(uow, application_id, lock=True)
    _require_filler(uow, app)
    rules.check_transition(app.state, S.SUBMITTED)
    ref = await partners.partner_ref(uow, app.partner_id)
    app.company_name = ref.name  # renamed since? the checks judge the name it has now
    failures = await evaluate(uow, app)
    if failures:
        raise checks_failed(failures)
    resubmitted = app.state == S.RETURNED
    app.submitted_at = uow.now
    app.decision = None
    await _transition(uow, app, S.SUBMITTED, resubmitted=resubmitted)
    await _notify_partner(
        uow,
        app,
        "admission.submitted",
        "入驻申请已提交",
        f"申请 {app.id} 已提交，自动检查全部通过，等待审核。",
    )
    await _notify_reviewers(
        uow,
        "admission.queue",
        f"新的入驻申请：{app.company_name}",
        f"申请 {app.id}（{app.company_name}）已{'重新' if resubmitted else ''}提交，等待审核。",
        dedup=f"admission-queue:{app.id}:{uow.now.isoformat()}",
    )
    return app


async def start_review(uow: UnitOfWork, application_id: str) -> Application:
    """A reviewer takes a submitted application: submitted → underReview."""
    require_reviewer(uow)
    app = await get_application(uow, application_id, lock=True)
    await _start_review(uow, app)
    return app


async def _start_review(uow: UnitOfWork, app: Application) -> None:
    app.reviewer_id = uow.actor.id
    await _transition(uow, app, S.UNDER_REVIEW, reviewer=uow.actor.id)
    await _notify_partner(uow, app, "admission.review", "入驻申请审核中", f"申请 {app.id} 已进入审核。")


async def record_checklist(
    uow: UnitOfWork, application_id: str, items: Sequence[ChecklistIn]
) -> list[ChecklistEntry]:
    """R-ADMIT-04: the reviewer's judgements (compliance, industry expertise, service system), each
    with the reviewer's name, the time and a comment. A submitted application goes under review."""
    require_reviewer(uow)
    app = await get_application(uow, application_id, lock=True)
    if app.state == S.SUBMITTED:
        await _start_review(uow, app)
    if app.state != S.UNDER_REVIEW:
        raise Conflict(f"the application is {app.state.value}, not under review", code="INVALID_STATE")
    return await _record_items(uow, app, items)


async def _record_items(
    uow: UnitOfWork, app: Application, items: Sequence[ChecklistIn]
) -> list[ChecklistEntry]:
    out: list[ChecklistEntry] = []
    for it in items:
        e = ChecklistEntry(
            id=new_id("chk"),
            application_id=app.id,
            item=ChecklistItem(it.item),
            passed=it.passed,
            comment=" ".join(it.comment.split()),
            reviewer_id=uow.actor.id,
            reviewer_name=(uow.actor.name or uow.actor.id)[:100],
            at=uow.now,
        )
        uow.session.add(e)
        out.append(e)
        uow.audit(
            "application.checklist",
            (A, app.id),
            partner_id=app.partner_id,
            after={
                "item": e.item.value,
                "passed": e.passed,
                "comment": e.comment,
                "reviewer": e.reviewer_name,
            },
        )
    await uow.session.flush()
    return out


async def decide(uow: UnitOfWork, application_id: str, cmd: DecisionIn) -> Application:
    """R-ADMIT-04/05: approve (automatic checks still passing, the checklist complete: every item passed
    with a comment), reject (with the reason) or return for more materials (saying what to add). A
    submitted application goes under review first; an approved one may still be rejected."""
    require_reviewer(uow)
    app = await get_application(uow, application_id, lock=True)
    decision = Decision(cmd.decision)
    if app.state == S.SUBMITTED:
        await _start_review(uow, app)
    if cmd.checklist:
        if app.state != S.UNDER_REVIEW:
            raise Conflict(f"the application is {app.state.value}, not under review", code="INVALID_STATE")
        await _record_items(uow, app, cmd.checklist)
    reason = rules.check_decision_reason(cmd.reason, needed=decision != Decision.APPROVE)
    target = {Decision.APPROVE: S.APPROVED, Decision.REJECT: S.REJECTED, Decision.RETURN: S.RETURNED}[
        decision
    ]
    rules.check_transition(app.state, target)
    if decision == Decision.APPROVE:
        failures = await evaluate(uow, app)
        if failures:
            raise checks_failed(failures)
        latest = latest_checklist(await checklist_of(uow, app.id))
        gaps = rules.checklist_gaps({k: (v.passed, v.comment) for k, v in latest.items()})
        if gaps:
            raise RuleViolation(
                f"the reviewer's checklist is not complete: {'; '.join(gaps)} (R-ADMIT-04)",
                code="CHECKLIST_INCOMPLETE",
                details={"gaps": gaps},
            )
    app.decision = decision.value
    app.decision_reason = reason
    app.decided_by = _who(uow.actor)
    app.decided_at = uow.now
    await _transition(uow, app, target, note=reason or None, decision=decision.value)
    subject, body = {
        Decision.APPROVE: ("入驻申请已通过", f"申请 {app.id} 已通过审核，请等待签订合同。"),
        Decision.REJECT: ("入驻申请未通过", f"申请 {app.id} 未通过审核。原因：{reason}"),
        Decision.RETURN: ("入驻申请需补充材料", f"申请 {app.id} 需补充材料后重新提交。说明：{reason}"),
    }[decision]
    await _notify_partner(uow, app, f"admission.{decision.value}", subject, body)
    return app


# ---- the contract and activation ---------------------------------------------------------------


def _contract_snapshot(c: Contract) -> dict[str, Any]:
    return {
        "number": c.number,
        "state": c.state.value,
        "scope": c.scope,
        "billing_mode": c.billing_mode,
        "price_band": c.price_band,
        "deposit": c.deposit,
        "agreed_payment": c.agreed_payment,
        "valid_from": c.valid_from,
        "valid_to": c.valid_to,
    }


async def _number_free(uow: UnitOfWork, number: str) -> str:
    n = " ".join(number.split())
    if not n:
        raise InvalidArgument("the contract number is required", code="CONTRACT_NUMBER")
    if await uow.session.scalar(select(Contract.id).where(Contract.number == n)) is not None:
        raise Conflict(f"contract number {n} is already recorded", code="CONTRACT_NUMBER_TAKEN")
    return n


async def record_contract(uow: UnitOfWork, application_id: str, cmd: ContractIn) -> Contract:
    """R-ADMIT-05: the contract of an approved application: number, scope, billing mode (exactly one,
    R-PARTNER-02), deposit (postpaid) or agreed first payment (prepaid), validity and the initial price
    band. The partner takes the contract's terms; it is activated once its funds are confirmed."""
    require_reviewer(uow)
    app = await _locked_with_partner(uow, application_id)
    rules.check_transition(app.state, S.CONTRACTED)
    deposit, agreed = rules.check_contract_terms(
        billing_mode=cmd.billing_mode,
        deposit=cmd.deposit,
        agreed_payment=cmd.agreed_payment,
        valid_from=cmd.valid_from,
        valid_to=cmd.valid_to,
        today=business_date(uow.now),
    )
    number = await _number_free(uow, cmd.number)
    scope = cmd.scope or Scope(app.scope)
    contract = Contract(
        id=new_id("ctr"),
        number=number,
        application_id=app.id,
        partner_id=app.partner_id,
        state=ContractState.SIGNED,
        scope=scope.value,
        product_kind=app.product_kind,
        industry=app.industry,
        billing_mode=cmd.billing_mode,
        price_band=cmd.price_band.value,
        deposit=deposit,
        agreed_payment=agreed,
        valid_from=cmd.valid_from,
        valid_to=cmd.valid_to,
        recorded_by=_who(uow.actor),
        created_at=uow.now,
        end_reason="",
    )
    uow.session.add(contract)
    await uow.session.flush()
    await partners.apply_contract(
        uow,
        app.partner_id,
        billing_mode=cmd.billing_mode,
        scope=scope,
        product_kind=ProductKind(app.product_kind),
        industry=app.industry,
        tier=cmd.price_band,
        credit_code=app.credit_code,
        registered_capital=app.registered_capital,
    )
    await _transition(uow, app, S.CONTRACTED, contract=number)
    uow.audit("contract.recorded", (A, app.id), partner_id=app.partner_id, after=_contract_snapshot(contract))
    what = (
        f"请缴纳保证金 ¥{deposit:,.2f}，确认到账后开通服务。"
        if cmd.billing_mode == "postpaid"
        else "请按合同付款，款项确认并开具发票后开通服务。"
    )
    await _notify_partner(uow, app, "admission.contracted", "合同已登记", f"合同 {number} 已登记。{what}")
    await try_activate(uow, app, contract)
    return contract


async def _locked_with_partner(uow: UnitOfWork, application_id: str) -> Application:
    """The application locked after its partner's row: the order billing's confirmation takes (partner,
    then application in on_funds_confirmed), so the two never wait on each other crosswise."""
    app = await get_application(uow, application_id)
    await partners.partner_ref(uow, app.partner_id, lock=True)
    return await get_application(uow, application_id, lock=True)


async def _signed_contract(uow: UnitOfWork, app: Application) -> Contract:
    c = await uow.session.scalar(
        select(Contract)
        .where(Contract.application_id == app.id, Contract.state == ContractState.SIGNED)
        .order_by(Contract.created_at.desc())
        .limit(1)
    )
    if c is None:
        raise Conflict(f"application {app.id} has no signed contract", code="NO_CONTRACT")
    return c


async def activation_blockers(uow: UnitOfWork, app: Application, contract: Contract) -> list[CheckFailure]:
    """What stands between a contracted applicant and activation now (R-ADMIT-05, R-BILL-01, R-ADMIT-01)."""
    docs = await documents_of(uow, A, app.id)
    cert = rules.certificate_failures(
        [_doc_facts(d) for d in docs if d.kind is not None], business_date(uow.now)
    )
    paid = Decimal("0")
    with_invoice = without_invoice = 0
    deposit_held = Decimal("0")
    if contract.billing_mode == "prepaid":
        rows, _ = await billing.list_payments(
            uow, partner_id=app.partner_id, state=PaymentState.CONFIRMED, limit=access.MAX_LIMIT
        )
        since = [
            p
            for p in rows
            if p.purpose == PaymentPurpose.TOP_UP
            and p.confirmed_at is not None
            and p.confirmed_at >= contract.created_at
        ]
        invoices = await billing.invoices_for_payments(uow, [p.id for p in since])
        for p in since:
            if p.id in invoices:
                with_invoice += 1
                paid += p.amount
            else:
                without_invoice += 1
    else:
        deposit_held = (await billing.get_balance(uow, app.partner_id)).deposit
    return rules.activation_blockers(
        billing_mode=contract.billing_mode,
        deposit_required=contract.deposit,
        deposit_held=deposit_held,
        agreed_payment=contract.agreed_payment,
        paid_with_invoice=paid,
        payments_with_invoice=with_invoice,
        payments_without_invoice=without_invoice,
        certificate_problems=cert,
    )


async def try_activate(
    uow: UnitOfWork, app: Application, contract: Contract | None = None
) -> list[CheckFailure]:
    """Activate a contracted applicant when nothing blocks it; returns the blockers (empty: activated)."""
    if app.state != S.CONTRACTED:
        return []
    contract = contract or await _signed_contract(uow, app)
    blockers = await activation_blockers(uow, app, contract)
    if blockers:
        return blockers
    contract.state = ContractState.IN_FORCE
    contract.activated_at = uow.now
    app.activated_at = uow.now
    reason = (
        "deposit received (R-ADMIT-05)"
        if contract.billing_mode == "postpaid"
        else "payment confirmed, invoice issued (R-BILL-01)"
    )
    await partners.activate_admitted(
        uow,
        app.partner_id,
        f"admitted under contract {contract.number}: {reason}",
        note=f"R-ADMIT-05: {reason}",
    )
    await _transition(uow, app, S.ACTIVE, contract=contract.number)
    await request_standing_reports(uow, app.partner_id)  # rulebook §8: the SI's standing reports
    await _notify_partner(
        uow, app, "admission.active", "服务已开通", f"合同 {contract.number} 已生效，服务已开通。"
    )
    return []


async def activate(uow: UnitOfWork, application_id: str) -> Application:
    """An operator asks again (e.g. after a renewed certificate was uploaded): activates, or 422
    ACTIVATION_BLOCKED listing what still blocks it."""
    access.require_staff(uow.actor, "reviewer", "billing_clerk")
    app = await _locked_with_partner(uow, application_id)
    if app.state != S.CONTRACTED:
        raise Conflict(f"the application is {app.state.value}, not contracted", code="INVALID_STATE")
    blockers = await try_activate(uow, app)
    if blockers:
        raise RuleViolation(
            "activation is blocked: " + "; ".join(b.message for b in blockers),
            code="ACTIVATION_BLOCKED",
            details={"blockers": [b.as_dict() for b in blockers]},
        )
    return app


async def on_funds_confirmed(uow: UnitOfWork, payment_id: str) -> None:
    """FUNDS_CONFIRMED (billing, in its transaction): a contracted applicant whose funds were confirmed
    is activated now, or told what still blocks it."""
    payment = await billing.get_payment(uow, payment_id)
    app = await uow.session.scalar(
        select(Application)
        .where(Application.partner_id == payment.partner_id, Application.state == S.CONTRACTED)
        .with_for_update()
    )
    if app is None:
        return
    blockers = await try_activate(uow, app)
    if blockers:
        text = "；".join(b.message for b in blockers)
        await _notify_partner(
            uow,
            app,
            "admission.activation_blocked",
            "款项已确认，服务尚未开通",
            f"付款 {payment_id} 已确认，但开通仍需：{text}",
            dedup=f"activation-blocked:{payment_id}",
        )


def subscribe(bus: events.EventBus) -> None:
    """Wired by the composition root: admission reacts to billing's confirmed funds."""
    bus.subscribe_in_transaction(events.FUNDS_CONFIRMED, on_funds_confirmed)


# ---- bans, termination, renewal ----------------------------------------------------------------


async def record_ban(uow: UnitOfWork, cmd: BanIn) -> ExitBan:
    """R-EXIT-03: record that a company (or one business category of it) was exited for failing
    assessment: it may not apply again for a year from `since` (default today)."""
    require_reviewer(uow)
    credit_code = partner_rules.validate_credit_code(cmd.credit_code)
    name = " ".join((cmd.company_name or "").split()) or None
    if cmd.partner_id:
        ref = await partners.partner_ref(uow, cmd.partner_id)
        credit_code = credit_code or ref.credit_code
        name = name or ref.name
    if not credit_code and not name:
        raise InvalidArgument(
            "a ban names the company: creditCode, companyName or partnerId", code="BAN_SUBJECT"
        )
    reason = " ".join(cmd.reason.split())
    if not reason:
        raise InvalidArgument("a ban states its reason", code="REASON_REQUIRED")
    since = cmd.since or business_date(uow.now)
    category = (cmd.business_category or "").strip() or None
    if (
        category is not None
        and category not in ("standard", "industry")
        and not category.startswith("industry:")
    ):
        category = rules.business_category("industry", category)
    if category == "industry":
        raise InvalidArgument("an industry category names its field: industry:<field>", code="BAN_CATEGORY")
    ban = ExitBan(
        id=new_id("ban"),
        credit_code=credit_code,
        company_name=name,
        business_category=category,
        partner_id=cmd.partner_id,
        since=since,
        until=rules.ban_until(since),
        reason=reason[:300],
        recorded_by=_who(uow.actor),
        created_at=uow.now,
    )
    uow.session.add(ban)
    await uow.session.flush()
    uow.audit(
        "exit_ban.recorded",
        ("exit_ban", ban.id),
        partner_id=cmd.partner_id,
        after={
            "credit_code": credit_code,
            "company_name": name,
            "category": category,
            "since": since,
            "until": ban.until,
        },
        note=reason,
    )
    return ban


async def list_bans(
    uow: UnitOfWork, *, active: bool | None = None, offset: int = 0, limit: int = access.DEFAULT_LIMIT
) -> tuple[list[ExitBan], int]:
    access.require_staff(uow.actor)
    offset, limit = access.page(offset, limit)
    conds: list[Any] = []
    today = business_date(uow.now)
    if active is True:
        conds.append(ExitBan.until >= today)
    elif active is False:
        conds.append(ExitBan.until < today)
    total = await uow.session.scalar(select(func.count()).select_from(ExitBan).where(*conds)) or 0
    rows = await uow.session.scalars(
        select(ExitBan)
        .where(*conds)
        .order_by(ExitBan.created_at.desc(), ExitBan.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all()), int(total)


async def terminate(
    uow: UnitOfWork,
    partner_id: str,
    reason: str,
    *,
    failed_assessment: bool = False,
    category: str | None = None,
) -> int:
    """Terminate an SI's cooperation (R-EXIT-01): its contract ends, it exits (API credentials revoked),
    its active orders are cancelled; exited for failing assessment, it is banned from applying for a
    year (R-EXIT-03; with `category`, from that business category only). Returns the orders cancelled."""
    require_reviewer(uow)
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidArgument("a termination states its reason", code="REASON_REQUIRED")
    ref = await partners.partner_ref(uow, partner_id, lock=True)
    if ref.kind != PartnerKind.SI:
        raise RuleViolation("only an SI's cooperation is terminated here", code="NOT_SI")
    if ref.status == PartnerStatus.EXITED:
        raise Conflict(f"partner {partner_id} has already exited", code="PARTNER_EXITED")
    for c in await contracts_of(uow, partner_id=partner_id):
        if c.state in (ContractState.SIGNED, ContractState.IN_FORCE):
            before = _contract_snapshot(c)
            c.state = ContractState.TERMINATED
            c.ended_at = uow.now
            c.end_reason = reason[:300]
            uow.audit(
                "contract.terminated",
                (A, c.application_id),
                partner_id=partner_id,
                before=before,
                after=_contract_snapshot(c),
                note=reason,
            )
    await partners.set_partner_status(uow, partner_id, PartnerStatus.EXITED, reason)
    cancelled = await catalog.cancel_partner_orders(uow, partner_id, f"terminated: {reason}")
    if failed_assessment:
        await record_ban(
            uow,
            BanIn(
                partner_id=partner_id,
                reason=f"exited for failing assessment: {reason}",
                business_category=category,
            ),
        )
    await notify(
        uow,
        recipient=("partner", partner_id),
        kind="admission.terminated",
        subject="合作已终止",
        body=f"合作已终止，API 凭证已吊销，{cancelled} 个订购已取消。原因：{reason}",
    )
    return cancelled


async def renew_contract(uow: UnitOfWork, contract_id: str, cmd: RenewIn) -> Contract:
    """A contract in force is renewed: a new contract (its own number, new validity, optionally a new
    price band) takes over; the billing mode stays (R-PARTNER-02: one per contract, changed only by a
    new admission)."""
    require_reviewer(uow)
    old = await uow.session.scalar(select(Contract).where(Contract.id == contract_id).with_for_update())
    if old is None:
        raise NotFound(f"contract {contract_id} not found")
    if old.state != ContractState.IN_FORCE:
        raise Conflict(f"contract {old.number} is {old.state.value}, not in force", code="INVALID_STATE")
    valid_from = cmd.valid_from or old.valid_to
    rules.check_contract_dates(valid_from, cmd.valid_to, business_date(uow.now))
    number = await _number_free(uow, cmd.number)
    new = Contract(
        id=new_id("ctr"),
        number=number,
        application_id=old.application_id,
        partner_id=old.partner_id,
        state=ContractState.IN_FORCE,
        scope=old.scope,
        product_kind=old.product_kind,
        industry=old.industry,
        billing_mode=old.billing_mode,
        price_band=(cmd.price_band or Tier(old.price_band)).value,
        deposit=old.deposit,
        agreed_payment=Decimal("0"),
        valid_from=valid_from,
        valid_to=cmd.valid_to,
        renewed_from_id=old.id,
        recorded_by=_who(uow.actor),
        created_at=uow.now,
        activated_at=uow.now,
        end_reason="",
    )
    old.state = ContractState.SUPERSEDED
    old.ended_at = uow.now
    old.end_reason = f"renewed by {number}"
    uow.session.add(new)
    await uow.session.flush()
    uow.audit(
        "contract.renewed",
        (A, old.application_id),
        partner_id=old.partner_id,
        before=_contract_snapshot(old),
        after=_contract_snapshot(new),
    )
    await notify(
        uow,
        recipient=("partner", old.partner_id),
        kind="admission.renewed",
        subject="合同已续签",
        body=f"合同 {old.number} 已由 {number} 续签，有效期至 {cmd.valid_to.isoformat()}。",
    )
    return new


async def get_contract(uow: UnitOfWork, contract_id: str) -> Contract:
    c = await uow.session.get(Contract, contract_id)
    if c is None or (not access.is_staff(uow.actor) and c.partner_id != uow.actor.partner_id):
        raise NotFound(f"contract {contract_id} not found")
    return c


async def list_contracts(
    uow: UnitOfWork, *, partner_id: str | None = None, offset: int = 0, limit: int = access.DEFAULT_LIMIT
) -> tuple[list[Contract], int]:
    offset, limit = access.page(offset, limit)
    pid = access.scope_partner(uow.actor, partner_id)
    conds: list[Any] = [] if pid is None else [Contract.partner_id == pid]
    total = await uow.session.scalar(select(func.count()).select_from(Contract).where(*conds)) or 0
    rows = await uow.session.scalars(
        select(Contract)
        .where(*conds)
        .order_by(Contract.created_at.desc(), Contract.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all()), int(total)


# ---- notices -----------------------------------------------------------------------------------


async def _notify_partner(
    uow: UnitOfWork, app: Application, kind: str, subject: str, body: str, *, dedup: str | None = None
) -> None:
    await notify(
        uow, recipient=("partner", app.partner_id), kind=kind, subject=subject, body=body, dedup_key=dedup
    )


async def reviewer_ids(uow: UnitOfWork) -> list[str]:
    return [op.id for op in await partners.active_operators(uow) if {"reviewer", "admin"} & set(op.roles)]


async def _notify_reviewers(uow: UnitOfWork, kind: str, subject: str, body: str, *, dedup: str) -> None:
    for oid in await reviewer_ids(uow):
        await notify(
            uow,
            recipient=("operator", oid),
            kind=kind,
            subject=subject,
            body=body,
            dedup_key=f"{dedup}:{oid}",
        )


# ---- the application as its pages and API show it ----------------------------------------------


@dataclass(frozen=True)
class ApplicationView:
    app: Application
    documents: list[Document]
    effective: frozenset[str]  # ids of the documents that count
    checks: list[CheckFailure]  # the automatic checks as it stands (before a decision)
    checklist: list[ChecklistEntry]
    contracts: list[Contract]
    blockers: list[CheckFailure]  # contracted: what still blocks activation
    history: list[AuditEntry]


CHECKED_STATES = frozenset({S.DRAFT, S.RETURNED, S.SUBMITTED, S.UNDER_REVIEW, S.APPROVED})


async def application_view(uow: UnitOfWork, application_id: str) -> ApplicationView:
    app = await get_application(uow, application_id)
    docs = await documents_of(uow, A, app.id)
    contracts = await contracts_of(uow, application_id=app.id)
    blockers: list[CheckFailure] = []
    if app.state == S.CONTRACTED:
        signed = [c for c in contracts if c.state == ContractState.SIGNED]
        if signed:
            blockers = await activation_blockers(uow, app, signed[-1])
    return ApplicationView(
        app=app,
        documents=docs,
        effective=frozenset(d.id for d in effective_documents(docs)),
        checks=await evaluate(uow, app) if app.state in CHECKED_STATES else [],
        checklist=await checklist_of(uow, app.id),
        contracts=contracts,
        blockers=blockers,
        history=await history(uow, app.id),
    )


async def partner_certificates(uow: UnitOfWork, partner_id: str) -> list[tuple[Document, str]]:
    """The certificates that count for a partner (those of its latest contracted or active application),
    each with its expiry status: ok, expiring (within settings.certificate_notice_days) or expired."""
    access.check_partner_visible(uow.actor, partner_id)
    app = await uow.session.scalar(
        select(Application)
        .where(
            Application.partner_id == partner_id, Application.state.in_([S.CONTRACTED.value, S.ACTIVE.value])
        )
        .order_by(Application.created_at.desc())
        .limit(1)
    )
    if app is None:
        return []
    today = business_date(uow.now)
    days = uow.settings.certificate_notice_days
    docs = [d for d in effective_documents(await documents_of(uow, A, app.id)) if d.kind in CERTIFICATES]
    return [(d, rules.expiry_status(d.valid_to, today, days)) for d in docs]


# ---- reports the operator requests (R-OBLIG-03; the obligations module files the rest) ------------


async def new_report(
    uow: UnitOfWork, partner_id: str, kind: str, title: str, due_at: datetime, recurrence: int | None
) -> ReportRequest:
    row = ReportRequest(
        id=new_id("rpt"),
        partner_id=partner_id,
        kind=kind,
        title=title,
        due_at=due_at,
        recurrence_months=recurrence,
        state="open",
        requested_by=f"{uow.actor.type}:{uow.actor.id}",
        created_at=uow.now,
        note="",
        next_requested=False,
    )
    uow.session.add(row)
    await uow.session.flush()
    uow.audit(
        "obligation.report_requested",
        ("report_request", row.id),
        partner_id=partner_id,
        after={"kind": kind, "title": title, "due_at": due_at, "recurrence_months": recurrence},
    )
    await notify(
        uow,
        recipient=("partner", partner_id),
        kind="obligation.report_requested",
        subject=f"报告提交要求：{title}",
        body=f"请于 {due_at:%Y-%m-%d %H:%M} UTC 前提交报告「{title}」。",
        dedup_key=f"report-requested:{row.id}",
    )
    return row


STANDING_TITLES = {
    "security_check": "系统安全检查报告",
    "emergency_plan": "突发事件应急预案",
    "contact_channel": "7×24 小时联络渠道确认",
}


async def request_standing_reports(uow: UnitOfWork, partner_id: str) -> list[ReportRequest]:
    """R-OBLIG-03, rulebook §8: an admitted SI's standing reports (periodic security check, emergency plan, the 7×24
    contact channel), each first due one period after admission and then every period again."""
    out = []
    for kind, months in sorted(uow.settings.standing_reports.items()):
        if kind not in rules.REPORT_KINDS or months < 1:
            continue
        title = STANDING_TITLES.get(kind, kind)
        out.append(await new_report(uow, partner_id, kind, title, rules.add_months(uow.now, months), months))
    return out
