"""Admission HTTP edge: SI applicants, applications with their documents, submission, review and
decision, contracts and activation, renewal, termination and exit bans. Routes stay thin: parse, call
one service, render."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.responses import Response

from openability.admission import obligations, rules, service
from openability.admission.models import ReportRequest
from openability.admission.schemas import (
    ApplicationDetailOut,
    ApplicationFields,
    ApplicationIn,
    ApplicationOut,
    BanIn,
    BanOut,
    ChangeNoticeIn,
    ChangeNoticeOut,
    ChecklistBody,
    ChecklistOut,
    CheckOut,
    ContactChangeIn,
    ContactOut,
    ContractIn,
    ContractOut,
    DecisionIn,
    DocumentOut,
    HandoverIn,
    HistoryOut,
    ObligationsOut,
    PublicityDecisionIn,
    PublicityOut,
    ReasonIn,
    RegisterApplicantIn,
    RegisteredApplicantOut,
    RenewIn,
    ReportOut,
    ReportRequestIn,
    TerminatedOut,
    TerminateIn,
)
from openability.admission.types import ApplicationState, DocumentKind
from openability.catalog.schemas import Page
from openability.kernel import access
from openability.kernel.errors import PayloadTooLarge
from openability.kernel.web import CurrentActor, Limit, Offset, container_of, uow_for

router = APIRouter(prefix="/api/v1", tags=["admission"])


def detail_out(v: service.ApplicationView) -> ApplicationDetailOut:
    base = ApplicationOut.model_validate(v.app)
    return ApplicationDetailOut(
        **dict(base),
        documents=[
            DocumentOut.model_validate(d).model_copy(update={"effective": d.id in v.effective})
            for d in v.documents
        ],
        checks=[CheckOut.of(f) for f in v.checks],
        checklist=[ChecklistOut.model_validate(c) for c in v.checklist],
        contracts=[ContractOut.model_validate(c) for c in v.contracts],
        activation_blockers=[CheckOut.of(f) for f in v.blockers],
        history=[
            HistoryOut(
                at=h.at,
                action=h.action,
                actor=f"{h.actor_type}:{h.actor_id}",
                before=h.before,
                after=h.after,
                note=h.note,
            )
            for h in v.history
        ],
    )


@router.post("/applicants", status_code=201)
async def register_applicant(request: Request, cmd: RegisterApplicantIn) -> RegisteredApplicantOut:
    """SI applicant self-registration (public): the applicant partner with its admin user and its draft
    application (R-ADMIT-05)."""
    # Public, like AP registration: credentials sent along are not used (the applicant acts for itself).
    uow = container_of(request).uow(correlator=request.headers.get("x-correlator"))
    async with uow:
        partner_id, user_id, app = await service.register_applicant(uow, cmd)
    return RegisteredApplicantOut(
        partner_id=partner_id, user_id=user_id, application=ApplicationOut.model_validate(app)
    )


@router.post("/applications", status_code=201)
async def create_application(request: Request, actor: CurrentActor, cmd: ApplicationIn) -> ApplicationOut:
    fields = ApplicationFields.model_validate(
        {k: getattr(cmd, k) for k in cmd.model_fields_set if k != "partner_id"}
    )
    async with uow_for(request, actor) as uow:
        app = await service.create_application(uow, cmd.partner_id, fields)
    return ApplicationOut.model_validate(app)


@router.get("/applications")
async def list_applications(
    request: Request,
    actor: CurrentActor,
    state: ApplicationState | None = None,
    partner_id: Annotated[str | None, Query(max_length=40)] = None,
    offset: Offset = 0,
    limit: Limit = access.DEFAULT_LIMIT,
) -> Page[ApplicationOut]:
    """Staff: every application (state=submitted is the reviewer queue, oldest first); a partner's
    users: their own."""
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_applications(
            uow, state=state, partner_id=partner_id, offset=offset, limit=limit
        )
    return Page(
        items=[ApplicationOut.model_validate(a) for a in rows], total=total, offset=offset, limit=limit
    )


@router.get("/applications/{application_id}")
async def get_application(request: Request, actor: CurrentActor, application_id: str) -> ApplicationDetailOut:
    """The application with its documents, the automatic checks as it stands, the reviewer's checklist,
    its contract(s), what still blocks activation, and its history (where it stands)."""
    async with uow_for(request, actor) as uow:
        return detail_out(await service.application_view(uow, application_id))


@router.patch("/applications/{application_id}")
async def update_application(
    request: Request, actor: CurrentActor, application_id: str, cmd: ApplicationFields
) -> ApplicationOut:
    async with uow_for(request, actor) as uow:
        return ApplicationOut.model_validate(await service.update_application(uow, application_id, cmd))


async def read_upload(request: Request, file: UploadFile) -> bytes:
    """At most one byte past the limit is read: an oversized file is refused without buffering it."""
    limit = container_of(request).settings.admission_max_document_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the file is larger than the limit of {limit} bytes", code="DOCUMENT_TOO_LARGE"
        )
    return data


@router.post("/applications/{application_id}/documents", status_code=201)
async def add_document(
    request: Request,
    actor: CurrentActor,
    application_id: str,
    file: UploadFile = File(...),
    kind: DocumentKind = Form(...),
    number: str = Form(default="", max_length=80),
    issuer: str = Form(default="", max_length=120),
    valid_from: date | None = Form(default=None, alias="validFrom"),
    valid_to: date | None = Form(default=None, alias="validTo"),
) -> DocumentOut:
    """A certificate (R-ADMIT-01: number, issuer, validity) or another material (R-ADMIT-03): PDF, PNG
    or JPEG (judged by content), at most settings.admission_max_document_bytes. The client's file name
    is kept as metadata only."""
    data = await read_upload(request, file)
    up = service.Upload(kind, file.filename or "", data, number, issuer, valid_from, valid_to)
    async with uow_for(request, actor) as uow:
        doc = await service.add_document(uow, application_id, up)
    return DocumentOut.model_validate(doc)


@router.get(
    "/applications/{application_id}/documents/{document_id}",
    response_class=Response,
    responses={200: {"description": "the file's bytes", "content": {"application/octet-stream": {}}}},
)
async def download_document(
    request: Request, actor: CurrentActor, application_id: str, document_id: str
) -> Response:
    """The applicant's own partner and staff only; anyone else: 404 as for an unknown id."""
    async with uow_for(request, actor) as uow:
        doc, data = await service.read_document(uow, application_id, document_id)
    return Response(
        data,
        media_type=doc.content_type,
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
            "x-content-type-options": "nosniff",
        },
    )


