"""Partners HTTP edge: management API (/api/v1/partners, /auth, /me, /operators) and the OAuth2 token
endpoint (/oauth/token); the console pages (the public AP registration among them) are in views.py.
Routes stay thin: parse, call one service, render."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from openability.kernel.errors import AppError, error_headers
from openability.kernel.uow import Actor
from openability.kernel.web import (
    CurrentActor,
    JSONResponse,
    Limit,
    Offset,
    client_address,
    container_of,
    require_operator,
    uow_for,
)
from openability.partners import identity, lifecycle, oauth
from openability.partners.auth import token_from_request
from openability.partners.rules import LOGIN_TTL_SECONDS
from openability.partners.schemas import (
    ActorOut,
    ClientCreatedOut,
    ClientOut,
    CreateClient,
    CreateOperator,
    CreatePartnerUser,
    CreateSi,
    LoginOut,
    LoginRequest,
    MeOut,
    OperatorOut,
    Page,
    PartnerOut,
    PartnerUserOut,
    RegisterAp,
    RegisteredOut,
    StatusChange,
    UpdatePartner,
)
from openability.partners.types import PartnerKind, PartnerStatus

if TYPE_CHECKING:
    pass

router = APIRouter(prefix="/api/v1", tags=["partners"])
auth_router = APIRouter(prefix="/api/v1", tags=["auth"])
operators_router = APIRouter(prefix="/api/v1/operators", tags=["operators"])
oauth_router = APIRouter(tags=["oauth"])

Staff = Annotated[Actor, Depends(require_operator())]
Reviewer = Annotated[Actor, Depends(require_operator("reviewer"))]
Admin = Annotated[Actor, Depends(require_operator("admin"))]


def _anonymous_uow(request: Request) -> Any:
    return container_of(request).uow(correlator=request.headers.get("x-correlator"))


# ---- partners ----------------------------------------------------------------------------------


@router.post("/partners/register", status_code=201, response_model=RegisteredOut)
async def register_ap(request: Request, cmd: RegisterAp) -> RegisteredOut:
    """Public AP self-registration (R-ADMIT-06): active at once, prepaid only (R-PARTNER-01),
    names checked for protected brand words (R-PARTNER-04)."""
    async with _anonymous_uow(request) as uow:
        partner, user = await lifecycle.register_ap(uow, cmd)
    return RegisteredOut(partner=PartnerOut.of(partner), user=PartnerUserOut.of(user))


@router.post("/partners", status_code=201, response_model=PartnerOut)
async def create_si(request: Request, cmd: CreateSi, actor: Reviewer) -> PartnerOut:
    async with uow_for(request, actor) as uow:
        partner = await lifecycle.create_si(uow, cmd)
    return PartnerOut.of(partner)


@router.get("/partners", response_model=Page[PartnerOut])
async def list_partners(
    request: Request,
    actor: CurrentActor,
    kind: PartnerKind | None = None,
    status: PartnerStatus | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PartnerOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await lifecycle.list_partners(uow, kind=kind, status=status, offset=offset, limit=limit)
    return Page[PartnerOut](items=[PartnerOut.of(p) for p in rows], total=total, offset=offset, limit=limit)


@router.get("/partners/{partner_id}", response_model=PartnerOut)
async def get_partner(request: Request, partner_id: str, actor: CurrentActor) -> PartnerOut:
    async with uow_for(request, actor) as uow:
        return PartnerOut.of(await lifecycle.get_partner(uow, partner_id))


@router.patch("/partners/{partner_id}", response_model=PartnerOut)
async def update_partner(
    request: Request, partner_id: str, cmd: UpdatePartner, actor: CurrentActor
) -> PartnerOut:
    async with uow_for(request, actor) as uow:
        return PartnerOut.of(await lifecycle.update_partner(uow, partner_id, cmd))


async def _set_status(
    request: Request, actor: Actor, partner_id: str, status: PartnerStatus, reason: str
) -> PartnerOut:
    async with uow_for(request, actor) as uow:
        return PartnerOut.of(await lifecycle.set_partner_status(uow, partner_id, status, reason))


@router.post("/partners/{partner_id}/suspend", response_model=PartnerOut)
async def suspend_partner(request: Request, partner_id: str, body: StatusChange, actor: Staff) -> PartnerOut:
    return await _set_status(request, actor, partner_id, PartnerStatus.SUSPENDED, body.reason)


@router.post("/partners/{partner_id}/activate", response_model=PartnerOut)
async def activate_partner(request: Request, partner_id: str, body: StatusChange, actor: Staff) -> PartnerOut:
    return await _set_status(request, actor, partner_id, PartnerStatus.ACTIVE, body.reason)


@router.post("/partners/{partner_id}/exit", response_model=PartnerOut)
async def exit_partner(request: Request, partner_id: str, body: StatusChange, actor: Reviewer) -> PartnerOut:
    """Final: revokes the partner's API clients and tokens (R-EXIT-01)."""
    return await _set_status(request, actor, partner_id, PartnerStatus.EXITED, body.reason)


