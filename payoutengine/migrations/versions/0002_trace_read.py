"""transactions.trace_read: whether the payments of a transaction were read from its trace.

A transaction whose send answer was lost (the endpoint dropped the connection after the node
executed it) is found later in a block; its trace is read then. Rows journaled before this
revision count as read when their send was answered (a block number is known) or when they
are settled.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(
            sa.Column("trace_read", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        sa.text(
            "UPDATE transactions SET trace_read = :yes WHERE block_num IS NOT NULL "
            "OR status NOT IN ('signed', 'sent', 'included')"
        ).bindparams(yes=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("trace_read")
