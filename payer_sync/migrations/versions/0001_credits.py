"""The ledger: one row per credit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
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
        "payer_credits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payer_credits")),
    )
    op.create_index("ix_payer_credits_recipient_id", "payer_credits", ["recipient", "id"])


def downgrade() -> None:
    op.drop_index("ix_payer_credits_recipient_id", table_name="payer_credits")
    op.drop_table("payer_credits")
