"""request claims

The cross-worker claim of a client's idempotency key, taken before the network is touched
(charging/claims.py, R-CHARGE-04).

Revision ID: e0c1a2b3d4f5
Revises: c0113c710e5a
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "e0c1a2b3d4f5"
down_revision: str | None = "c0113c710e5a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_claims",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("request_key", sa.String(length=120), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "claimed", "answered", "failed", "in_doubt", name="claimstate", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("claimed_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("usage_record_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("partner_id", "request_key", name=op.f("pk_request_claims")),
    )
    op.create_index(
        "ix_request_claims_state_claimed", "request_claims", ["state", "claimed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_request_claims_state_claimed", table_name="request_claims")
    op.drop_table("request_claims")
