"""CDRs partitioned by month (PostgreSQL), partner_id in every key

usage_records becomes LIST-partitioned by `month` on PostgreSQL (a DEFAULT partition and one partition
per month found in the data; charging/partitions.py creates the months ahead from then on). The keys of
a partitioned table must include the partition key, and on Citus the distribution key: primary key
(id, partner_id, month), unique (partner_id, request_key, month). messages.usage_record_id loses its
foreign key (it would need the CDR's month; old months are detached). SQLite gets the same keys on one
plain table. The rows are copied into the new table (on a large table this is a copy of every CDR:
plan the downtime, docs/charging.md "CDR partitions").

Revision ID: d8e2f0a1b3c4
Revises: c9a1e5f3b7d2
Create Date: 2026-12-08 09:00:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "d8e2f0a1b3c4"
down_revision: str | None = "c9a1e5f3b7d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "usage_records_unpartitioned"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
COLUMNS = (
    "id, partner_id, product_id, capability, operation, client_id, request_key, quantity, unit, amount,"
    " billing_mode, price_plan_id, band, scope, month, grant_id, journal_entry_id, occurred_at,"
    " recipients, response, request_hash"
)
OLD_INDEXES = ("ix_usage_partner_time", "ix_usage_records_journal_entry_id", "ix_usage_records_month")


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("capability", sa.String(length=20), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("request_key", sa.String(length=120), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("amount", openability.kernel.db.Money(), nullable=False),
        sa.Column("billing_mode", sa.String(length=10), nullable=False),
        sa.Column("price_plan_id", sa.String(length=40), nullable=False),
        sa.Column("band", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("grant_id", sa.String(length=40), nullable=True),
        sa.Column("journal_entry_id", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
    ]


def _fks() -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            ["journal_entry_id"],
            ["journal_entries.id"],
            name="fk_usage_records_journal_entry_id_journal_entries",
        ),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], name="fk_usage_records_partner_id_partners"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_usage_records_product_id_products"),
    ]


def _set_aside(pg: bool) -> None:
    """Rename the old table and free the names of its keys and indexes (schema-wide in both databases)."""
    for name in OLD_INDEXES:
        op.drop_index(name, table_name="usage_records")
    op.rename_table("usage_records", OLD)
    if pg:
        op.execute(f"ALTER TABLE {OLD} DROP CONSTRAINT pk_usage_records")
        op.execute(f"ALTER TABLE {OLD} DROP CONSTRAINT IF EXISTS uq_usage_records_partner_id_request_key")
        op.execute(
            f"ALTER TABLE {OLD} DROP CONSTRAINT IF EXISTS uq_usage_records_partner_id_request_key_month"
        )


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    if pg:
        # An earlier migration of the same run may leave a streamed read of usage_records open (a
        # server-side cursor): PostgreSQL refuses to ALTER a table an open cursor of the session uses.
        op.execute("CLOSE ALL")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_messages_usage_record_id_usage_records", type_="foreignkey")
    _set_aside(pg)
    op.create_table(
        "usage_records",
        *_columns(),
        *_fks(),
        sa.PrimaryKeyConstraint("id", "partner_id", "month", name="pk_usage_records"),
        sa.UniqueConstraint(
            "partner_id", "request_key", "month", name="uq_usage_records_partner_id_request_key_month"
        ),
        postgresql_partition_by="LIST (month)",
    )
    if pg:
        op.execute("CREATE TABLE usage_records_default PARTITION OF usage_records DEFAULT")
        months = [r[0] for r in bind.execute(sa.text(f"SELECT DISTINCT month FROM {OLD} ORDER BY 1"))]
        for m in months:
            if MONTH.match(m):  # anything else stays in the DEFAULT partition
                op.execute(
                    f"CREATE TABLE usage_records_{m[:4]}_{m[5:]} PARTITION OF usage_records FOR VALUES IN ('{m}')"
                )
    op.execute(f"INSERT INTO usage_records ({COLUMNS}) SELECT {COLUMNS} FROM {OLD}")
    op.drop_table(OLD)
    op.create_index("ix_usage_partner_time", "usage_records", ["partner_id", "occurred_at"], unique=False)
    op.create_index(
        "ix_usage_records_journal_entry_id", "usage_records", ["journal_entry_id", "partner_id"], unique=False
    )
    op.create_index("ix_usage_records_month", "usage_records", ["month", "partner_id"], unique=False)


def downgrade() -> None:
    """One plain table again (fails if one partner used a key in two months: the old key forbids it)."""
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    _set_aside(pg)
    op.create_table(
        "usage_records",
        *_columns(),
        *_fks(),
        sa.PrimaryKeyConstraint("id", name="pk_usage_records"),
        sa.UniqueConstraint("partner_id", "request_key", name="uq_usage_records_partner_id_request_key"),
    )
    op.execute(f"INSERT INTO usage_records ({COLUMNS}) SELECT {COLUMNS} FROM {OLD}")
    op.drop_table(OLD)  # on PostgreSQL with its partitions
    op.create_index("ix_usage_partner_time", "usage_records", ["partner_id", "occurred_at"], unique=False)
    op.create_index("ix_usage_records_journal_entry_id", "usage_records", ["journal_entry_id"], unique=False)
    op.create_index("ix_usage_records_month", "usage_records", ["month"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_messages_usage_record_id_usage_records", "usage_records", ["usage_record_id"], ["id"]
        )
