"""Monthly rollups kept by the CDR writer

usage_monthly: usage_daily's key minus the day (partner_id, product_id, month, price_plan_id, band,
scope, slot), each row the key's daily rows summed, with the first day of its usage. The CDR writer
upserts it in the same statement as the daily rollup; the bill run reads it (charging/settlement.py
`month_totals_of`). Backfilled here from usage_daily with one INSERT … SELECT … GROUP BY; the
downgrade drops it (usage_daily holds everything it summed).

Revision ID: b8d5f0c3e7a2
Revises: a7c4e9b2d6f1
Create Date: 2026-12-11 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "b8d5f0c3e7a2"
down_revision: str | None = "a7c4e9b2d6f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["partner_id", "product_id", "month", "price_plan_id", "band", "scope", "slot"]


def upgrade() -> None:
    op.create_table(
        "usage_monthly",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("price_plan_id", sa.String(length=40), nullable=False),
        sa.Column("band", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("slot", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount", openability.kernel.db.Money(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_usage_monthly_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_usage_monthly_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_monthly")),
        sa.UniqueConstraint(*_KEY, name="uq_usage_monthly_rollup_key"),
    )
    op.create_index("ix_usage_monthly_month", "usage_monthly", ["month"], unique=False)
    cols = ", ".join(_KEY)
    op.execute(
        f"INSERT INTO usage_monthly ({cols}, first_day, calls, quantity, amount) "
        f"SELECT {cols}, min(day), sum(calls), sum(quantity), sum(amount) FROM usage_daily GROUP BY {cols}"
    )


def downgrade() -> None:
    op.drop_index("ix_usage_monthly_month", table_name="usage_monthly")
    op.drop_table("usage_monthly")