# ---- partner users -----------------------------------------------------------------------------


@router.post("/partners/{partner_id}/users", status_code=201, response_model=PartnerUserOut)
async def create_partner_user(
    request: Request, partner_id: str, cmd: CreatePartnerUser, actor: CurrentActor
) -> PartnerUserOut:
    async with uow_for(request, actor) as uow:
        user = await identity.create_partner_user(
            uow, partner_id, cmd.username, cmd.password, cmd.role, cmd.display_name, cmd.email
        )
    return PartnerUserOut.of(user)


@router.get("/partners/{partner_id}/users", response_model=Page[PartnerUserOut])
async def list_partner_users(
    request: Request, partner_id: str, actor: CurrentActor, offset: Offset = 0, limit: Limit = 50
) -> Page[PartnerUserOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await identity.list_partner_users(uow, partner_id, offset=offset, limit=limit)
    return Page[PartnerUserOut](
        items=[PartnerUserOut.of(u) for u in rows], total=total, offset=offset, limit=limit
    )


# ---- API clients -------------------------------------------------------------------------------


@router.post("/partners/{partner_id}/clients", status_code=201, response_model=ClientCreatedOut)
async def create_client(
    request: Request, partner_id: str, cmd: CreateClient, actor: CurrentActor
) -> ClientCreatedOut:
    """Creates an OAuth2 client; `clientSecret` is in this answer only and cannot be read again."""
    async with uow_for(request, actor) as uow:
        client, secret = await oauth.create_api_client(uow, partner_id, cmd.name, list(cmd.scopes))
    return ClientCreatedOut(**ClientOut.of(client).model_dump(by_alias=False), client_secret=secret)


@router.get("/partners/{partner_id}/clients", response_model=Page[ClientOut])
async def list_clients(
    request: Request, partner_id: str, actor: CurrentActor, offset: Offset = 0, limit: Limit = 50
) -> Page[ClientOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await oauth.list_api_clients(uow, partner_id, offset=offset, limit=limit)
    return Page[ClientOut](items=[ClientOut.of(c) for c in rows], total=total, offset=offset, limit=limit)


@router.delete("/partners/{partner_id}/clients/{client_id}", response_model=ClientOut)
async def revoke_client(request: Request, partner_id: str, client_id: str, actor: CurrentActor) -> ClientOut:
    async with uow_for(request, actor) as uow:
        return ClientOut.of(await oauth.revoke_api_client(uow, partner_id, client_id))


# ---- login sessions ----------------------------------------------------------------------------


@auth_router.post("/auth/login", response_model=LoginOut)
async def login(request: Request, body: LoginRequest) -> LoginOut:
    async with _anonymous_uow(request) as uow:
        token, actor = await identity.login(uow, body.username, body.password, source=client_address(request))
    return LoginOut(access_token=token, expires_in=LOGIN_TTL_SECONDS, actor=ActorOut.of(actor))


@auth_router.post("/auth/logout", status_code=204)
async def logout(request: Request, actor: CurrentActor) -> Response:
    token = token_from_request(request)
    if token:
        async with uow_for(request, actor) as uow:
            await identity.logout(uow, token)
    return Response(status_code=204)


@auth_router.get("/me", response_model=MeOut)
async def me(request: Request, actor: CurrentActor) -> MeOut:
    partner = None
    if actor.partner_id:
        async with uow_for(request, actor) as uow:
            partner = PartnerOut.of(await lifecycle.get_partner(uow, actor.partner_id))
    return MeOut(actor=ActorOut.of(actor), partner=partner)


# ---- operators ---------------------------------------------------------------------------------


@operators_router.get("", response_model=Page[OperatorOut])
async def list_operators(
    request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50
) -> Page[OperatorOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await identity.list_operators(uow, offset=offset, limit=limit)
    return Page[OperatorOut](items=[OperatorOut.of(o) for o in rows], total=total, offset=offset, limit=limit)


@operators_router.post("", status_code=201, response_model=OperatorOut)
async def create_operator(request: Request, cmd: CreateOperator, actor: Admin) -> OperatorOut:
    async with uow_for(request, actor) as uow:
        op = await identity.create_operator(
            uow, cmd.username, cmd.password, list(cmd.roles), cmd.display_name, cmd.lead_id, cmd.email
        )
    return OperatorOut.of(op)


# ---- OAuth2 token endpoint (RFC 6749 §4.4, client credentials) ----------------------------------

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(
    status: int, error: str, description: str, extra_headers: dict[str, str] | None = None
) -> JSONResponse:
    """RFC 6749 §5.2 body, plus the CAMARA-style status/code/message every other error carries."""
    headers = dict(_NO_STORE) | (extra_headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="openability"'
    body = {
        "error": error,
        "error_description": description,
        "status": status,
        "code": error.upper(),
        "message": description,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed Basic credentials") from None
    cid, sep, secret = raw.partition(":")
    if not sep:
        raise ValueError("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(cid), unquote_plus(secret)


_TOKEN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                        "scope": {"type": "string", "description": "space-delimited subset of sms mms voice"},
                    },
                }
            }
        },
    }
}


