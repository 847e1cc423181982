"""An admitted SI's standing obligations (R-OBLIG-01..04, rulebook §8): its interface contact (a change
filed in advance, the handover recorded), change notices (product upgrades, bank-account changes: at
least settings.change_notice_lead_days ahead), reports the operator requests (due dates, overdue
tracking, the standing recurring ones), and publicity material filed for approval before publication;
and the certificate watch (R-ADMIT-01: a notice before a certificate expires, an operator task when an
active SI's certificate has expired).

Who: the SI's admin user files and submits for its own partner (another partner's ids answer
NOT_FOUND), operator reviewers act on every partner (request reports, decide publicity, file on an SI's
behalf). Every function takes the caller's unit of work and never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from openability.admission import rules, service
from openability.admission.models import (
    Application,
    ChangeNotice,
    Document,
    InterfaceContact,
    PublicityFiling,
    ReportRequest,
)
from openability.admission.types import CERTIFICATES, ApplicationState
from openability.kernel import access
from openability.kernel.clock import business_date
from openability.kernel.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, RuleViolation
from openability.kernel.ids import new_id
from openability.kernel.notify import notify
from openability.kernel.uow import UnitOfWork
from openability.partners import rules as partner_rules
from openability.partners import service as partners
from openability.partners.types import PartnerStatus

S = ApplicationState


def _clean(text: str, what: str, max_len: int, *, required: bool = True) -> str:
    t = " ".join((text or "").split())
    if required and not t:
        raise InvalidArgument(f"{what} is required")
    if len(t) > max_len:
        raise InvalidArgument(f"{what}: at most {max_len} characters")
    return t


async def _si(uow: UnitOfWork, partner_id: str, *, filer: bool = True) -> None:
    """The actor may act for the partner: its own admin user (filer) or an operator reviewer; the partner
    is in cooperation (not exited). **Interpretation:** the rulebook's obligations are an SI's; an AP
    filing a change notice or publicity is accepted the same way (nothing to refuse it for)."""
    access.check_partner_visible(uow.actor, partner_id)
    if filer and not (service.is_reviewer(uow.actor) or service.is_partner_admin(uow.actor)):
        raise PermissionDenied("needs the partner's admin user or an operator reviewer")
    ref = await partners.partner_ref(uow, partner_id)
    if ref.status == PartnerStatus.EXITED:
        raise RuleViolation("the partner has exited: its obligations ended with it", code="PARTNER_EXITED")


async def _tell_reviewers(uow: UnitOfWork, kind: str, subject: str, body: str, key: str) -> None:
    for oid in await service.reviewer_ids(uow):
        await notify(
            uow, recipient=("operator", oid), kind=kind, subject=subject, body=body, dedup_key=f"{key}:{oid}"
        )


# ---- R-OBLIG-01: the interface contact ---------------------------------------------------------


async def current_contact(uow: UnitOfWork, partner_id: str) -> InterfaceContact | None:
    return await uow.session.scalar(
        select(InterfaceContact)
        .where(InterfaceContact.partner_id == partner_id, InterfaceContact.state == "current")
        .limit(1)
    )


async def file_contact_change(
    uow: UnitOfWork,
    partner_id: str,
    *,
    name: str,
    phone: str,
    email: str,
    effective_at: datetime,
    reason: str,
) -> InterfaceContact:
    """R-OBLIG-01: the SI names its interface contact. The first is designated at once; a change is
    filed in advance in writing (at least settings.contact_change_lead_days before it takes effect) and
    takes effect when the handover is recorded."""
    await _si(uow, partner_id)
    current = await current_contact(uow, partner_id)
    pending = await uow.session.scalar(
        select(InterfaceContact.id).where(
            InterfaceContact.partner_id == partner_id, InterfaceContact.state == "requested"
        )
    )
    if pending is not None:
        raise Conflict(f"contact change {pending} is still waiting for its handover", code="CHANGE_PENDING")
    if current is not None:
        rules.check_lead_time(
            uow.now,
            effective_at,
            uow.settings.contact_change_lead_days,
            rule="R-OBLIG-01",
            code="CONTACT_CHANGE_TOO_LATE",
            what="the interface contact change",
        )
    row = InterfaceContact(
        id=new_id("ctc"),
        partner_id=partner_id,
        state="requested" if current is not None else "current",
        name=_clean(name, "name", 100),
        phone=partner_rules.validate_phone(phone),
        email=partner_rules.validate_email(email, required=False),
        reason=_clean(reason, "reason", 300, required=current is not None),
        effective_at=effective_at if current is not None else uow.now,
        filed_at=uow.now,
        filed_by=f"{uow.actor.type}:{uow.actor.id}",
        handover_note="",
    )
    uow.session.add(row)
    await uow.session.flush()
    action = "obligation.contact_change_filed" if current is not None else "obligation.contact_designated"
    uow.audit(
        action,
        ("interface_contact", row.id),
        partner_id=partner_id,
        after={"name": row.name, "phone": row.phone, "effective_at": row.effective_at, "state": row.state},
        note=row.reason or None,
    )
    if current is not None:
        await _tell_reviewers(
            uow,
            "obligation.contact_change",
            "SI 接口人变更申请",
            f"合作伙伴 {partner_id} 申请将接口人由 {current.name} 变更为 {row.name}，"
            f"生效时间 {row.effective_at:%Y-%m-%d %H:%M} UTC。原因：{row.reason}",
            f"contact-change:{row.id}",
        )
    return row


async def record_handover(uow: UnitOfWork, change_id: str, note: str) -> InterfaceContact:
    """R-OBLIG-01: the handover to the new contact is recorded (what was handed over, training done):
    the new contact becomes current, the former one is kept as former."""
    row = await uow.session.scalar(
        select(InterfaceContact).where(InterfaceContact.id == change_id).with_for_update()
    )
    if row is None or (not access.is_staff(uow.actor) and row.partner_id != uow.actor.partner_id):
        raise NotFound(f"contact change {change_id} not found")
    await _si(uow, row.partner_id)
    if row.state != "requested":
        raise Conflict(f"contact change {change_id} is {row.state}", code="INVALID_STATE")
    text = _clean(note, "the handover note", 2000)
    old = await current_contact(uow, row.partner_id)
    if old is not None:
        old.state = "former"
    row.state = "current"
    row.handover_note = text
    row.handover_at = uow.now
    row.handover_by = f"{uow.actor.type}:{uow.actor.id}"
    uow.audit(
        "obligation.contact_handover",
        ("interface_contact", row.id),
        partner_id=row.partner_id,
        before={"contact": old.name if old else None},
        after={"contact": row.name, "handover_at": uow.now},
        note=text,
    )
    return row


# ---- R-OBLIG-02: change notices ----------------------------------------------------------------


async def file_change_notice(
    uow: UnitOfWork, partner_id: str, *, kind: str, summary: str, effective_at: datetime
) -> ChangeNotice:
    """R-OBLIG-02: a product upgrade or a bank-account change, notified at least
    settings.change_notice_lead_days before it takes effect; less lead time is refused."""
    await _si(uow, partner_id)
    if kind not in rules.CHANGE_KINDS:
        raise InvalidArgument(f"kind: one of {', '.join(sorted(rules.CHANGE_KINDS))}", code="INVALID_KIND")
    what = "the product upgrade" if kind == "product_upgrade" else "the bank-account change"
    rules.check_lead_time(
        uow.now,
        effective_at,
        uow.settings.change_notice_lead_days,
        rule="R-OBLIG-02",
        code="NOTICE_TOO_LATE",
        what=what,
    )
    row = ChangeNotice(
        id=new_id("chg"),
        partner_id=partner_id,
        kind=kind,
        summary=_clean(summary, "summary", 2000),
        effective_at=effective_at,
        filed_at=uow.now,
        filed_by=f"{uow.actor.type}:{uow.actor.id}",
    )
    uow.session.add(row)
    await uow.session.flush()
    uow.audit(
        "obligation.change_notice",
        ("change_notice", row.id),
        partner_id=partner_id,
        after={"kind": kind, "effective_at": effective_at},
        note=row.summary,
    )
    await _tell_reviewers(
        uow,
        "obligation.change_notice",
        "SI 变更告知" if kind == "product_upgrade" else "SI 银行账户变更告知",
        f"合作伙伴 {partner_id} 告知：{row.summary}（生效时间 {effective_at:%Y-%m-%d %H:%M} UTC）",
        f"change-notice:{row.id}",
    )
    return row


# ---- R-OBLIG-03: reports -----------------------------------------------------------------------


async def request_report(
    uow: UnitOfWork,
    partner_id: str,
    *,
    kind: str,
    title: str,
    due_at: datetime,
    recurrence_months: int | None,
) -> ReportRequest:
    """R-OBLIG-03: an operator reviewer requests a report by a due date (a standing one: again every
    `recurrence_months`)."""
    service.require_reviewer(uow)
    await _si(uow, partner_id, filer=False)
    if kind not in rules.REPORT_KINDS:
        raise InvalidArgument(f"kind: one of {', '.join(sorted(rules.REPORT_KINDS))}", code="INVALID_KIND")
    if due_at <= uow.now:
        raise InvalidArgument("the due date is in the past", code="DUE_IN_PAST")
    if recurrence_months is not None and not 1 <= recurrence_months <= 24:
        raise InvalidArgument("recurrenceMonths: 1–24")
    return await service.new_report(
        uow, partner_id, kind, _clean(title, "title", 200), due_at, recurrence_months
    )


async def submit_report(
    uow: UnitOfWork, report_id: str, note: str, file: tuple[str, bytes] | None
) -> ReportRequest:
    """The SI submits a requested report (a note, and the report's file: PDF, PNG or JPEG). A late one
    is accepted and marked late."""
    row = await _report(uow, report_id, lock=True)
    await _si(uow, row.partner_id)
    if row.state != "open":
        raise Conflict(f"report {report_id} is already {row.state}", code="INVALID_STATE")
    doc: Document | None = None
    if file is not None:
        doc = await service.store_file(uow, row.partner_id, ("report", row.id), file[0], file[1])
    late = rules.report_overdue(row.state, row.due_at, uow.now)
    row.state = "submitted"
    row.submitted_at = uow.now
    row.submitted_by = f"{uow.actor.type}:{uow.actor.id}"
    row.note = _clean(note, "note", 2000, required=doc is None)
    uow.audit(
        "obligation.report_submitted",
        ("report_request", row.id),
        partner_id=row.partner_id,
        after={"late": late, "document_id": doc.id if doc else None},
        note=row.note or None,
    )
    return row


async def _report(uow: UnitOfWork, report_id: str, *, lock: bool = False) -> ReportRequest:
    stmt = select(ReportRequest).where(ReportRequest.id == report_id)
    row = await uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if row is None or (not access.is_staff(uow.actor) and row.partner_id != uow.actor.partner_id):
        raise NotFound(f"report {report_id} not found")
    return row


async def list_reports(
    uow: UnitOfWork,
    *,
    partner_id: str | None = None,
    overdue: bool | None = None,
    offset: int = 0,
    limit: int = access.DEFAULT_LIMIT,
) -> tuple[list[ReportRequest], int]:
    """Requested reports, soonest due first; overdue=true: the open ones past their due time."""
    offset, limit = access.page(offset, limit)
    pid = access.scope_partner(uow.actor, partner_id)
    conds: list[Any] = [] if pid is None else [ReportRequest.partner_id == pid]
    if overdue is True:
        conds += [ReportRequest.state == "open", ReportRequest.due_at < uow.now]
    elif overdue is False:
        conds.append((ReportRequest.state != "open") | (ReportRequest.due_at >= uow.now))
    total = await uow.session.scalar(select(func.count()).select_from(ReportRequest).where(*conds)) or 0
    rows = await uow.session.scalars(
        select(ReportRequest)
        .where(*conds)
        .order_by(ReportRequest.due_at, ReportRequest.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all()), int(total)


async def scan_reports(uow: UnitOfWork) -> tuple[int, int]:
    """The reports job: each open report past its due time is flagged overdue once (the SI and the
    requesting operators notified); each standing report whose due time came is requested again for its
    next period. Returns (flagged overdue, requested again)."""
    flagged = renewed = 0
    overdue = await uow.session.scalars(
        select(ReportRequest)
        .where(
            ReportRequest.state == "open",
            ReportRequest.due_at < uow.now,
            ReportRequest.overdue_noticed_at.is_(None),
        )
        .with_for_update()
    )
    for r in overdue.all():
        r.overdue_noticed_at = uow.now
        flagged += 1
        uow.audit(
            "obligation.report_overdue",
            ("report_request", r.id),
            partner_id=r.partner_id,
            after={"due_at": r.due_at},
        )
        await notify(
            uow,
            recipient=("partner", r.partner_id),
            kind="obligation.report_overdue",
            subject=f"报告逾期：{r.title}",
            body=f"报告「{r.title}」应于 {r.due_at:%Y-%m-%d %H:%M} UTC 前提交，现已逾期，请尽快提交。",
            dedup_key=f"report-overdue:{r.id}",
        )
        await _tell_reviewers(
            uow,
            "obligation.report_overdue",
            f"SI 报告逾期：{r.title}",
            f"合作伙伴 {r.partner_id} 的报告「{r.title}」已逾期。",
            f"report-overdue:{r.id}",
        )
    due = await uow.session.scalars(
        select(ReportRequest)
        .where(
            ReportRequest.recurrence_months.is_not(None),
            ReportRequest.due_at <= uow.now,
            ReportRequest.next_requested.is_(False),
        )
        .with_for_update()
    )
    for r in due.all():
        r.next_requested = True
        ref = await partners.find_partner_ref(uow, r.partner_id)
        if ref is None or ref.status == PartnerStatus.EXITED:
            continue
        assert r.recurrence_months is not None
        await service.new_report(
            uow,
            r.partner_id,
            r.kind,
            r.title,
            rules.add_months(r.due_at, r.recurrence_months),
            r.recurrence_months,
        )
        renewed += 1
    return flagged, renewed


# ---- R-OBLIG-04: publicity material ------------------------------------------------------------


async def file_publicity(
    uow: UnitOfWork, partner_id: str, *, title: str, channel: str, file: tuple[str, bytes]
) -> PublicityFiling:
    """R-OBLIG-04: publicity material using the operator's brand is filed (with its file) for approval
    before publication."""
    await _si(uow, partner_id)
    row = PublicityFiling(
        id=new_id("pub"),
        partner_id=partner_id,
        title=_clean(title, "title", 200),
        channel=_clean(channel, "channel", 100, required=False),
        state="filed",
        filed_at=uow.now,
        filed_by=f"{uow.actor.type}:{uow.actor.id}",
        comment="",
    )
    uow.session.add(row)
    await uow.session.flush()
    doc = await service.store_file(uow, partner_id, ("publicity", row.id), file[0], file[1])
    uow.audit(
        "obligation.publicity_filed",
        ("publicity", row.id),
        partner_id=partner_id,
        after={"title": row.title, "channel": row.channel, "document_id": doc.id, "sha256": doc.sha256},
    )
    await _tell_reviewers(
        uow,
        "obligation.publicity",
        f"宣传材料待审核：{row.title}",
        f"合作伙伴 {partner_id} 提交了宣传材料「{row.title}」，请审核。",
        f"publicity:{row.id}",
    )
    return row


async def decide_publicity(uow: UnitOfWork, filing_id: str, approve: bool, comment: str) -> PublicityFiling:
    """R-OBLIG-04: an operator reviewer approves (the SI may publish) or rejects (with the reason)."""
    service.require_reviewer(uow)
    row = await uow.session.scalar(
        select(PublicityFiling).where(PublicityFiling.id == filing_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"publicity filing {filing_id} not found")
    if row.state != "filed":
        raise Conflict(f"publicity filing {filing_id} is already {row.state}", code="INVALID_STATE")
    text = _clean(comment, "comment", 1000, required=not approve)
    row.state = "approved" if approve else "rejected"
    row.comment = text
    row.decided_at = uow.now
    row.decided_by = f"{uow.actor.type}:{uow.actor.id}"
    uow.audit(
        f"obligation.publicity_{row.state}",
        ("publicity", row.id),
        partner_id=row.partner_id,
        after={"state": row.state},
        note=text or None,
    )
    await notify(
        uow,
        recipient=("partner", row.partner_id),
        kind=f"obligation.publicity_{row.state}",
        subject=f"宣传材料{'已批准' if approve else '未批准'}：{row.title}",
        body=f"宣传材料「{row.title}」{'已批准，可以发布' if approve else '未获批准，请勿发布'}。{text}",
        dedup_key=f"publicity-decided:{row.id}",
    )
    return row


async def get_publicity(uow: UnitOfWork, filing_id: str) -> PublicityFiling:
    row = await uow.session.get(PublicityFiling, filing_id)
    if row is None or (not access.is_staff(uow.actor) and row.partner_id != uow.actor.partner_id):
        raise NotFound(f"publicity filing {filing_id} not found")
    return row


# ---- the summary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obligations:
    contacts: list[InterfaceContact]
    notices: list[ChangeNotice]
    reports: list[ReportRequest]
    publicity: list[PublicityFiling]


async def obligations(uow: UnitOfWork, partner_id: str) -> Obligations:
    """Everything one SI owes and filed: contacts (current, requested, former), change notices, reports
    (overdue ones are open past their due time), publicity filings; newest first (reports: soonest due)."""
    access.check_partner_visible(uow.actor, partner_id)
    await partners.partner_ref(uow, partner_id)

    async def rows(model: Any, order: Any) -> list[Any]:
        return list(
            (
                await uow.session.scalars(select(model).where(model.partner_id == partner_id).order_by(order))
            ).all()
        )

    return Obligations(
        contacts=await rows(InterfaceContact, InterfaceContact.filed_at.desc()),
        notices=await rows(ChangeNotice, ChangeNotice.filed_at.desc()),
        reports=await rows(ReportRequest, ReportRequest.due_at),
        publicity=await rows(PublicityFiling, PublicityFiling.filed_at.desc()),
    )


async def waiting(uow: UnitOfWork) -> tuple[list[PublicityFiling], list[InterfaceContact]]:
    """What waits for an operator across every partner (staff only): publicity filings not yet decided
    (R-OBLIG-04) and interface contact changes not yet handed over (R-OBLIG-01), oldest first."""
    access.require_staff(uow.actor)
    filings = await uow.session.scalars(
        select(PublicityFiling)
        .where(PublicityFiling.state == "filed")
        .order_by(PublicityFiling.filed_at, PublicityFiling.id)
        .limit(access.MAX_LIMIT)
    )
    changes = await uow.session.scalars(
        select(InterfaceContact)
        .where(InterfaceContact.state == "requested")
        .order_by(InterfaceContact.effective_at, InterfaceContact.id)
        .limit(access.MAX_LIMIT)
    )
    return list(filings.all()), list(changes.all())


FILED_OWNERS = ("report", "publicity")


async def filed_files(uow: UnitOfWork, partner_id: str) -> dict[str, Document]:
    """The file of each of a partner's submitted reports and publicity filings, by the report's or
    filing's id (the latest when several)."""
    access.check_partner_visible(uow.actor, partner_id)
    rows = await uow.session.scalars(
        select(Document)
        .where(Document.partner_id == partner_id, Document.owner_type.in_(FILED_OWNERS))
        .order_by(Document.created_at, Document.id)
    )
    return {d.owner_id: d for d in rows.all()}


async def filed_file(uow: UnitOfWork, owner_type: str, owner_id: str) -> tuple[Document, bytes]:
    """The file of a submitted report or a publicity filing: for its own partner and staff only (others:
    NOT_FOUND, as for an unknown id)."""
    if owner_type == "report":
        await _report(uow, owner_id)
    elif owner_type == "publicity":
        await get_publicity(uow, owner_id)
    else:
        raise NotFound(f"{owner_type} {owner_id} not found")
    docs = await service.documents_of(uow, owner_type, owner_id)
    if not docs:
        raise NotFound(f"{owner_type} {owner_id} has no file")
    return docs[-1], await service.read_bytes(uow, docs[-1])


# ---- the certificate watch (R-ADMIT-01) ---------------------------------------------------------


async def watch_certificates(uow: UnitOfWork) -> tuple[int, int]:
    """The certificate-watch job: every certificate that counts for a contracted or active SI, within
    settings.certificate_notice_days of its expiry: the SI is told once; expired on an active SI: the
    SI and the reviewers are told (an operator task) once. Returns (expiring notices, expired tasks)."""
    today = business_date(uow.now)
    days = uow.settings.certificate_notice_days
    apps = (
        await uow.session.scalars(
            select(Application).where(Application.state.in_([S.CONTRACTED.value, S.ACTIVE.value]))
        )
    ).all()
    expiring = expired = 0
    for app in apps:
        docs = service.effective_documents(await service.documents_of(uow, service.A, app.id))
        for d in docs:
            if d.kind not in CERTIFICATES or d.valid_to is None:
                continue
            status = rules.expiry_status(d.valid_to, today, days)
            name = rules.CERTIFICATE_NAMES[d.kind]
            if status == "expiring":
                sent = await notify(
                    uow,
                    recipient=("partner", app.partner_id),
                    kind="admission.certificate_expiring",
                    subject=f"证照即将到期：{d.number}",
                    body=f"您的 {name} （证号 {d.number}）将于 {d.valid_to.isoformat()} 到期，请及时上传新证照。",
                    dedup_key=f"cert-expiring:{d.id}",
                )
                expiring += sent is not None
            elif status == "expired" and app.state == S.ACTIVE:
                sent = await notify(
                    uow,
                    recipient=("partner", app.partner_id),
                    kind="admission.certificate_expired",
                    subject=f"证照已过期：{d.number}",
                    body=f"您的 {name} （证号 {d.number}）已于 {d.valid_to.isoformat()} 到期，请立即上传新证照。",
                    dedup_key=f"cert-expired:{d.id}",
                )
                if sent is not None:
                    expired += 1
                    uow.audit(
                        "admission.certificate_expired",
                        (service.A, app.id),
                        partner_id=app.partner_id,
                        after={"document_id": d.id, "kind": d.kind.value, "valid_to": d.valid_to},
                    )
                    await _tell_reviewers(
                        uow,
                        "admission.certificate_expired",
                        f"在网 SI 证照已过期：{app.company_name}",
                        f"{app.company_name}（{app.partner_id}）的 {name} 证号 {d.number} 已于 {d.valid_to.isoformat()} 到期，请跟进更新。",
                        f"cert-expired:{d.id}",
                    )
    return expiring, expired
