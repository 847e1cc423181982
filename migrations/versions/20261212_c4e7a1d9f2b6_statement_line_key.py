"""Statement lines keyed by (statement_id, seq); no index duplicating a unique key

statement_lines had a serial id as its primary key, a unique (statement_id, seq) and an index on
statement_id: three indexes and a sequence for each of the ~40,000 lines a bill run writes, where
(statement_id, seq) alone identifies a line and serves every read (a statement's lines). It becomes
the primary key; the id column, the unique constraint and the index go. statements loses its index
on partner_id, which the unique (partner_id, month) serves. No row changes.

Revision ID: c4e7a1d9f2b6
Revises: b8d5f0c3e7a2
Create Date: 2026-12-12 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4e7a1d9f2b6"
down_revision: str | None = "b8d5f0c3e7a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_lines_statement_id"))
        batch_op.drop_constraint(batch_op.f("uq_statement_lines_statement_id_seq"), type_="unique")
        batch_op.drop_constraint(batch_op.f("pk_statement_lines"), type_="primary")
        batch_op.drop_column("id")
        batch_op.create_primary_key(batch_op.f("pk_statement_lines"), ["statement_id", "seq"])
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statements_partner_id"))


def downgrade() -> None:
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statements_partner_id"), ["partner_id"], unique=False)
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("pk_statement_lines"), type_="primary")
        batch_op.add_column(sa.Column("id", sa.Integer(), autoincrement=True, nullable=True))
    # number the lines (statement, seq order), then make id the key again
    op.execute(
        "UPDATE statement_lines SET id = (SELECT count(*) FROM statement_lines AS o "
        "WHERE o.statement_id < statement_lines.statement_id OR "
        "(o.statement_id = statement_lines.statement_id AND o.seq <= statement_lines.seq))"
    )
    if op.get_bind().dialect.name == "postgresql":  # a serial column again
        op.execute("CREATE SEQUENCE statement_lines_id_seq OWNED BY statement_lines.id")
        op.execute(
            "SELECT setval('statement_lines_id_seq', coalesce(max(id), 0) + 1, false) FROM statement_lines"
        )
        op.execute(
            "ALTER TABLE statement_lines ALTER COLUMN id SET DEFAULT nextval('statement_lines_id_seq')"
        )
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.alter_column("id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_primary_key(batch_op.f("pk_statement_lines"), ["id"])
        batch_op.create_unique_constraint(
            batch_op.f("uq_statement_lines_statement_id_seq"), ["statement_id", "seq"]
        )
        batch_op.create_index(batch_op.f("ix_statement_lines_statement_id"), ["statement_id"], unique=False)
