"""The payoutengine admin daemon (``payoutengine admin``): approvals, round-robin payouts,
poison-recipient isolation, and a transaction journal followed to irreversibility.

Modules: ``config`` (TOML + environment), ``journal`` (SQLAlchemy), ``contract`` (table reads,
trace parsing), ``sender`` (sign, journal, send, track), ``health`` (endpoint gate),
``payouts``/``approvals``/``poison`` (the jobs), ``metrics`` (Prometheus), ``service`` (the
daemon), ``status`` and ``cli`` (the commands). It imports ``payoutengine``, never
``payer_sync``.
"""

from __future__ import annotations

from .config import Config, load_config
from .service import AdminDaemon

__all__ = ["AdminDaemon", "Config", "load_config"]
