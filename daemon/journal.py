"""The daemon's journal is the engine journal (:mod:`payoutengine.journal`): the same schema,
migrations and data functions as payer sync's. Its names are re-exported here for the
daemon's modules."""

from __future__ import annotations

from payoutengine.journal import (
    EXPIRED,
    FAILED,
    IDLE,
    INCLUDED,
    IRREVERSIBLE,
    SENT,
    SIGNED,
    Journal,
    JournalTx,
    Payment,
    Poison,
    utcnow,
)

__all__ = [
    "EXPIRED",
    "FAILED",
    "IDLE",
    "INCLUDED",
    "IRREVERSIBLE",
    "SENT",
    "SIGNED",
    "Journal",
    "JournalTx",
    "Payment",
    "Poison",
    "utcnow",
]
