"""job run leases: a job_runs row is a claim with an owner and a lease that expires

A claim left unfinished by a scheduler that died is taken over once its lease expires; attempts
counts the runs of the period. Existing rows get owner '', no lease (expired) and one attempt.

Revision ID: bbbb61b85046
Revises: 6bf14d50172d
Create Date: 2026-12-02 05:07:28.707487
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "bbbb61b85046"
down_revision: str | None = "6bf14d50172d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=80), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("lease_until", openability.kernel.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("owner")
