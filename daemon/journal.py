"""The transaction journal: every transaction the daemon signs is written here *before* it is
sent, then followed until it is irreversible, rejected, or expired.

Status of a journaled transaction::

    signed ──send ok──▶ sent ──seen in a block──▶ included ──LIB passes it──▶ irreversible
      │                  │                          │
      │                  └──────────────┬───────────┘ (forked out / never included)
      │                                 ▼
      ├──rejected by the chain──▶ failed         expired (past its expiration, not in a block)
      └──send outcome unknown: stays ``signed``; the tracker re-sends the identical bytes
         (a duplicate is harmless) until the transaction is seen or has expired.

An expired transaction is never re-signed: the payouts job re-reads chain state and sends a new
``runpayouts`` only if something is still due (the contract makes a repeat payment impossible).

Data functions take a session; the caller owns ``with journal.session() as s:``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    String,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from payoutengine.chaintime import naive_utc, utcnow
from payoutengine.errors import ConfigError

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "Base",
    "Journal",
    "JournalTx",
    "Payment",
    "Poison",
]

SIGNED = "signed"
SENT = "sent"
INCLUDED = "included"
IRREVERSIBLE = "irreversible"
FAILED = "failed"
#: a runpayouts the contract refused with "nothing to pay": the normal end of a run, not a fault
IDLE = "idle"
EXPIRED = "expired"
ALL_STATUSES = (SIGNED, SENT, INCLUDED, IRREVERSIBLE, IDLE, FAILED, EXPIRED)
OPEN_STATUSES = (SIGNED, SENT, INCLUDED)
FINAL_STATUSES = (IRREVERSIBLE, IDLE, FAILED, EXPIRED)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class JournalTx(Base):
    """One signed transaction."""

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tx_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    #: the action: runpayouts, approveacc or unapproveacc.
    kind: Mapped[str] = mapped_column(String(16), index=True)
    #: the action data as JSON (count, or the list of accounts).
    data: Mapped[str] = mapped_column(Text)
    #: the signed transaction (SignedTransaction.to_json()), re-sent byte for byte.
    signed_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expiration: Mapped[dt.datetime] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: block the node executed it in (from the trace), then the block it was found in.
    block_num: Mapped[int | None] = mapped_column(BigInteger)
    #: head block when it was signed: where a search for it starts when nothing else is known.
    search_from: Mapped[int | None] = mapped_column(BigInteger)
    cpu_usage_us: Mapped[int | None] = mapped_column(Integer)
    #: payments made (inline transfers seen in the trace).
    payments: Mapped[int] = mapped_column(Integer, default=0)
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Payment(Base):
    """One transfer a runpayouts transaction made (from its trace)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tx_id: Mapped[str] = mapped_column(String(64), index=True)
    token: Mapped[str] = mapped_column(String(13))
    recipient: Mapped[str] = mapped_column(String(13), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(7))
    precision: Mapped[int] = mapped_column(Integer)
    memo: Mapped[str] = mapped_column(Text)


class Poison(Base):
    """A recipient whose contract rejected a payment; it was unapproved."""

    __tablename__ = "poison"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(13), index=True)
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime)
    tx_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class KV(Base):
    """Small daemon state that survives restarts (e.g. the last successful payout)."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Journal:
    """The journal database: engine, sessions and the data functions the daemon uses."""

    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url, future=True)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise ConfigError(f"The journal URL {url!r} is not usable: {e}.") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as e:
            raise ConfigError(
                f"The journal database {url!r} cannot be opened: {e.__class__.__name__}: "
                f"{str(e).splitlines()[0]}."
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------

    @staticmethod
    def record_signed(
        s: Session,
        *,
        tx_id: str,
        kind: str,
        data: Any,
        signed_json: str,
        expiration: dt.datetime,
        search_from: int | None = None,
    ) -> JournalTx:
        now = utcnow()
        row = JournalTx(
            tx_id=tx_id,
            kind=kind,
            data=json.dumps(data, sort_keys=True),
            signed_json=signed_json,
            status=SIGNED,
            created_at=now,
            updated_at=now,
            expiration=naive_utc(expiration),
            search_from=search_from,
            payments=0,
            send_attempts=0,
        )
        s.add(row)
        return row

    @staticmethod
    def get(s: Session, tx_id: str) -> JournalTx | None:
        return s.scalars(select(JournalTx).where(JournalTx.tx_id == tx_id)).first()

    @staticmethod
    def open_transactions(s: Session) -> Sequence[JournalTx]:
        return s.scalars(
            select(JournalTx).where(JournalTx.status.in_(OPEN_STATUSES)).order_by(JournalTx.id)
        ).all()

    @staticmethod
    def set_status(s: Session, row: JournalTx, status: str, **fields: Any) -> None:
        row.status = status
        row.updated_at = utcnow()
        for k, v in fields.items():
            setattr(row, k, v)

    @staticmethod
    def count_by_status(s: Session) -> dict[str, int]:
        rows = s.execute(select(JournalTx.status, func.count()).group_by(JournalTx.status)).all()
        counts = {st: 0 for st in ALL_STATUSES}
        counts.update({st: int(n) for st, n in rows})
        return counts

    @staticmethod
    def add_payments(s: Session, tx_id: str, payments: Sequence[dict[str, Any]]) -> None:
        if payments:
            # One executemany through Core: hundreds of rows per transaction.
            s.execute(insert(Payment), [{"tx_id": tx_id, **p} for p in payments])

    # -- poison and state ---------------------------------------------------------------------

    @staticmethod
    def add_poison(s: Session, account: str, *, tx_id: str | None, reason: str) -> None:
        s.add(Poison(account=account, detected_at=utcnow(), tx_id=tx_id, reason=reason))

    @staticmethod
    def poison_list(s: Session) -> Sequence[Poison]:
        return s.scalars(select(Poison).order_by(Poison.id)).all()

    @staticmethod
    def get_state(s: Session, key: str) -> str | None:
        row = s.get(KV, key)
        return row.value if row else None

    @staticmethod
    def set_state(s: Session, key: str, value: str) -> None:
        row = s.get(KV, key)
        if row is None:
            s.add(KV(key=key, value=value))
        else:
            row.value = value


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL + synchronous=FULL: a committed journal row survives SIGKILL and power loss.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
