"""Payer sync's local state (see :class:`payer_sync.models.StateBase`): invalid names, the
journal of signed transactions, recipients still owed a booking, and small values such as the
ledger watermark. Data functions take a session; the caller owns the transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from payoutengine.chaintime import naive_utc, utcnow
from payoutengine.transactions import SignedTransaction

from .models import InvalidName, JournalEntry, RecipientMark, StateBase, StateValue

__all__ = ["StateStore", "utcnow"]


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        StateBase.metadata.create_all(engine)
        self.Session = sessionmaker(engine, expire_on_commit=False)

    # -- small values -------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        with self.Session() as s:
            row = s.get(StateValue, key)
            return row.value if row else None

    def put(self, key: str, value: str) -> None:
        with self.Session.begin() as s:
            s.merge(StateValue(key=key, value=value))

    # -- invalid names ------------------------------------------------------------------
    def invalid_names(self, *, recheck_after_s: float) -> dict[str, str]:
        """Names to skip now: malformed ones forever, nonexistent accounts until
        ``recheck_after_s`` has passed since they were checked."""
        now = utcnow()
        with self.Session() as s:
            return {
                r.recipient: r.reason
                for r in s.scalars(select(InvalidName))
                if r.permanent or (now - r.checked_at).total_seconds() < recheck_after_s
            }

    def mark_invalid(self, names: dict[str, str], *, permanent: bool) -> None:
        if not names:
            return
        now = utcnow()
        with self.Session.begin() as s:
            for name, reason in names.items():
                s.merge(
                    InvalidName(recipient=name, reason=reason, permanent=permanent, checked_at=now)
                )

    def clear_invalid(self, names: Collection[str]) -> None:
        if names:
            with self.Session.begin() as s:
                s.execute(delete(InvalidName).where(InvalidName.recipient.in_(list(names))))

    # -- journal ------------------------------------------------------------------------
    def journal_add(self, trx: SignedTransaction, recipients: Iterable[str]) -> None:
        with self.Session.begin() as s:
            s.add(
                JournalEntry(
                    tx_id=trx.id,
                    signed=json.dumps(trx.to_json()),
                    expiration=naive_utc(trx.expiration),
                    status="signed",
                    block_num=None,
                    recipients=",".join(recipients),
                )
            )

    def journal_sent(self, tx_id: str, block_num: int | None) -> None:
        with self.Session.begin() as s:
            row = s.get(JournalEntry, tx_id)
            if row is not None:
                row.status = "sent"
                row.block_num = block_num

    def journal_remove(self, tx_ids: Collection[str]) -> None:
        if tx_ids:
            with self.Session.begin() as s:
                s.execute(delete(JournalEntry).where(JournalEntry.tx_id.in_(list(tx_ids))))

    def journal(self) -> list[JournalEntry]:
        with self.Session() as s:
            return list(s.scalars(select(JournalEntry).order_by(JournalEntry.expiration)))

    # -- recipients still owed a booking ------------------------------------------------
    def marks(self) -> dict[str, dt.datetime]:
        with self.Session() as s:
            return {r.recipient: r.since for r in s.scalars(select(RecipientMark))}

    def set_marks(self, pending: Collection[str], done: Collection[str]) -> None:
        """Remember ``pending`` recipients (keeping the time each was first seen) and forget
        ``done`` ones."""
        now = utcnow()
        with self.Session.begin() as s:
            if done:
                for i in range(0, len(done), 500):
                    part = list(done)[i : i + 500]
                    s.execute(delete(RecipientMark).where(RecipientMark.recipient.in_(part)))
            known = {r.recipient for r in s.scalars(select(RecipientMark))}
            for name in pending:
                if name not in known:
                    s.add(RecipientMark(recipient=name, since=now, pending=True))

    def session(self) -> Session:
        return self.Session()
