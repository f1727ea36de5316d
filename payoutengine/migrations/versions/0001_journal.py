"""The journal as the daemon's create_all made it: transactions, payments, poison, state.

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
        "transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tx_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("signed_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("expiration", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("block_num", sa.BigInteger(), nullable=True),
        sa.Column("search_from", sa.BigInteger(), nullable=True),
        sa.Column("cpu_usage_us", sa.Integer(), nullable=True),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("send_attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
    )
    op.create_index("ix_transactions_tx_id", "transactions", ["tx_id"], unique=True)
    op.create_index("ix_transactions_kind", "transactions", ["kind"])
    op.create_index("ix_transactions_status", "transactions", ["status"])
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tx_id", sa.String(64), nullable=False),
        sa.Column("token", sa.String(13), nullable=False),
        sa.Column("recipient", sa.String(13), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(7), nullable=False),
        sa.Column("precision", sa.Integer(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index("ix_payments_tx_id", "payments", ["tx_id"])
    op.create_index("ix_payments_recipient", "payments", ["recipient"])
    op.create_table(
        "poison",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(13), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("tx_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poison")),
    )
    op.create_index("ix_poison_account", "poison", ["account"])
    op.create_table(
        "state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_state")),
    )


def downgrade() -> None:
    op.drop_table("state")
    op.drop_index("ix_poison_account", table_name="poison")
    op.drop_table("poison")
    op.drop_index("ix_payments_recipient", table_name="payments")
    op.drop_index("ix_payments_tx_id", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_transactions_status", table_name="transactions")
    op.drop_index("ix_transactions_kind", table_name="transactions")
    op.drop_index("ix_transactions_tx_id", table_name="transactions")
    op.drop_table("transactions")
