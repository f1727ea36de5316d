"""Database models.

- :class:`Base` / :class:`Credit` — the payer's ledger (the default source of totals): one row
  per credit, amounts in the token's smallest unit. Its schema is owned by the Alembic
  migrations in ``payer_sync/migrations`` (``payoutengine sync init-db``).
- :class:`StateBase` — payer sync's own small state, kept apart from the ledger in the database
  of the engine journal (by default a local SQLite file); its schema is owned by the Alembic
  migrations in ``payer_sync/state_migrations``. The chain is the truth: deleting it loses
  the list of known-invalid names, the incremental watermark and the journal of transactions
  not yet confirmed (their recipients are compared again by the next full sync).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Index, Integer, MetaData, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from payoutengine.chaintime import utcnow

__all__ = [
    "Base",
    "Credit",
    "InvalidName",
    "RecipientMark",
    "StateBase",
    "StateValue",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The ledger's declarative base."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Credit(Base):
    """One credit to a recipient. A recipient's total is the sum of its credits."""

    __tablename__ = "payer_credits"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    #: the recipient's account name; stored as given, validated when syncing
    recipient: Mapped[str] = mapped_column(String(64))
    #: in the token's smallest unit (e.g. 1.2345 TST is 12345)
    amount: Mapped[int] = mapped_column(BigInteger)
    #: naive UTC
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(), default=utcnow, server_default=func.current_timestamp()
    )
    #: memo of the outgoing payment; the newest credit's non-empty memo wins
    memo: Mapped[str | None] = mapped_column(Text())

    __table_args__ = (Index("ix_payer_credits_recipient_id", "recipient", "id"),)


class StateBase(DeclarativeBase):
    """Payer sync's local state."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class InvalidName(StateBase):
    """A recipient skipped because its name is malformed or the account does not exist."""

    __tablename__ = "sync_invalid_names"

    recipient: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text())
    #: malformed names never become valid; nonexistent accounts are asked again later
    permanent: Mapped[bool]
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime())


class RecipientMark(StateBase):
    """A recipient that still owes a booking (shortfall, failure): re-checked every
    incremental sync; ``since`` is when payer sync first saw it unbooked."""

    __tablename__ = "sync_recipient_marks"

    recipient: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime())
    pending: Mapped[bool]


class StateValue(StateBase):
    """Small key/value facts: the ledger watermark, the time of the last full scan."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text())
