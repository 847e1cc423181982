"""low balance alerts

A prepaid partner's low-balance threshold, armed until it has notified (billing/alerts.py).

Revision ID: b7c1d2e3f405
Revises: ce4ccb2e5f21
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "b7c1d2e3f405"
down_revision: str | None = "ce4ccb2e5f21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "low_balance_alerts",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("threshold", openability.kernel.db.Money(), nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("notified_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_low_balance_alerts_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_low_balance_alerts")),
    )


def downgrade() -> None:
    op.drop_table("low_balance_alerts")
