"""The health gate: whether the daemon may send right now.

Before a job sends, it asks :meth:`HealthGate.client`. The gate asks the daemon's one
:class:`ChainClient` for its health at most once per ``cache_s``; the client itself picks the
endpoint (the first healthy one, see :mod:`payoutengine.client`). While no endpoint is healthy
the gate returns None: jobs pause, nothing exits. Every read and every transaction goes through
that same client, so a transaction is always sent by the client that built it.

Every check also feeds the :class:`~daemon.anomalies.ChainAnomalies`: while the chain shows
one, :meth:`HealthGate.payouts_paused` is True and no new payout starts.
:meth:`HealthGate.answering` tells the tracker whether any endpoint answers at all (a stale
answer is good enough to follow transactions).
"""

from __future__ import annotations

import logging
import threading
import time

from payoutengine.client import ChainClient, Health

from .anomalies import ChainAnomalies
from .metrics import Metrics

__all__ = ["HealthGate"]

log = logging.getLogger(__name__)


class HealthGate:
    def __init__(
        self,
        client: ChainClient,
        *,
        metrics: Metrics,
        anomalies: ChainAnomalies | None = None,
        cache_s: float = 1.0,
    ) -> None:
        self._client = client
        self.metrics = metrics
        self.anomalies = anomalies
        self._answering = False
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._current: str | None = None
        self._healthy = False
        self.last_problems: list[str] = []

    def check(self) -> Health | None:
        """Ask the client for its health; the endpoint it answers from becomes current."""
        h = self._client.health()
        if self.anomalies is not None:
            self.anomalies.observe(h)
        self._answering = bool(h.chain_id)
        if h.ok:
            self._set(h.endpoint, True, [])
            return h
        self._set(None, False, list(h.problems))
        return None

    def _set(self, url: str | None, healthy: bool, problems: list[str]) -> None:
        with self._lock:
            changed = healthy != self._healthy or url != self._current
            self._healthy, self._current, self.last_problems = healthy, url, problems
            self._checked_at = time.monotonic()
        self.metrics.healthy.set(1 if healthy else 0)
        if changed:
            if healthy:
                log.info("chain endpoint healthy; sending", extra={"endpoint": url})
            else:
                log.warning(
                    "no healthy chain endpoint; sending paused",
                    extra={"problems": problems},
                )

    def _refresh(self) -> None:
        with self._lock:
            fresh = time.monotonic() - self._checked_at < self.cache_s
        if not fresh:
            self.check()

    def client(self) -> ChainClient | None:
        """The client, or None while no endpoint is healthy."""
        self._refresh()
        with self._lock:
            healthy = self._healthy
        return self._client if healthy else None

    def payouts_paused(self) -> bool:
        """True while a chain anomaly holds new payouts back."""
        self._refresh()
        return self.anomalies is not None and self.anomalies.paused()

    def answering(self) -> bool:
        """True when the last check got an answer from some endpoint, fresh or stale."""
        self._refresh()
        with self._lock:
            return self._answering

    def mark_unhealthy(self, reason: str) -> None:
        """A job saw an endpoint failure: re-check before the next send."""
        with self._lock:
            self._checked_at = 0.0
        log.warning("endpoint failure; re-checking health", extra={"error": reason})
