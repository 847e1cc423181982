"""Partners (SI/AP), their users and API clients; operators and their API tokens."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, IdStr, Money, UTCDateTime, enum_column
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus, ProductKind, Scope, Tier


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    kind: Mapped[PartnerKind] = mapped_column(enum_column(PartnerKind))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    billing_mode: Mapped[BillingMode] = mapped_column(enum_column(BillingMode))
    status: Mapped[PartnerStatus] = mapped_column(enum_column(PartnerStatus), index=True)
    scope: Mapped[Scope] = mapped_column(enum_column(Scope), default=Scope.NATIONAL)
    # SI price band (R-PRICE-02); APs always pay the list price and keep this null.
    tier: Mapped[Tier | None] = mapped_column(enum_column(Tier), nullable=True)
    product_kind: Mapped[ProductKind] = mapped_column(enum_column(ProductKind), default=ProductKind.STANDARD)
    industry: Mapped[str | None] = mapped_column(String(60), nullable=True)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    credit_code: Mapped[str | None] = mapped_column(String(40), nullable=True)  # 统一社会信用代码
    registered_capital: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    service_owner_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)  # R-CS-02
    # Branch names fall under the brand-word rule too (R-PARTNER-04).
    branches: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Why the status last changed (suspension / activation / exit reason), shown to operators.
    status_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "billing_mode": self.billing_mode.value,
            "status": self.status.value,
            "scope": self.scope.value,
            "tier": self.tier.value if self.tier else None,
        }


# The columns of a PartnerRef (partners/types.py), in its field order: read as plain rows where many
# partners or a hot path need them (the bill run's chunks, the gateway's first call of a token).
PARTNER_REF_COLUMNS = (
    Partner.id,
    Partner.kind,
    Partner.name,
    Partner.billing_mode,
    Partner.status,
    Partner.scope,
    Partner.tier,
    Partner.credit_code,
    Partner.service_owner_id,
)


class PartnerUser(Base):
    __tablename__ = "partner_users"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="admin")  # admin | developer | finance
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiClient(Base):
    """OAuth2 client-credentials client of a partner's application. The secret is shown once."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)  # the client_id
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON)  # e.g. ["sms", "mms", "voice"]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AccessToken(Base):
    """Bearer tokens: OAuth access tokens of API clients and login tokens of partner users/operators.
    Only the SHA-256 of the token is stored."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # client | partner_user | operator
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    partner_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Operator(Base):
    __tablename__ = "operators"
    __table_args__ = (UniqueConstraint("username"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    # reviewer | product_manager | billing_clerk | service_agent | service_lead | admin
    roles: Mapped[list[str]] = mapped_column(JSON)
    lead_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)  # escalation target (R-CS-05)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginFailure(Base):
    """Failed logins / client-secret checks in a row per key ("user:<name>", "client:<id>",
    "source:<address>"), and until when the key is locked (throttle.py)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
