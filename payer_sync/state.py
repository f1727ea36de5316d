"""Payer sync's local state (see :class:`payer_sync.models.StateBase`): invalid names,
recipients still owed a booking, and small values such as the ledger watermark. It lives in
the database of the engine journal (``[state] url``); its schema is owned by the Alembic
migrations in ``payer_sync/state_migrations``, applied by :func:`open_state` after the
journal's own.

Data functions take a session; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from payoutengine.errors import ConfigError
from payoutengine.journal import Journal, upgrade_schema, upsert, utcnow

from .models import InvalidName, RecipientMark, StateValue

__all__ = [
    "clear_invalid",
    "get_value",
    "invalid_names",
    "mark_invalid",
    "marks",
    "open_state",
    "put_value",
    "set_marks",
]

MIGRATIONS = Path(__file__).with_name("state_migrations")
VERSION_TABLE = "payer_sync_state_version"
#: the revision whose tables create_all made before the migrations existed
LEGACY_REVISION = "0001"
LEGACY_TABLES = {"sync_state", "sync_journal", "sync_invalid_names", "sync_recipient_marks"}


def open_state(url: str) -> Journal:
    """The engine journal at ``url`` with payer sync's state tables, both migrated to their
    newest revision (a state database of an earlier version is stamped, then upgraded)."""
    journal = Journal(url)
    try:
        with journal.engine.begin() as conn:
            upgrade_schema(
                conn,
                migrations=MIGRATIONS,
                version_table=VERSION_TABLE,
                legacy_tables=LEGACY_TABLES,
                legacy_revision=LEGACY_REVISION,
            )
    except SQLAlchemyError as e:
        journal.close()
        raise ConfigError(
            f"The state database cannot be prepared: {e.__class__.__name__}: "
            f"{str(e).splitlines()[0]}."
        ) from None
    return journal


# -- small values -------------------------------------------------------------------------------
def get_value(s: Session, key: str) -> str | None:
    row = s.get(StateValue, key)
    return row.value if row else None


def put_value(s: Session, key: str, value: str) -> None:
    upsert(s, StateValue, {"key": key, "value": value}, key="key")


# -- invalid names ------------------------------------------------------------------------------
def invalid_names(s: Session, *, recheck_after_s: float) -> dict[str, str]:
    """Names to skip now: malformed ones forever, nonexistent accounts until
    ``recheck_after_s`` has passed since they were checked."""
    now = utcnow()
    return {
        r.recipient: r.reason
        for r in s.scalars(select(InvalidName))
        if r.permanent or (now - r.checked_at).total_seconds() < recheck_after_s
    }


def mark_invalid(s: Session, names: dict[str, str], *, permanent: bool) -> None:
    now = utcnow()
    for name, reason in names.items():
        s.merge(InvalidName(recipient=name, reason=reason, permanent=permanent, checked_at=now))


def clear_invalid(s: Session, names: Collection[str]) -> None:
    if names:
        s.execute(delete(InvalidName).where(InvalidName.recipient.in_(list(names))))


# -- recipients still owed a booking ------------------------------------------------------------
def marks(s: Session) -> dict[str, dt.datetime]:
    return {r.recipient: r.since for r in s.scalars(select(RecipientMark))}


def set_marks(s: Session, pending: Collection[str], done: Collection[str]) -> None:
    """Remember ``pending`` recipients (keeping the time each was first seen) and forget
    ``done`` ones."""
    now = utcnow()
    gone = list(done)
    for i in range(0, len(gone), 500):
        s.execute(delete(RecipientMark).where(RecipientMark.recipient.in_(gone[i : i + 500])))
    known = {r.recipient for r in s.scalars(select(RecipientMark))}
    for name in pending:
        if name not in known:
            s.add(RecipientMark(recipient=name, since=now, pending=True))
