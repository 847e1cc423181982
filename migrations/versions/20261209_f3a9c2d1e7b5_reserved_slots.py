"""A partner's reserved money per worker slot

accounts gains `slot` (0 for every existing account: a partner's existing prepaid:reserved account is
its slot 0) and its unique key becomes (owner_id, type, slot): a partner may hold one prepaid:reserved
account per gateway-worker slot (ledger/types.py RESERVED_SLOTS). grants gains `slot`, the reserved
slot holding the grant's money (0 for every existing grant, which the existing reserved account holds).
No money moves: every balance stays where it is and the audit's invariants keep holding.

Revision ID: f3a9c2d1e7b5
Revises: d8e2f0a1b3c4
Create Date: 2026-12-09 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3a9c2d1e7b5"
down_revision: str | None = "d8e2f0a1b3c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("uq_accounts_owner_id_type", type_="unique")
        batch_op.create_unique_constraint("uq_accounts_owner_id_type_slot", ["owner_id", "type", "slot"])
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    # Only possible while no partner has money on a slot other than 0 (the slots' accounts would be
    # dropped with it): move it back first.
    op.execute(
        "DELETE FROM accounts WHERE slot <> 0 AND balance = 0 AND id NOT IN (SELECT account_id FROM journal_lines)"
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_column("slot")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_accounts_owner_id_type_slot", type_="unique")
        batch_op.create_unique_constraint("uq_accounts_owner_id_type", ["owner_id", "type"])
        batch_op.drop_column("slot")
