"""The engine journal: every transaction the daemon or payer sync signs is written here *before*
it is sent, then followed until it is irreversible, rejected, or expired.

Status of a journaled transaction::

    signed ──send ok──▶ sent ──seen in a block──▶ included ──LIB passes it──▶ irreversible
      │                  │                          │
      │                  └──────────────┬───────────┘ (forked out / never included)
      │                                 ▼
      ├──rejected by the chain──▶ failed (or idle)  expired (past its expiration, in no block)
      └──send outcome unknown: stays ``signed``; the tracker re-sends the identical bytes
         (a duplicate is harmless) until the transaction is seen or has expired.

An expired transaction is never re-signed here: the program that signed it re-reads chain
state and decides what to send again.

The schema belongs to the Alembic migrations in ``payoutengine/migrations`` (version table
``payoutengine_journal_version``); :func:`open_journal` applies them. A database made by
``create_all`` before the migrations existed is recognised and stamped at the revision it
matches, then upgraded.

Data functions are static methods of :class:`Journal` that take a session; the caller owns
``with journal.session() as s:``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    MetaData,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .chaintime import naive_utc, utcnow
from .errors import ConfigError

__all__ = [
    "ALL_STATUSES",
    "EXPIRED",
    "FAILED",
    "FINAL_STATUSES",
    "IDLE",
    "INCLUDED",
    "IRREVERSIBLE",
    "OPEN_STATUSES",
    "SENT",
    "SIGNED",
    "Journal",
    "JournalBase",
    "JournalTx",
    "Payment",
    "Poison",
    "StateValue",
    "migrate",
    "run_migrations_env",
    "upgrade_schema",
    "upsert",
    "utcnow",
]

log = logging.getLogger(__name__)

SIGNED = "signed"
SENT = "sent"
INCLUDED = "included"
IRREVERSIBLE = "irreversible"
FAILED = "failed"
#: refused by the chain as the normal end of the work (e.g. "nothing to pay"): not a fault
IDLE = "idle"
EXPIRED = "expired"
ALL_STATUSES = (SIGNED, SENT, INCLUDED, IRREVERSIBLE, IDLE, FAILED, EXPIRED)
OPEN_STATUSES = (SIGNED, SENT, INCLUDED)
FINAL_STATUSES = (IRREVERSIBLE, IDLE, FAILED, EXPIRED)

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "payoutengine_journal_version"
#: the revision whose tables ``create_all`` made before the migrations existed
LEGACY_REVISION = "0001"


class JournalBase(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class JournalTx(JournalBase):
    """One signed transaction."""

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tx_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    #: what it does, e.g. runpayouts, approveacc, unapproveacc, bookm.
    kind: Mapped[str] = mapped_column(String(16), index=True)
    #: the signer's own note as JSON (the action data, or the recipients of a booking).
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
    #: the transaction's trace was read (from the send's answer or, when that answer was
    #: lost, from the chain once the transaction was found in a block).
    trace_read: Mapped[bool] = mapped_column(Boolean, default=False)


class Payment(JournalBase):
    """One transfer a transaction made (from its trace)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tx_id: Mapped[str] = mapped_column(String(64), index=True)
    token: Mapped[str] = mapped_column(String(13))
    recipient: Mapped[str] = mapped_column(String(13), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(7))
    precision: Mapped[int] = mapped_column(Integer)
    memo: Mapped[str] = mapped_column(Text)


class Poison(JournalBase):
    """A recipient whose contract rejected a payment; it was unapproved."""

    __tablename__ = "poison"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(13), index=True)
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime)
    tx_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class StateValue(JournalBase):
    """Small state that survives restarts (the last successful payout, a watermark)."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# -- schema ------------------------------------------------------------------------------------


@contextmanager
def quiet_alembic() -> Iterator[None]:
    """Alembic logs every start at INFO; the caller logs what changed instead."""
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def upgrade_schema(
    conn: Connection,
    *,
    migrations: Path,
    version_table: str,
    legacy_tables: Collection[str],
    legacy_revision: str,
) -> None:
    """Run the Alembic migrations in ``migrations`` on ``conn`` up to the newest revision.
    A database that has none of its version table but one of ``legacy_tables`` was made by
    ``create_all`` before the migrations existed: it is stamped at ``legacy_revision`` first."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations))
    cfg.attributes["connection"] = conn
    tables = set(inspect(conn).get_table_names())
    with quiet_alembic():
        if version_table not in tables and tables & set(legacy_tables):
            command.stamp(cfg, legacy_revision)
        before = _revision(conn, version_table)
        command.upgrade(cfg, "head")
        after = _revision(conn, version_table)
    if before != after:
        log.info(
            "database schema upgraded",
            extra={"schema": version_table, "from": before or "empty", "to": after},
        )


