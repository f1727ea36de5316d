"""The ledger database: creating/upgrading its schema and writing credits.

``init_db(url)`` runs the shipped Alembic migrations up to the newest revision; it is what
``payoutengine sync init-db`` does, and what ``sync once``/``run`` do on start for the ledger
source (an up-to-date schema is left alone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from payoutengine.errors import ConfigError

from .models import Credit

__all__ = ["add_credits", "init_db", "make_engine"]

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a malformed URL or a missing driver is a ConfigError."""
    try:
        return create_engine(url, future=True, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise ConfigError(
            f"The database URL {_safe_url(url)!r} cannot be used ({exc}); give an SQLAlchemy URL "
            f"such as sqlite:///ledger.sqlite or postgresql+psycopg2://user@host/db."
        ) from None


def _safe_url(url: str) -> str:
    # never show a password from the URL
    head, sep, tail = url.partition("@")
    if sep and ":" in head.split("//", 1)[-1]:
        scheme, _, cred = head.partition("//")
        return f"{scheme}//{cred.split(':', 1)[0]}:***@{tail}"
    return url


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    url = engine.url.render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def init_db(engine: Engine) -> None:
    """Create or upgrade the ledger schema to the newest revision (idempotent)."""
    cfg = alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"The ledger database {_safe_url(str(engine.url))} cannot be prepared: "
            f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}."
        ) from None


def add_credits(
    session: Session,
    credits: Iterable[tuple[str, int] | tuple[str, int, str | None]],
    *,
    created_at: dt.datetime | None = None,
) -> None:
    """Insert credits ``(recipient, amount[, memo])``; amounts are integers of smallest units."""
    rows = []
    for c in credits:
        recipient, amount = c[0], c[1]
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"credit amounts are integers of smallest units, not {amount!r}")
        row: dict[str, object] = {
            "recipient": recipient,
            "amount": amount,
            "memo": c[2] if len(c) > 2 else None,
        }
        if created_at is not None:
            row["created_at"] = created_at
        rows.append(row)
    if rows:
        session.execute(insert(Credit), rows)