@oauth_router.post("/oauth/token", openapi_extra=_TOKEN_FORM)
async def oauth_token(request: Request) -> Response:
    """Client credentials grant: the client authenticates with HTTP Basic or client_id/client_secret in
    the form body; the answer is a bearer token for the capability API."""
    if not request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded"):
        return _oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
    form = await request.form()
    params: dict[str, str] = {}
    for key in ("grant_type", "client_id", "client_secret", "scope"):
        values = form.getlist(key)
        if len(values) > 1:
            return _oauth_error(400, "invalid_request", f"parameter {key} given more than once")
        if values:
            if not isinstance(values[0], str):
                return _oauth_error(400, "invalid_request", f"parameter {key} must be text")
            params[key] = values[0]
    grant = params.get("grant_type", "")
    if not grant:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
    try:
        basic = _basic_credentials(request.headers.get("authorization", ""))
    except ValueError as exc:
        return _oauth_error(401, "invalid_client", str(exc))
    if basic is not None and ("client_id" in params or "client_secret" in params):
        return _oauth_error(400, "invalid_request", "use one client authentication method, not two")
    client_id, secret = (
        basic if basic is not None else (params.get("client_id", ""), params.get("client_secret", ""))
    )
    if not client_id or not secret:
        return _oauth_error(401, "invalid_client", "client_id and client_secret are required")
    scope_param = params.get("scope")
    scopes = scope_param.split() if scope_param is not None else None
    try:
        async with _anonymous_uow(request) as uow:
            token, expires_in, granted = await oauth.issue_client_token(
                uow, client_id, secret, scopes, source=client_address(request)
            )
    except AppError as exc:
        if exc.code == "INVALID_SCOPE":
            return _oauth_error(400, "invalid_scope", exc.message)
        if exc.status == 401:
            return _oauth_error(401, "invalid_client", exc.message)
        if exc.status == 429:  # throttled after repeated wrong secrets (partners/throttle.py)
            return _oauth_error(429, "slow_down", exc.message, error_headers(exc))
        return _oauth_error(exc.status, "invalid_request", exc.message)
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": " ".join(granted),
    }
    return JSONResponse(body, headers=_NO_STORE)