def run_migrations_env(target_metadata: MetaData, version_table: str) -> None:
    """The body of a migration history's ``env.py``: run it on the connection that
    :func:`upgrade_schema` passes in (there is no other way to run these migrations)."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(f"the {version_table} migrations run through upgrade_schema()")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _revision(conn: Connection, version_table: str) -> str | None:
    return MigrationContext.configure(
        conn, opts={"version_table": version_table}
    ).get_current_revision()


def migrate(conn: Connection) -> None:
    """Bring the journal tables on ``conn`` to the newest revision."""
    upgrade_schema(
        conn,
        migrations=MIGRATIONS,
        version_table=VERSION_TABLE,
        legacy_tables={"transactions"},
        legacy_revision=LEGACY_REVISION,
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL + synchronous=FULL: a committed journal row survives SIGKILL and power loss.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(an unparsable URL)"


def open_engine(url: str) -> Engine:
    """An engine for a journal database, migrated to the newest revision. A URL that cannot
    be used raises ConfigError with one sentence."""
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise ConfigError(f"The journal URL {_safe_url(url)!r} is not usable: {e}.") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as conn:
            migrate(conn)
    except SQLAlchemyError as e:
        engine.dispose()
        raise ConfigError(
            f"The journal database {_safe_url(url)!r} cannot be opened: "
            f"{e.__class__.__name__}: {str(e).splitlines()[0]}."
        ) from None
    return engine


# -- data --------------------------------------------------------------------------------------


class Journal:
    """The journal database: its engine, a session factory, and the data functions."""

    def __init__(self, url: str) -> None:
        self.engine = open_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One short database transaction: committed on success, rolled back on error."""
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
            trace_read=False,
        )
        s.add(row)
        return row

    @staticmethod
    def get(s: Session, tx_id: str) -> JournalTx | None:
        return s.scalars(select(JournalTx).where(JournalTx.tx_id == tx_id)).first()

    @staticmethod
    def open_transactions(s: Session, *, kinds: Sequence[str] | None = None) -> Sequence[JournalTx]:
        query = select(JournalTx).where(JournalTx.status.in_(OPEN_STATUSES))
        if kinds is not None:
            query = query.where(JournalTx.kind.in_(list(kinds)))
        return s.scalars(query.order_by(JournalTx.id)).all()

    @staticmethod
    def statuses(s: Session, tx_ids: Sequence[str]) -> dict[str, str]:
        rows = s.execute(
            select(JournalTx.tx_id, JournalTx.status).where(JournalTx.tx_id.in_(list(tx_ids)))
        ).all()
        return {str(t): str(st) for t, st in rows}

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

    @staticmethod
    def payments_of(s: Session, tx_id: str) -> list[dict[str, Any]]:
        """The payments journaled for ``tx_id``, in the order they were made."""
        rows = s.scalars(select(Payment).where(Payment.tx_id == tx_id).order_by(Payment.id))
        return [
            {
                "token": p.token,
                "recipient": p.recipient,
                "amount": p.amount,
                "symbol": p.symbol,
                "precision": p.precision,
                "memo": p.memo,
            }
            for p in rows
        ]

    @staticmethod
    def replace_payments(s: Session, tx_id: str, payments: Sequence[dict[str, Any]]) -> None:
        s.execute(delete(Payment).where(Payment.tx_id == tx_id))
        Journal.add_payments(s, tx_id, payments)

    # -- poison and state ---------------------------------------------------------------------

    @staticmethod
    def add_poison(s: Session, account: str, *, tx_id: str | None, reason: str) -> None:
        s.add(Poison(account=account, detected_at=utcnow(), tx_id=tx_id, reason=reason))

    @staticmethod
    def poison_list(s: Session) -> Sequence[Poison]:
        return s.scalars(select(Poison).order_by(Poison.id)).all()

    @staticmethod
    def get_state(s: Session, key: str) -> str | None:
        row = s.get(StateValue, key)
        return row.value if row else None

    @staticmethod
    def set_state(s: Session, key: str, value: str) -> None:
        upsert(s, StateValue, {"key": key, "value": value}, key="key")


def upsert(s: Session, model: type[DeclarativeBase], values: dict[str, Any], *, key: str) -> None:
    """Insert a row or replace the one with the same primary key ``key``, in one statement,
    so that concurrent writers of the same key do not collide."""
    dialect = s.get_bind().dialect.name
    changes = {k: v for k, v in values.items() if k != key}
    if dialect == "postgresql":
        pg = postgresql.insert(model).values(**values)
        s.execute(pg.on_conflict_do_update(index_elements=[key], set_=changes))
    elif dialect == "sqlite":
        lite = sqlite.insert(model).values(**values)
        s.execute(lite.on_conflict_do_update(index_elements=[key], set_=changes))
    else:
        s.merge(model(**values))
