"""Payer sync's state as create_all made it: invalid names, marks, values, its own journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_invalid_names",
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("recipient", name=op.f("pk_sync_invalid_names")),
    )
    op.create_table(
        "sync_journal",
        sa.Column("tx_id", sa.String(64), nullable=False),
        sa.Column("signed", sa.Text(), nullable=False),
        sa.Column("expiration", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("block_num", sa.BigInteger(), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tx_id", name=op.f("pk_sync_journal")),
    )
    op.create_table(
        "sync_recipient_marks",
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("recipient", name=op.f("pk_sync_recipient_marks")),
    )
    op.create_table(
        "sync_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_table("sync_recipient_marks")
    op.drop_table("sync_journal")
    op.drop_table("sync_invalid_names")
