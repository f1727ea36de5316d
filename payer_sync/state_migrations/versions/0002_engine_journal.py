"""Bookings are journaled in the engine journal: open sync_journal entries move there.

An entry keeps its signed bytes, expiration, status and block; the recipients it booked become
its data. The tracker follows it from there (re-sending it, or finding it in a block).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BOOKING_KIND = "bookm"


def upgrade() -> None:
    conn = op.get_bind()
    entries = conn.execute(
        sa.text("SELECT tx_id, signed, expiration, status, block_num, recipients FROM sync_journal")
    ).all()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    transactions = sa.table(
        "transactions",
        *(
            sa.column(c)
            for c in (
                "tx_id kind data signed_json status created_at updated_at expiration block_num "
                "payments send_attempts trace_read"
            ).split()
        ),
    )
    for tx_id, signed, expiration, status, block_num, recipients in entries:
        names = [n for n in str(recipients).split(",") if n]
        conn.execute(
            transactions.insert().values(
                tx_id=tx_id,
                kind=BOOKING_KIND,
                data=json.dumps({"recipients": names}),
                signed_json=signed,
                status="sent" if status == "sent" else "signed",
                created_at=now,
                updated_at=now,
                expiration=expiration,
                block_num=block_num,
                payments=0,
                send_attempts=0,
                trace_read=True,
            )
        )
    op.drop_table("sync_journal")


def downgrade() -> None:
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
