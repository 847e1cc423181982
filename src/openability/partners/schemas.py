"""Commands (requests) and views (responses) of the partners domain. Shape checks live here;
business checks (brand words, billing mode, identity formats) live in rules.py.

JSON is camelCase like the rest of the management API (kernel.schemas.ApiModel). Fields whose
values are checked by rules.py with their own error codes (INVALID_BILLING_MODE, INVALID_ROLE,
INVALID_SCOPE) stay plain strings here and only list their allowed values in the OpenAPI document,
so a bad value still gets the rule's code rather than a generic INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StringConstraints,
    field_serializer,
    field_validator,
)

from openability.kernel.money import fmt, parse_money, to_decimal
from openability.kernel.schemas import ApiModel
from openability.kernel.uow import Actor
from openability.partners.models import ApiClient, Operator, Partner, PartnerUser
from openability.partners.rules import OPERATOR_ROLES, PARTNER_USER_ROLES, SCOPES
from openability.partners.types import BillingMode, ProductKind, Scope, Tier

Str100 = Annotated[str, StringConstraints(max_length=100)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]

T = TypeVar("T")


def _listed(values: Iterable[str]) -> Any:
    # Shown in the OpenAPI document only; rules.py checks the value and answers with its own code.
    allowed: list[JsonValue] = [*sorted(values)]
    return Field(json_schema_extra={"enum": allowed})


BillingModeIn = Annotated[str, StringConstraints(max_length=20), _listed(m.value for m in BillingMode)]
PartnerUserRoleIn = Annotated[str, StringConstraints(max_length=20), _listed(PARTNER_USER_ROLES)]
OperatorRoleIn = Annotated[str, StringConstraints(max_length=40), _listed(OPERATOR_ROLES)]
ClientScopeIn = Annotated[str, StringConstraints(max_length=20), _listed(SCOPES)]


class Command(ApiModel):
    """A request body: camelCase (snake_case still accepted), unknown fields refused."""


class RegisterAp(Command):
    """AP self-registration (R-ADMIT-06): identity fields and the first (admin) user."""

    name: Name
    username: Username
    password: Password
    display_name: Str100 = ""
    contact_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    contact_email: Str200
    contact_phone: Annotated[str, StringConstraints(max_length=40)]
    credit_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    # Present so that asking for postpaid gets the rule's answer (R-PARTNER-01), not silence.
    billing_mode: BillingModeIn = "prepaid"
    branches: list[Name] = Field(default_factory=list, max_length=50)


class CreateSi(Command):
    """An SI in its simplest form (the admission flow comes later). Operators only."""

    name: Name
    billing_mode: BillingModeIn
    scope: Scope = Scope.NATIONAL
    product_kind: ProductKind = ProductKind.STANDARD
    industry: Annotated[str, StringConstraints(max_length=60)] | None = None
    tier: Tier = Tier.CERTIFIED
    contact_name: Str100 = ""
    contact_email: Str200 = ""
    contact_phone: Annotated[str, StringConstraints(max_length=40)] = ""
    credit_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    registered_capital: Decimal | None = None
    branches: list[Name] = Field(default_factory=list, max_length=50)
    activate: StrictBool = False
    # Optional first partner user (admin) created together with the SI.
    admin_username: Username | None = None
    admin_password: Password | None = None

    @field_validator("registered_capital", mode="before")
    @classmethod
    def _money(cls, v: Any) -> Decimal | None:
        # JSON money is a plain decimal string (the one money path); a JSON number is refused.
        if v is None:
            return None
        d = to_decimal(v) if isinstance(v, Decimal) else parse_money(v, example="5000000.00")
        if d < 0:
            raise ValueError("registered capital cannot be negative")
        return d


class UpdatePartner(Command):
    name: Name | None = None
    contact_name: Str100 | None = None
    contact_email: Str200 | None = None
    contact_phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    branches: list[Name] | None = Field(default=None, max_length=50)


class StatusChange(Command):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=300)]

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a reason is required")
        return v.strip()


class CreatePartnerUser(Command):
    username: Username
    password: Password
    role: PartnerUserRoleIn = "admin"
    display_name: Str100 = ""
    email: Str200 = ""


class CreateClient(Command):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scopes: list[ClientScopeIn] = Field(min_length=1, max_length=10)


class CreateOperator(Command):
    username: Username
    password: Password
    roles: list[OperatorRoleIn] = Field(min_length=1, max_length=10)
    display_name: Str100 = ""
    email: Str200 = ""
    lead_id: Annotated[str, StringConstraints(max_length=40)] | None = None


class LoginRequest(Command):
    username: Username
    password: Password


# ---- views -------------------------------------------------------------------------------------


class View(ApiModel):
    """A response body: camelCase."""

    model_config = ConfigDict(from_attributes=True)


class PartnerOut(View):
    id: str
    kind: str
    name: str
    billing_mode: str
    status: str
    status_reason: str
    scope: str
    tier: str | None
    product_kind: str
    industry: str | None
    contact_name: str
    contact_email: str
    contact_phone: str
    credit_code: str | None
    registered_capital: Decimal | None
    branches: list[str]
    created_at: datetime
    updated_at: datetime

    @field_serializer("registered_capital")
    def _money(self, v: Decimal | None) -> str | None:
        return fmt(v) if v is not None else None

    @classmethod
    def of(cls, p: Partner) -> PartnerOut:
        return cls(
            id=p.id,
            kind=p.kind.value,
            name=p.name,
            billing_mode=p.billing_mode.value,
            status=p.status.value,
            status_reason=p.status_reason or "",
            scope=p.scope.value,
            tier=p.tier.value if p.tier else None,
            product_kind=p.product_kind.value,
            industry=p.industry,
            contact_name=p.contact_name,
            contact_email=p.contact_email,
            contact_phone=p.contact_phone,
            credit_code=p.credit_code,
            registered_capital=p.registered_capital,
            branches=list(p.branches or []),
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class PartnerUserOut(View):
    id: str
    partner_id: str
    username: str
    display_name: str
    email: str
    role: str
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, u: PartnerUser) -> PartnerUserOut:
        return cls.model_validate(u)


class RegisteredOut(ApiModel):
    partner: PartnerOut
    user: PartnerUserOut


class ClientOut(View):
    client_id: str
    partner_id: str
    name: str
    scopes: list[str]
    active: bool
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, c: ApiClient) -> ClientOut:
        return cls(
            client_id=c.id,
            partner_id=c.partner_id,
            name=c.name,
            scopes=list(c.scopes),
            active=c.active,
            created_at=c.created_at,
            revoked_at=c.revoked_at,
        )


class ClientCreatedOut(ClientOut):
    client_secret: str = Field(description="shown once; only its argon2 hash is stored")


class OperatorOut(View):
    id: str
    username: str
    display_name: str
    email: str
    roles: list[str]
    lead_id: str | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, o: Operator) -> OperatorOut:
        return cls.model_validate(o)


class ActorOut(ApiModel):
    type: str
    id: str
    partner_id: str | None
    roles: list[str]
    name: str

    @classmethod
    def of(cls, a: Actor) -> ActorOut:
        return cls(type=a.type, id=a.id, partner_id=a.partner_id, roles=sorted(a.roles), name=a.name)


class LoginOut(BaseModel):
    """A bearer token answer: its three token fields keep the OAuth 2.0 names (RFC 6749 §5.1) on
    purpose, so OAuth client libraries read it; the nested actor is camelCase like the rest."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    actor: ActorOut


class MeOut(ApiModel):
    actor: ActorOut
    partner: PartnerOut | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int
