"""cache changes

The change feed of the gateway's caches (kernel/changes.py): every published change appended in its
transaction, polled by every serving process.

Revision ID: c9a1e5f3b7d2
Revises: c4d5e6f7a801
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "c9a1e5f3b7d2"
down_revision: str | None = "c4d5e6f7a801"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cache_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_changes")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("cache_changes")