@router.post("/applications/{application_id}/submit")
async def submit(request: Request, actor: CurrentActor, application_id: str) -> ApplicationOut:
    """R-ADMIT-05: runs the automatic checks; 422 ADMISSION_CHECKS_FAILED lists every failure."""
    async with uow_for(request, actor) as uow:
        return ApplicationOut.model_validate(await service.submit(uow, application_id))


@router.post("/applications/{application_id}/withdraw")
async def withdraw(
    request: Request, actor: CurrentActor, application_id: str, body: ReasonIn
) -> ApplicationOut:
    async with uow_for(request, actor) as uow:
        return ApplicationOut.model_validate(await service.withdraw(uow, application_id, body.reason))


@router.post("/applications/{application_id}/review")
async def start_review(request: Request, actor: CurrentActor, application_id: str) -> ApplicationOut:
    async with uow_for(request, actor) as uow:
        return ApplicationOut.model_validate(await service.start_review(uow, application_id))


@router.post("/applications/{application_id}/checklist")
async def record_checklist(
    request: Request, actor: CurrentActor, application_id: str, body: ChecklistBody
) -> Page[ChecklistOut]:
    """R-ADMIT-04: the reviewer's judgements, with name, time and comment."""
    async with uow_for(request, actor) as uow:
        rows = await service.record_checklist(uow, application_id, body.items)
        items = [ChecklistOut.model_validate(r) for r in rows]
    return Page(items=items, total=len(items), offset=0, limit=max(1, len(items)))


@router.post("/applications/{application_id}/decision")
async def decide(
    request: Request, actor: CurrentActor, application_id: str, cmd: DecisionIn
) -> ApplicationOut:
    """approve | reject | return (R-ADMIT-04/05); the checklist may come with it."""
    async with uow_for(request, actor) as uow:
        return ApplicationOut.model_validate(await service.decide(uow, application_id, cmd))


