"""Daily rollups per reserved slot

usage_daily gains `slot` (0 for every existing row) and its unique key becomes (partner_id, product_id,
day, price_plan_id, band, scope, slot): the CDR writer upserts the rollup row of each CDR's grant's
reserved slot (0: postpaid or no grant), so two gateway workers never upsert one row. Readers sum over
the slots; the existing rows are slot 0, so every sum is unchanged.

Revision ID: a7c4e9b2d6f1
Revises: f3a9c2d1e7b5
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c4e9b2d6f1"
down_revision: str | None = "f3a9c2d1e7b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KEY = ["partner_id", "product_id", "day", "price_plan_id", "band", "scope"]


def upgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("uq_usage_daily_rollup_key", type_="unique")
        batch_op.create_unique_constraint("uq_usage_daily_rollup_key", [*_OLD_KEY, "slot"])


def downgrade() -> None:
    # The slots' rows of a key merge into its slot 0 row (created where missing): sums unchanged.
    same_key = " AND ".join(f"o.{c} = usage_daily.{c}" for c in _OLD_KEY)
    cols = ", ".join(_OLD_KEY)
    op.execute(
        f"INSERT INTO usage_daily ({cols}, slot, month, calls, quantity, amount) "
        f"SELECT {cols}, 0, min(month), 0, 0, 0 FROM usage_daily o WHERE o.slot <> 0 AND NOT EXISTS "
        f"(SELECT 1 FROM usage_daily z WHERE z.slot = 0 AND "
        + " AND ".join(f"z.{c} = o.{c}" for c in _OLD_KEY)
        + f") GROUP BY {cols}"
    )
    op.execute(
        "UPDATE usage_daily SET "
        + ", ".join(
            f"{c} = {c} + (SELECT coalesce(sum(o.{c}), 0) FROM usage_daily o WHERE o.slot <> 0 AND {same_key})"
            for c in ("calls", "quantity", "amount")
        )
        + " WHERE slot = 0"
    )
    op.execute("DELETE FROM usage_daily WHERE slot <> 0")
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_constraint("uq_usage_daily_rollup_key", type_="unique")
        batch_op.create_unique_constraint("uq_usage_daily_rollup_key", _OLD_KEY)
        batch_op.drop_column("slot")
