"""platform test clock

The test clock's one row (kernel/testclock.py): how far the platform's time is ahead of the system
clock, shared by every process. Written only when OPENABILITY_TEST_CLOCK is on (demo installations).

Revision ID: 5c1a0c7e3d21
Revises: 0fd3daa34607
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "5c1a0c7e3d21"
down_revision: str | None = "0fd3daa34607"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_clock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("offset_us", sa.BigInteger(), nullable=False),
        sa.Column("set_to", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_clock")),
    )


def downgrade() -> None:
    op.drop_table("platform_clock")
