"""payment provider orders

Online payments (billing/providers/): each online payment's order at its provider (pay URL or QR
payload) and, once the provider's signed notification confirmed it, the provider's transaction id,
unique per provider (one provider transaction credits one payment once). The payments table itself is
unchanged: its method column (a non-native enum) takes the new value "online" as it is.

Revision ID: 7e2b9c41d0a8
Revises: a41f2c9d7e10
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "7e2b9c41d0a8"
down_revision: str | None = "a41f2c9d7e10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_provider_orders",
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("pay_url", sa.String(length=1000), nullable=False),
        sa.Column("created_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("provider_transaction_id", sa.String(length=80), nullable=True),
        sa.Column("notified_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_provider_orders_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payment_provider_orders")),
        sa.UniqueConstraint(
            "provider",
            "provider_transaction_id",
            name=op.f("uq_payment_provider_orders_provider_provider_transaction_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("payment_provider_orders")
