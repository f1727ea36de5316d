"""Payer sync: the payer's own database → exact, crash-safe bookings on chain.

``payoutengine sync once|run|init-db`` (see :mod:`payer_sync.cli`).
"""

from __future__ import annotations

from .config import RedisConfig, SyncConfig, load_config
from .engine import Syncer
from .ledger import add_credits, init_db, make_engine
from .models import Base, Credit
from .plan import Discrepancy, Increase, Piece, SourceTotal, allocate, diff, make_batches
from .redis_source import LoginMap, RedisSource
from .report import Failure, SyncReport
from .sources import LedgerSource, QuerySource, RejectedRow
from .values import RowRejected, total_to_units

__all__ = [
    "Base",
    "Credit",
    "Discrepancy",
    "Failure",
    "Increase",
    "LedgerSource",
    "Piece",
    "QuerySource",
    "LoginMap",
    "RedisConfig",
    "RedisSource",
    "RejectedRow",
    "RowRejected",
    "SourceTotal",
    "SyncConfig",
    "SyncReport",
    "Syncer",
    "add_credits",
    "allocate",
    "diff",
    "init_db",
    "load_config",
    "make_batches",
    "make_engine",
    "total_to_units",
]
