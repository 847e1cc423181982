"""collections

Postpaid collections (billing/collections.py, R-BILL-07..09): a statement's due and its collection
(statement_dues), suspensions for arrears (arrears_suspensions), the required deposit of a postpaid SI
(required_deposits), and the statement a payment of purpose `statement` pays (payments.statement_id).
Statements confirmed before this revision get their due from the next collection run (a catch-up).

Revision ID: c0113c710e5a
Revises: b7c1d2e3f405
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "c0113c710e5a"
down_revision: str | None = "b7c1d2e3f405"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "required_deposits",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("amount", openability.kernel.db.Money(), nullable=False),
        sa.Column("set_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_required_deposits_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_required_deposits")),
    )
    op.create_table(
        "arrears_suspensions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("statement_id", sa.String(length=40), nullable=False),
        sa.Column("shortfall", openability.kernel.db.Money(), nullable=False),
        sa.Column("suspended_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status_changes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_arrears_suspensions_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["statements.id"], name=op.f("fk_arrears_suspensions_statement_id_statements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrears_suspensions")),
    )
    with op.batch_alter_table("arrears_suspensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_arrears_suspensions_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "statement_dues",
        sa.Column("statement_id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("amount", openability.kernel.db.Money(), nullable=False),
        sa.Column("paid", openability.kernel.db.Money(), nullable=False),
        sa.Column("deducted", openability.kernel.db.Money(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "due", "partially_paid", "overdue", "paid", name="duestate", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("due_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notice_by", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("collected_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deferred", sa.Boolean(), nullable=False),
        sa.Column("deduction_entry_id", sa.String(length=40), nullable=True),
        sa.Column("paid_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_statement_dues_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["statements.id"], name=op.f("fk_statement_dues_statement_id_statements")
        ),
        sa.PrimaryKeyConstraint("statement_id", name=op.f("pk_statement_dues")),
    )
    with op.batch_alter_table("statement_dues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statement_dues_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index("ix_statement_dues_state", ["state", "month"], unique=False)

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statement_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_payments_statement_id"), ["statement_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_payments_statement_id_statements"), "statements", ["statement_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payments_statement_id_statements"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_payments_statement_id"))
        batch_op.drop_column("statement_id")

    with op.batch_alter_table("statement_dues", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_dues_state")
        batch_op.drop_index(batch_op.f("ix_statement_dues_partner_id"))

    op.drop_table("statement_dues")
    with op.batch_alter_table("arrears_suspensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_arrears_suspensions_partner_id"))

    op.drop_table("arrears_suspensions")
    op.drop_table("required_deposits")
