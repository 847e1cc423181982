"""Console pages of admission: the public SI application sign-up, the applicant's wizard (company
details, uploads, the automatic checks, submission) and status page, the reviewer's queue and review page
(the documents beside the checklist, decision, contract and activation forms), and the admission panel
of the operator's partner page. Permissions are the services' own; pages only hide what a visitor may
not use."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Request, UploadFile
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.admission import obligations, service
from openability.admission.schemas import (
    ApplicationFields,
    ChecklistIn,
    ContractIn,
    DecisionIn,
    RegisterApplicantIn,
)
from openability.admission.types import (
    CERTIFICATES,
    EDITABLE,
    ApplicationState,
    ChecklistItem,
    DocumentKind,
)
from openability.console.csrf import anon_ok, anon_token, clear_anon_cookie, set_anon_cookie
from openability.console.i18n import N_, gettext_for
from openability.console.pagekit import (
    FormError,
    OperatorPage,
    Panel,
    PartnerPage,
    act,
    error_page,
    error_text,
    field,
    label,
    page,
    page_args,
    partner_id_of,
    tr,
)
from openability.console.web import SESSION_COOKIE, lang_of, redirect, render
from openability.kernel.errors import AppError, PayloadTooLarge
from openability.kernel.uow import UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners
from openability.partners.rules import LOGIN_TTL_SECONDS
from openability.partners.types import ProductKind, Scope, Tier

router = APIRouter(prefix="/console", include_in_schema=False)

PORTAL = "/console/portal/admission"
OPS = "/console/ops/admission"

LABELS: dict[str, str] = {
    # application states
    "draft": N_("草稿"),
    "submitted": N_("已提交"),
    "underReview": N_("审核中"),
    "approved": N_("审核通过"),
    "rejected": N_("未通过"),
    "returned": N_("退回补充材料"),
    "contracted": N_("已签约"),
    "active": N_("已开通"),
    "withdrawn": N_("已撤回"),
    # documents
    "business_licence": N_("营业执照"),
    "bank_account_permit": N_("开户许可证"),
    "tax_registration": N_("税务登记证"),
    "org_code_certificate": N_("组织机构代码证"),
    "business_plan": N_("产品商业计划书"),
    "resource_authorization": N_("资源授权证明"),
    "local_customer_evidence": N_("本地客户资源证明"),
    "local_promotion_evidence": N_("本地推广资源证明"),
    # the checklist
    "compliance": N_("业务合规性"),
    "industry_expertise": N_("行业理解与团队"),
    "service_system": N_("售前、售中、售后服务体系"),
    # contracts
    "signed": N_("已签订"),
    "inForce": N_("生效中"),
    "superseded": N_("已续签替代"),
    "terminated": N_("已终止"),
    "applicant": N_("申请中"),
    # failed checks (the reason itself comes with each)
    "CERTIFICATE_MISSING": N_("证照缺失"),
    "CERTIFICATE_EXPIRED": N_("证照已过期"),
    "CERTIFICATE_NOT_YET_VALID": N_("证照尚未生效"),
    "CAPITAL_MISSING": N_("未填写注册资本"),
    "CAPITAL_TOO_LOW": N_("注册资本不足"),
    "BUSINESS_PLAN_MISSING": N_("缺少产品商业计划书"),
    "RESOURCE_AUTHORIZATION_MISSING": N_("缺少资源授权证明"),
    "PRODUCTS_MISSING": N_("未填写拟使用的能力产品"),
    "BRAND_WORD": N_("名称含受保护的品牌字样"),
    "INDUSTRY_REQUIRED": N_("未填写行业领域"),
    "LOCAL_RESOURCES_MISSING": N_("未说明本地资源"),
    "LOCAL_EVIDENCE_MISSING": N_("缺少本地资源证明"),
    "EXIT_BANNED": N_("退出后一年内不得申请"),
    "CATEGORY_BANNED": N_("该业务类别一年内不得申请"),
    "PAYMENT_PENDING": N_("待确认付款并开具发票"),
    "PAYMENT_SHORT": N_("付款金额不足"),
    "DEPOSIT_PENDING": N_("保证金未到齐"),
    # obligations (R-OBLIG-01..04): contact, report and publicity states, report and change kinds
    "current": N_("现任"),
    "requested": N_("待交接"),
    "former": N_("已卸任"),
    "open": N_("待提交"),
    "filed": N_("待审核"),
    "customer_development": N_("客户发展情况"),
    "customer_classification": N_("客户分类情况"),
    "usage_habits": N_("用户使用习惯"),
    "business_analysis": N_("业务经营分析"),
    "security_check": N_("定期安全检查"),
    "emergency_plan": N_("应急预案"),
    "contact_channel": N_("7×24 小时联系渠道"),
    "other": N_("其他"),
    "product_upgrade": N_("产品升级"),
    "bank_account": N_("银行账户变更"),
}
# The steps an applicant sees (where it stands).
STEPS = ("draft", "submitted", "underReview", "approved", "contracted", "active")


def _label(lang: str) -> Any:
    def L(v: object) -> str:
        key = str(getattr(v, "value", v) or "")
        text = LABELS.get(key)
        return gettext_for(lang, text) if text is not None else label(v, lang)

    return L


def _page(request: Request, template: str, actor: Any, status: int = 200, **ctx: Any) -> Response:
    return page(request, template, actor, status=status, L=_label(lang_of(request)), **ctx)


def _date(form: FormData, name: str) -> date | None:
    raw = field(form, name, max_len=10)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FormError(f"{name}: YYYY-MM-DD") from None


async def _file(request: Request, up: UploadFile) -> tuple[str, bytes]:
    limit = container_of(request).settings.admission_max_document_bytes
    data = await up.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            tr(request, "文件超过大小限制（%(n)s 字节）", n=limit), code="DOCUMENT_TOO_LARGE"
        )
    return up.filename or "", data


def _fields(form: FormData) -> ApplicationFields:
    data: dict[str, Any] = {
        "credit_code": field(form, "credit_code", max_len=60) or None,
        "legal_representative": field(form, "legal_representative", max_len=100),
        "address": field(form, "address", max_len=300),
        "product_kind": field(form, "product_kind", max_len=20) or None,
        "industry": field(form, "industry", max_len=60),
        "scope": field(form, "scope", max_len=20) or None,
        "billing_mode": field(form, "billing_mode", max_len=20) or None,
        "intended_products": [
            p.strip() for p in field(form, "intended_products", max_len=2000).split(",") if p.strip()
        ],
        "needs_resource_authorization": form.get("needs_resource_authorization") == "on",
        "local_customer_resources": field(form, "local_customer_resources", max_len=2000),
        "local_promotion_resources": field(form, "local_promotion_resources", max_len=2000),
    }
    capital = field(form, "registered_capital", max_len=30)
    if capital:
        data["registered_capital"] = capital
    return ApplicationFields.model_validate({k: v for k, v in data.items() if v is not None})


def _ctx(v: service.ApplicationView) -> dict[str, Any]:
    a = v.app
    reached = STEPS.index(a.state.value) if a.state.value in STEPS else -1
    return {
        "a": a,
        "v": v,
        "steps": STEPS,
        "reached": reached,
        "kinds": [k.value for k in DocumentKind],
        "certificates": {k.value for k in CERTIFICATES},
        "items": [i.value for i in ChecklistItem],
        "latest": service.latest_checklist(v.checklist),
        "editable": a.state in EDITABLE,
        "renewable": a.state in (ApplicationState.CONTRACTED, ApplicationState.ACTIVE),
        "scopes": [s.value for s in Scope],
        "product_kinds": [k.value for k in ProductKind],
        "tiers": [t.value for t in Tier],
    }


# ---- public: the SI application sign-up --------------------------------------------------------

APPLY_FIELDS = (
    "name",
    "username",
    "display_name",
    "contact_name",
    "contact_email",
    "contact_phone",
    "credit_code",
)


@router.get("/apply")
async def apply_page(request: Request) -> Response:
    token = anon_token(request)
    resp = render(request, "admission_apply.html", None, form={}, anon_csrf=token)
    return set_anon_cookie(resp, token, secure=container_of(request).settings.session_cookie_secure)


@router.post("/apply")
async def apply_submit(request: Request) -> Response:
    form = await request.form()
    values = {k: field(form, k, max_len=200) for k in APPLY_FIELDS}
    container = container_of(request)

    def again(message: str, status: int) -> Response:
        token = anon_token(request)
        resp = render(
            request, "admission_apply.html", None, status=status, form=values, error=message, anon_csrf=token
        )
        return set_anon_cookie(resp, token, secure=container.settings.session_cookie_secure)

    if not anon_ok(request, form):
        return again(tr(request, "表单已过期，请重新提交"), 400)
    password = str(form.get("password", "") or "")
    if password != str(form.get("password2", "") or ""):
        return again(tr(request, "两次输入的密码不一致"), 400)
    try:
        cmd = RegisterApplicantIn.model_validate(
            {**{k: v for k, v in values.items() if k != "credit_code"}, "password": password}
            | ({"credit_code": values["credit_code"]} if values["credit_code"] else {})
        )
        async with container.uow(correlator=request.headers.get("x-correlator")) as uow:
            await service.register_applicant(uow, cmd)
        async with container.uow() as uow:
            token = await partners.login_token(uow, cmd.username, password)
    except (AppError, ValidationError) as exc:
        return again(error_text(exc), getattr(exc, "status", 400))
    resp = redirect(PORTAL, flash=tr(request, "已注册，请填写入驻申请"))
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        max_age=LOGIN_TTL_SECONDS,
        secure=container.settings.session_cookie_secure,
    )
    return clear_anon_cookie(resp)


# ---- portal: the applicant's wizard and status -------------------------------------------------


@router.get("/portal/admission")
async def portal_home(request: Request, actor: PartnerPage) -> Response:
    async with container_of(request).uow(actor) as uow:
        rows, _ = await service.list_applications(uow, partner_id=partner_id_of(actor), limit=20)
        contracts, _ = await service.list_contracts(uow, partner_id=partner_id_of(actor), limit=20)
    if rows:
        return redirect(f"{PORTAL}/{rows[0].id}")
    return _page(request, "admission_portal_none.html", actor, contracts=contracts)


@router.get("/portal/admission/{application_id}")
async def portal_application(request: Request, actor: PartnerPage, application_id: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            v = await service.application_view(uow, application_id)
            others, _ = await service.list_applications(uow, partner_id=partner_id_of(actor), limit=20)
    except AppError as exc:
        return error_page(request, actor, exc, "/console/portal")
    can_edit = service.is_partner_admin(actor)
    return _page(request, "admission_portal.html", actor, others=others, can_edit=can_edit, **_ctx(v))


@router.post("/portal/admission/{application_id}/fields")
async def portal_fields(request: Request, actor: PartnerPage, application_id: str) -> Response:
    url = f"{PORTAL}/{application_id}"

    async def fn(uow: UnitOfWork, form: FormData) -> None:
        await service.update_application(uow, application_id, _fields(form))

    return await act(request, actor, fn, ok_url=url, flash=tr(request, "已保存"))


async def _upload(request: Request, actor: Any, application_id: str, file: UploadFile, url: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> None:
        name, data = await _file(request, file)
        try:
            kind = DocumentKind(field(form, "kind", max_len=40))
        except ValueError:
            raise FormError(tr(request, "请选择材料类型")) from None
        up = service.Upload(
            kind,
            name,
            data,
            field(form, "number", max_len=80),
            field(form, "issuer", max_len=120),
            _date(form, "valid_from"),
            _date(form, "valid_to"),
        )
        await service.add_document(uow, application_id, up)

    return await act(request, actor, fn, ok_url=url, flash=tr(request, "材料已上传"))


@router.post("/portal/admission/{application_id}/documents")
async def portal_upload(
    request: Request, actor: PartnerPage, application_id: str, file: UploadFile = File(...)
) -> Response:
    # The file as a parameter: FastAPI parses the form and closes its files after the answer.
    return await _upload(request, actor, application_id, file, f"{PORTAL}/{application_id}")


@router.post("/portal/admission/{application_id}/submit")
async def portal_submit(request: Request, actor: PartnerPage, application_id: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await service.submit(uow, application_id)

    return await act(request, actor, fn, ok_url=f"{PORTAL}/{application_id}", flash=tr(request, "已提交审核"))


async def _download(
    request: Request, actor: Any, application_id: str, document_id: str, back: str
) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            doc, data = await service.read_document(uow, application_id, document_id)
    except AppError as exc:
        return error_page(request, actor, exc, back)
    inline = request.query_params.get("inline") == "1"
    headers = {
        "content-disposition": f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(doc.filename)}",
        "x-content-type-options": "nosniff",
    }
    if inline:
        # shown beside the checklist on the review page (this platform's pages only), nothing active in it
        headers["content-security-policy"] = (
            "sandbox; default-src 'none'; img-src 'self'; frame-ancestors 'self'"
        )
        headers["x-frame-options"] = "SAMEORIGIN"
    return Response(data, media_type=doc.content_type, headers=headers)


@router.get("/portal/admission/{application_id}/documents/{document_id}")
async def portal_download(
    request: Request, actor: PartnerPage, application_id: str, document_id: str
) -> Response:
    return await _download(request, actor, application_id, document_id, PORTAL)


# ---- operators: the reviewer's queue and review page -------------------------------------------


@router.get("/ops/admission")
async def ops_queue(
    request: Request, actor: OperatorPage, state: str = "submitted", offset: str = "", limit: str = ""
) -> Response:
    off, lim = page_args(offset, limit)
    try:
        st: ApplicationState | None = ApplicationState(state) if state else None
    except ValueError:
        st = ApplicationState.SUBMITTED
    async with container_of(request).uow(actor) as uow:
        rows, total = await service.list_applications(uow, state=st, offset=off, limit=lim)

    def link(o: int) -> str:
        return f"{OPS}?{urlencode({'state': st.value if st else '', 'offset': o, 'limit': lim})}"

    return _page(
        request,
        "admission_ops_queue.html",
        actor,
        items=rows,
        total=total,
        offset=off,
        limit=lim,
        state=st.value if st else "",
        states=[s.value for s in ApplicationState],
        prev_url=link(max(0, off - lim)) if off > 0 else "",
        next_url=link(off + lim) if off + lim < total else "",
    )


@router.get("/ops/admission/{application_id}")
async def ops_application(request: Request, actor: OperatorPage, application_id: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            v = await service.application_view(uow, application_id)
    except AppError as exc:
        return error_page(request, actor, exc, OPS)
    shown = request.query_params.get("doc", "")
    current = next((d for d in v.documents if d.id == shown), None) or next(iter(v.documents), None)
    return _page(
        request,
        "admission_ops_application.html",
        actor,
        current=current,
        can_review=service.is_reviewer(actor),
        can_activate=actor.has_role("reviewer", "billing_clerk"),
        **_ctx(v),
    )


@router.get("/ops/admission/{application_id}/documents/{document_id}")
async def ops_download(
    request: Request, actor: OperatorPage, application_id: str, document_id: str
) -> Response:
    return await _download(request, actor, application_id, document_id, f"{OPS}/{application_id}")


@router.post("/ops/admission/{application_id}/documents")
async def ops_upload(
    request: Request, actor: OperatorPage, application_id: str, file: UploadFile = File(...)
) -> Response:
    return await _upload(request, actor, application_id, file, f"{OPS}/{application_id}")


def _checklist(form: FormData) -> list[ChecklistIn]:
    out: list[ChecklistIn] = []
    for item in ChecklistItem:
        verdict = field(form, f"verdict_{item.value}", max_len=10)
        if verdict in ("pass", "fail"):
            comment = field(form, f"comment_{item.value}", max_len=1000)
            out.append(ChecklistIn(item=item, passed=verdict == "pass", comment=comment))
    return out


@router.post("/ops/admission/{application_id}/review")
async def ops_review(request: Request, actor: OperatorPage, application_id: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await service.start_review(uow, application_id)

    return await act(request, actor, fn, ok_url=f"{OPS}/{application_id}", flash=tr(request, "已开始审核"))


@router.post("/ops/admission/{application_id}/checklist")
async def ops_checklist(request: Request, actor: OperatorPage, application_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> None:
        items = _checklist(form)
        if not items:
            raise FormError(tr(request, "请至少评定一项"))
        await service.record_checklist(uow, application_id, items)

    return await act(
        request, actor, fn, ok_url=f"{OPS}/{application_id}", flash=tr(request, "审核意见已记录")
    )


@router.post("/ops/admission/{application_id}/decision")
async def ops_decision(request: Request, actor: OperatorPage, application_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str:
        cmd = DecisionIn.model_validate(
            {
                "decision": field(form, "decision", max_len=10),
                "reason": field(form, "reason", max_len=1000),
                "checklist": _checklist(form),
            }
        )
        a = await service.decide(uow, application_id, cmd)
        return tr(request, "审核结果：%(state)s", state=_label(lang_of(request))(a.state))

    return await act(request, actor, fn, ok_url=f"{OPS}/{application_id}")


@router.post("/ops/admission/{application_id}/contract")
async def ops_contract(request: Request, actor: OperatorPage, application_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> None:
        data: dict[str, Any] = {
            "number": field(form, "number", max_len=60),
            "billing_mode": field(form, "billing_mode", max_len=20),
            "price_band": field(form, "price_band", max_len=20) or "certified",
            "valid_from": field(form, "valid_from", max_len=10),
            "valid_to": field(form, "valid_to", max_len=10),
        }
        for k in ("deposit", "agreed_payment", "scope"):
            if raw := field(form, k, max_len=30):
                data[k] = raw
        await service.record_contract(uow, application_id, ContractIn.model_validate(data))

    return await act(request, actor, fn, ok_url=f"{OPS}/{application_id}", flash=tr(request, "合同已登记"))


@router.post("/ops/admission/{application_id}/activate")
async def ops_activate(request: Request, actor: OperatorPage, application_id: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await service.activate(uow, application_id)

    return await act(request, actor, fn, ok_url=f"{OPS}/{application_id}", flash=tr(request, "服务已开通"))


# ---- the admission section of the operator's partner page --------------------------------------


async def _partner_panel(uow: UnitOfWork, partner_id: str) -> dict[str, Any]:
    apps, _ = await service.list_applications(uow, partner_id=partner_id, limit=20)
    contracts, _ = await service.list_contracts(uow, partner_id=partner_id, limit=20)
    certificates = await service.partner_certificates(uow, partner_id)
    o = await obligations.obligations(uow, partner_id)
    return {
        "partner_id": partner_id,
        "applications": apps,
        "contracts": contracts,
        "certificates": certificates,
        "labels": LABELS,
        "contact": next((c for c in o.contacts if c.state == "current"), None),
        "contact_changes": [c for c in o.contacts if c.state == "requested"],
        "reports": [r for r in o.reports if r.state == "open"],
        "now": uow.now,
        "notices": o.notices[:5],
        "publicity": [p for p in o.publicity if p.state == "filed"],
    }


PARTNER_ADMISSION = Panel("admission_panel_partner.html", _partner_panel)
