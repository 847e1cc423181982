"""login failures

Failed logins and client-secret checks in a row per key, and the lockout (partners/throttle.py).

Revision ID: a41f2c9d7e10
Revises: 7d3e9a41c2b8
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "a41f2c9d7e10"
down_revision: str | None = "7d3e9a41c2b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