@router.post("/applications/{application_id}/contract", status_code=201)
async def record_contract(
    request: Request, actor: CurrentActor, application_id: str, cmd: ContractIn
) -> ContractOut:
    async with uow_for(request, actor) as uow:
        return ContractOut.model_validate(await service.record_contract(uow, application_id, cmd))


@router.post("/applications/{application_id}/activate")
async def activate(request: Request, actor: CurrentActor, application_id: str) -> ApplicationOut:
    """Activation asked again (it happens by itself when the funds are confirmed): 422
    ACTIVATION_BLOCKED lists what still blocks it."""
    async with uow_for(request, actor) as uow:
        return ApplicationOut.model_validate(await service.activate(uow, application_id))


@router.get("/contracts")
async def list_contracts(
    request: Request,
    actor: CurrentActor,
    partner_id: Annotated[str | None, Query(max_length=40)] = None,
    offset: Offset = 0,
    limit: Limit = access.DEFAULT_LIMIT,
) -> Page[ContractOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_contracts(uow, partner_id=partner_id, offset=offset, limit=limit)
    return Page(items=[ContractOut.model_validate(c) for c in rows], total=total, offset=offset, limit=limit)


@router.post("/contracts/{contract_id}/renew", status_code=201)
async def renew_contract(
    request: Request, actor: CurrentActor, contract_id: str, cmd: RenewIn
) -> ContractOut:
    async with uow_for(request, actor) as uow:
        return ContractOut.model_validate(await service.renew_contract(uow, contract_id, cmd))


@router.post("/partners/{partner_id}/terminate")
async def terminate(
    request: Request, actor: CurrentActor, partner_id: str, cmd: TerminateIn
) -> TerminatedOut:
    """R-EXIT-01/03: the contract ends, the SI exits (credentials revoked), its orders are cancelled;
    failed assessment: banned from applying for a year."""
    async with uow_for(request, actor) as uow:
        n = await service.terminate(
            uow,
            partner_id,
            cmd.reason,
            failed_assessment=cmd.failed_assessment,
            category=cmd.business_category,
        )
    return TerminatedOut(partner_id=partner_id, orders_cancelled=n)


@router.post("/exit-bans", status_code=201)
async def record_ban(request: Request, actor: CurrentActor, cmd: BanIn) -> BanOut:
    async with uow_for(request, actor) as uow:
        return BanOut.model_validate(await service.record_ban(uow, cmd))


@router.get("/exit-bans")
async def list_bans(
    request: Request,
    actor: CurrentActor,
    active: bool | None = None,
    offset: Offset = 0,
    limit: Limit = access.DEFAULT_LIMIT,
) -> Page[BanOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_bans(uow, active=active, offset=offset, limit=limit)
    return Page(items=[BanOut.model_validate(b) for b in rows], total=total, offset=offset, limit=limit)


# ---- obligations (R-OBLIG-01..04) --------------------------------------------------------------


def report_out(r: ReportRequest, now: datetime) -> ReportOut:
    out = ReportOut.model_validate(r)
    late = r.submitted_at is not None and r.submitted_at > r.due_at
    return out.model_copy(update={"overdue": rules.report_overdue(r.state, r.due_at, now), "late": late})


@router.get("/partners/{partner_id}/obligations")
async def get_obligations(request: Request, actor: CurrentActor, partner_id: str) -> ObligationsOut:
    """The SI's interface contacts, change notices, requested reports and publicity filings."""
    async with uow_for(request, actor) as uow:
        o = await obligations.obligations(uow, partner_id)
        now = uow.now
    return ObligationsOut(
        contacts=[ContactOut.model_validate(c) for c in o.contacts],
        change_notices=[ChangeNoticeOut.model_validate(n) for n in o.notices],
        reports=[report_out(r, now) for r in o.reports],
        publicity=[PublicityOut.model_validate(p) for p in o.publicity],
    )


@router.post("/partners/{partner_id}/contact-changes", status_code=201)
async def file_contact_change(
    request: Request, actor: CurrentActor, partner_id: str, cmd: ContactChangeIn
) -> ContactOut:
    """R-OBLIG-01: the first interface contact, or a change filed in advance (its handover recorded next)."""
    async with uow_for(request, actor) as uow:
        row = await obligations.file_contact_change(
            uow,
            partner_id,
            name=cmd.name,
            phone=cmd.phone,
            email=cmd.email,
            effective_at=cmd.effective_at or uow.now,
            reason=cmd.reason,
        )
    return ContactOut.model_validate(row)


@router.post("/contact-changes/{change_id}/handover")
async def record_handover(
    request: Request, actor: CurrentActor, change_id: str, cmd: HandoverIn
) -> ContactOut:
    async with uow_for(request, actor) as uow:
        return ContactOut.model_validate(await obligations.record_handover(uow, change_id, cmd.note))


@router.post("/partners/{partner_id}/change-notices", status_code=201)
async def file_change_notice(
    request: Request, actor: CurrentActor, partner_id: str, cmd: ChangeNoticeIn
) -> ChangeNoticeOut:
    """R-OBLIG-02: a product upgrade or bank-account change, at least settings.change_notice_lead_days
    ahead (422 NOTICE_TOO_LATE otherwise)."""
    async with uow_for(request, actor) as uow:
        row = await obligations.file_change_notice(
            uow, partner_id, kind=cmd.kind, summary=cmd.summary, effective_at=cmd.effective_at
        )
    return ChangeNoticeOut.model_validate(row)


@router.post("/partners/{partner_id}/reports", status_code=201)
async def request_report(
    request: Request, actor: CurrentActor, partner_id: str, cmd: ReportRequestIn
) -> ReportOut:
    """R-OBLIG-03: an operator reviewer requests a report by a due date (recurring with recurrenceMonths)."""
    async with uow_for(request, actor) as uow:
        row = await obligations.request_report(
            uow,
            partner_id,
            kind=cmd.kind,
            title=cmd.title,
            due_at=cmd.due_at,
            recurrence_months=cmd.recurrence_months,
        )
        return report_out(row, uow.now)


@router.get("/reports")
async def list_reports(
    request: Request,
    actor: CurrentActor,
    partner_id: Annotated[str | None, Query(max_length=40)] = None,
    overdue: bool | None = None,
    offset: Offset = 0,
    limit: Limit = access.DEFAULT_LIMIT,
) -> Page[ReportOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await obligations.list_reports(
            uow, partner_id=partner_id, overdue=overdue, offset=offset, limit=limit
        )
        items = [report_out(r, uow.now) for r in rows]
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.post("/reports/{report_id}/submit")
async def submit_report(
    request: Request,
    actor: CurrentActor,
    report_id: str,
    note: str = Form(default="", max_length=2000),
    file: UploadFile | None = File(default=None),
) -> ReportOut:
    """The SI submits a requested report: a note and/or the report's file (PDF, PNG or JPEG)."""
    data = (file.filename or "", await read_upload(request, file)) if file is not None else None
    async with uow_for(request, actor) as uow:
        return report_out(await obligations.submit_report(uow, report_id, note, data), uow.now)


@router.post("/partners/{partner_id}/publicity", status_code=201)
async def file_publicity(
    request: Request,
    actor: CurrentActor,
    partner_id: str,
    title: str = Form(..., max_length=200),
    channel: str = Form(default="", max_length=100),
    file: UploadFile = File(...),
) -> PublicityOut:
    """R-OBLIG-04: publicity material with the operator's brand, filed for approval before publication."""
    data = (file.filename or "", await read_upload(request, file))
    async with uow_for(request, actor) as uow:
        row = await obligations.file_publicity(uow, partner_id, title=title, channel=channel, file=data)
    return PublicityOut.model_validate(row)


@router.post("/publicity/{filing_id}/decision")
async def decide_publicity(
    request: Request, actor: CurrentActor, filing_id: str, cmd: PublicityDecisionIn
) -> PublicityOut:
    async with uow_for(request, actor) as uow:
        return PublicityOut.model_validate(
            await obligations.decide_publicity(uow, filing_id, cmd.approve, cmd.comment)
        )
