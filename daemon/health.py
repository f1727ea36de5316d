"""The health gate: which endpoint to use, and whether sending is allowed right now.

Before a job sends, it asks :meth:`HealthGate.client`. The gate checks the endpoints in the
configured order (chain id, head block freshness), at most once per ``cache_s``, and hands out a
:class:`ChainClient` whose first endpoint is the first healthy one (the client still fails over
on connection errors). While no endpoint is healthy it returns None: jobs pause, nothing exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from payoutengine.client import ChainClient, Health

from .metrics import Metrics

__all__ = ["ClientProxy", "HealthGate"]

log = logging.getLogger(__name__)


class HealthGate:
    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout_s: float,
        max_head_age_s: float,
        chain_id: str | None,
        metrics: Metrics,
        cache_s: float = 1.0,
    ) -> None:
        self.endpoints = list(endpoints)
        self.timeout_s = timeout_s
        self.max_head_age_s = max_head_age_s
        self.chain_id = chain_id or None
        self.metrics = metrics
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._current: str | None = None
        self._healthy = False
        self._clients: dict[str, ChainClient] = {}
        self._probe = ChainClient(
            self.endpoints,
            timeout=min(timeout_s, 2.0),
            max_head_age_s=max_head_age_s,
            expected_chain_id=self.chain_id,
        )
        self.last_problems: list[str] = []
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}

    def _client_for(self, first: str) -> ChainClient:
        if first not in self._clients:
            order = [first, *[e for e in self.endpoints if e != first]]
            self._clients[first] = ChainClient(
                order,
                timeout=self.timeout_s,
                max_head_age_s=self.max_head_age_s,
                expected_chain_id=self.chain_id,
            )
        return self._clients[first]

    def check(self) -> Health | None:
        """Probe the endpoints in order; the first healthy one becomes current. An endpoint that
        failed is probed again only after a back-off (doubling up to 30 s) while another one is
        healthy, so a dead preferred endpoint does not slow every check down."""
        problems: list[str] = []
        now = time.monotonic()
        with self._lock:
            serving = self._healthy
        for url in self.endpoints:
            if serving and url != self._current and self._retry_at.get(url, 0.0) > now:
                problems.append(f"{url}: skipped (failed recently)")
                continue
            h = self._probe.health(url)
            if not h.ok:
                n = self._failures.get(url, 0) + 1
                self._failures[url] = n
                self._retry_at[url] = now + min(30.0, 2.0 ** (n - 1))
            else:
                self._failures.pop(url, None)
                self._retry_at.pop(url, None)
            if h.ok:
                if self.chain_id is None:
                    # Learn the chain id once; from now on every endpoint must serve it.
                    self.chain_id = h.chain_id
                    self._probe.expected_chain_id = h.chain_id
                    for c in self._clients.values():
                        c.expected_chain_id = h.chain_id
                self._set(url, True, [])
                return h
            problems.append(f"{url}: {'; '.join(h.problems)}")
        self._set(None, False, problems)
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

    def client(self) -> ChainClient | None:
        """A client on the current healthy endpoint, or None while none is healthy."""
        with self._lock:
            fresh = time.monotonic() - self._checked_at < self.cache_s
            current, healthy = self._current, self._healthy
        if not fresh:
            self.check()
            with self._lock:
                current, healthy = self._current, self._healthy
        if not healthy or current is None:
            return None
        return self._client_for(current)

    def mark_unhealthy(self, reason: str) -> None:
        """A job saw an endpoint failure: re-check before the next send."""
        with self._lock:
            self._checked_at = 0.0
        log.warning("endpoint failure; re-checking health", extra={"error": reason})

    def current(self) -> ChainClient:
        """The client to use now: the current healthy endpoint first (or, while none is
        healthy, the configured order, so reads still fail over)."""
        with self._lock:
            current = self._current
        return self._client_for(current or self.endpoints[0])

    @property
    def healthy(self) -> bool:
        return self._healthy

    def close(self) -> None:
        self._probe.close()
        for c in self._clients.values():
            c.close()


class ClientProxy:
    """Forwards every call to the gate's current client, so long-lived objects (the sender,
    the contract view) follow endpoint switches."""

    def __init__(self, gate: HealthGate) -> None:
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gate.current(), name)
