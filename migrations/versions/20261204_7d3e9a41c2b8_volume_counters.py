"""volume counters

Month-to-date volume reserved in blocks by the gateway workers (charging/volume.py, R-CHARGE-06): one
row per (partner, product, month) holding the end of the last block handed out. A counter created
mid-month (after this upgrade) starts after the volume already in usage_daily, so nothing is seeded
here.

Revision ID: 7d3e9a41c2b8
Revises: 5c1a0c7e3d21
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "7d3e9a41c2b8"
down_revision: str | None = "5c1a0c7e3d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volume_counters",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("blocks", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_volume_counters_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_volume_counters_product_id_products")
        ),
        sa.PrimaryKeyConstraint("partner_id", "product_id", "month", name=op.f("pk_volume_counters")),
    )


def downgrade() -> None:
    op.drop_table("volume_counters")
