"""Capabilities, products, versioned price plans with graduated tiers per band and scope; product orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openability.catalog.types import Audience, OrderState, ProductStatus
from openability.kernel.db import Base, IdStr, Money, UTCDateTime, enum_column


class Capability(Base):
    __tablename__ = "capabilities"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)  # sms | mms | voice
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    # API operations, e.g. [{"name": "sendMessage", "method": "POST", "path": "/capabilities/sms/v1/messages"}]
    operations: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    network_element: Mapped[str] = mapped_column(String(40))  # smpp | mms-sim | voice-sim


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # e.g. "sms-standard"
    capability_code: Mapped[str] = mapped_column(ForeignKey("capabilities.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    unit: Mapped[str] = mapped_column(String(20))  # segment | message | minute
    # Access policy (R-PRICE-01): who may order it, and the per-partner rate limit.
    audience: Mapped[Audience] = mapped_column(enum_column(Audience), default=Audience.ALL)
    rate_limit_per_second: Mapped[int] = mapped_column(Integer, default=100)
    status: Mapped[ProductStatus] = mapped_column(enum_column(ProductStatus), default=ProductStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PricePlan(Base):
    """One version of a product's prices (R-PRICE-03): valid over [valid_from, valid_to)."""

    __tablename__ = "price_plans"
    __table_args__ = (UniqueConstraint("product_id", "version"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PriceTier(Base):
    """A graduated tier: from `from_volume` (month-to-date units, inclusive) the unit price is `unit_price`.
    One list per band (list = AP list price; certified/close/strategic = SI bands) and scope."""

    __tablename__ = "price_tiers"
    __table_args__ = (UniqueConstraint("plan_id", "scope", "band", "from_volume"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("price_plans.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(20))  # national | local
    band: Mapped[str] = mapped_column(String(20))  # list | certified | close | strategic
    from_volume: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[Decimal] = mapped_column(Money())


class ProductOrder(Base):
    __tablename__ = "product_orders"
    __table_args__ = (Index("ix_orders_partner_product", "partner_id", "product_id"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    state: Mapped[OrderState] = mapped_column(enum_column(OrderState), index=True)
    # true while the order grants use of the product (completed and not cancelled)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
