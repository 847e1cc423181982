"""HTTP/CLI shapes of the catalog: camelCase JSON, money as strings, unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from openability.catalog import rules
from openability.catalog.models import Capability, PricePlan, PriceTier, Product, ProductOrder
from openability.catalog.types import Audience, OrderState, ProductStatus
from openability.kernel.money import fmt

# Re-exported: billing and usage import the shared model from here.
from openability.kernel.schemas import ApiModel as ApiModel

Unit = Literal["segment", "message", "minute"]
ProductCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
RateLimit = Annotated[StrictInt, Field(ge=1, le=10000)]


class ProductCreate(ApiModel):
    code: ProductCode
    capability: Annotated[str, Field(min_length=1, max_length=20)]
    name_zh: Name
    name_en: Name
    description: Annotated[str, Field(max_length=1000)] = ""
    unit: Unit
    audience: Audience = Audience.ALL
    rate_limit_per_second: RateLimit = 100
    status: ProductStatus = ProductStatus.ACTIVE


class ProductUpdate(ApiModel):
    name_zh: Name | None = None
    name_en: Name | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    audience: Audience | None = None
    rate_limit_per_second: RateLimit | None = None
    status: ProductStatus | None = None


# [from_volume, unit_price]: the volume a whole number, the price a decimal string (never a float).
TierIn = tuple[StrictInt | Annotated[str, Field(pattern=r"^\d{1,15}$")], str]
# Scope and band keys are checked by rules.validate_plan_tiers (INVALID_TIERS, with the allowed
# names in the message); the OpenAPI document lists the allowed keys.
ScopeTiersIn = Annotated[
    dict[str, list[TierIn]], Field(json_schema_extra={"propertyNames": {"enum": list(rules.BANDS)}})
]
PlanTiersIn = Annotated[
    dict[str, ScopeTiersIn], Field(json_schema_extra={"propertyNames": {"enum": list(rules.SCOPES)}})
]


class PricePlanCreate(ApiModel):
    # Omitted: valid from the moment it is created. A start less than 60 s in the past
    # (rules.VALID_FROM_SKEW: a "now" that took a moment to arrive) is read as now; earlier is refused.
    valid_from: Annotated[
        AwareDatetime | None,
        Field(
            description="Start of validity (with offset); omitted = now. Less than 60 s in the past "
            "counts as now; further in the past is refused (VALID_FROM_IN_PAST)."
        ),
    ] = None
    note: Annotated[str, Field(max_length=300)] = ""
    # {"national": {"list": [[0, "0.0500"], [100000, "0.0450"]], "certified": [...], ...}, "local": {...}}
    tiers: PlanTiersIn

    def flat_tiers(self) -> dict[tuple[str, str], list[tuple[object, object]]]:
        return flatten_tiers(self.tiers)


def flatten_tiers(
    tiers: dict[str, dict[str, list[Any]]],
) -> dict[tuple[str, str], list[tuple[object, object]]]:
    return {
        (scope, band): [tuple(t) for t in lst]
        for scope, bands in tiers.items()
        for band, lst in bands.items()
    }


class OrderCreate(ApiModel):
    product_id: Annotated[str, Field(min_length=1, max_length=40)]  # a product id or code
    partner_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None  # operators only
    note: Annotated[str, Field(max_length=300)] = ""


class OrderCancel(ApiModel):
    reason: Annotated[str, Field(max_length=300)] = ""


# ---- outputs ----


class CapabilityOut(ApiModel):
    code: str
    name_zh: str
    name_en: str
    network_element: str
    operations: list[dict[str, str]]

    @classmethod
    def of(cls, c: Capability) -> CapabilityOut:
        return cls(
            code=c.code,
            name_zh=c.name_zh,
            name_en=c.name_en,
            network_element=c.network_element,
            operations=list(c.operations),
        )


class ProductOut(ApiModel):
    id: str
    code: str
    capability: str
    name_zh: str
    name_en: str
    description: str
    unit: str
    audience: str
    rate_limit_per_second: int
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        return cls(
            id=p.id,
            code=p.code,
            capability=p.capability_code,
            name_zh=p.name_zh,
            name_en=p.name_en,
            description=p.description,
            unit=p.unit,
            audience=p.audience.value,
            rate_limit_per_second=p.rate_limit_per_second,
            status=p.status.value,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class PricePlanOut(ApiModel):
    id: str
    product_id: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    note: str
    created_by: str
    created_at: datetime
    # {"national": {"list": [[0, "0.0500"], ...]}}
    tiers: dict[str, dict[str, list[tuple[int, str]]]]

    @classmethod
    def of(cls, plan: PricePlan, tiers: list[PriceTier]) -> PricePlanOut:
        out: dict[str, dict[str, list[tuple[int, str]]]] = {}
        for t in sorted(tiers, key=lambda x: (x.scope, x.band, x.from_volume)):
            out.setdefault(t.scope, {}).setdefault(t.band, []).append((t.from_volume, fmt(t.unit_price)))
        return cls(
            id=plan.id,
            product_id=plan.product_id,
            version=plan.version,
            valid_from=plan.valid_from,
            valid_to=plan.valid_to,
            note=plan.note,
            created_by=plan.created_by,
            created_at=plan.created_at,
            tiers=out,
        )


class OrderOut(ApiModel):
    id: str
    partner_id: str
    product_id: str
    state: OrderState
    active: bool
    note: str
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, o: ProductOrder) -> OrderOut:
        return cls(
            id=o.id,
            partner_id=o.partner_id,
            product_id=o.product_id,
            state=o.state,
            active=o.active,
            note=o.note,
            created_at=o.created_at,
            completed_at=o.completed_at,
            cancelled_at=o.cancelled_at,
        )


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int
