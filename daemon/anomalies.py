"""Chain anomalies: the chain itself misbehaves. No better endpoint can fix that.

Two kinds, judged from every health check of the :class:`~daemon.health.HealthGate`:

- ``lib_stalled``: the last irreversible block has not advanced for ``[chain]
  max_lib_stall_s`` (the highest LIB any endpoint reported, so a failover to a node that
  lags does not count as progress). Producers are missing or the network is split. Blocks may
  still come, but none of them becomes final, and a fork may still drop them.
- ``head_behind``: endpoints answer, but even the freshest head block is older than ``[chain]
  max_head_age_s``. The chain stopped, or every node we know fell behind.

While either lasts, the daemon starts no new ``runpayouts`` (and a drain in progress stops
sending). The tracker keeps following what was sent, approvals go on. The start and end of each
anomaly are logged once, ``payoutengine_chain_anomaly{kind}`` is 1 while it lasts, and payouts
resume by themselves when the chain recovers. Endpoints that do not answer at all are not an
anomaly: that is the gate's ``payoutengine_chain_healthy``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from payoutengine.client import Health

from .metrics import Metrics

__all__ = ["ANOMALY_KINDS", "HEAD_BEHIND", "LIB_STALLED", "ChainAnomalies"]

log = logging.getLogger(__name__)

LIB_STALLED = "lib_stalled"
HEAD_BEHIND = "head_behind"
ANOMALY_KINDS = (LIB_STALLED, HEAD_BEHIND)


class ChainAnomalies:
    """Tracks the chain anomalies from health checks (thread-safe).

    Args:
        max_lib_stall_s: how long the last irreversible block may stand still.
        clock: monotonic seconds (the tests of pure logic give their own).
    """

    def __init__(
        self,
        *,
        max_lib_stall_s: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_lib_stall_s = max_lib_stall_s
        self.metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._lib = -1
        self._lib_since = clock()
        #: kind -> monotonic time it began
        self._active: dict[str, float] = {}
        for kind in ANOMALY_KINDS:
            metrics.chain_anomaly.labels(kind).set(0)

    def observe(self, health: Health) -> None:
        """Judge one health check. A check that no endpoint answered tells nothing."""
        if not health.chain_id:
            return
        now = self._clock()
        with self._lock:
            if health.lib_block_num > self._lib:
                self._lib, self._lib_since = health.lib_block_num, now
            stalled_s = now - self._lib_since
            lib, head = self._lib, health.head_block_num
        self._set(
            LIB_STALLED,
            stalled_s > self.max_lib_stall_s,
            now,
            "the last irreversible block has not advanced",
            {"lib": lib, "head": head, "stalled_s": round(stalled_s, 1)},
        )
        self._set(
            HEAD_BEHIND,
            not health.ok,
            now,
            "every endpoint's head block is behind the wall clock",
            {"head": head, "head_age_s": round(health.head_age_s, 1), "endpoint": health.endpoint},
        )

    def _set(self, kind: str, on: bool, now: float, what: str, extra: dict[str, object]) -> None:
        with self._lock:
            began = self._active.get(kind)
            if on == (began is not None):
                return
            if on:
                self._active[kind] = now
            else:
                del self._active[kind]
        self.metrics.chain_anomaly.labels(kind).set(1 if on else 0)
        if on:
            log.warning(f"chain anomaly: {what}; new payouts paused", extra={"kind": kind, **extra})
        else:
            assert began is not None
            log.info(
                "chain anomaly over; payouts resume",
                extra={"kind": kind, "lasted_s": round(now - began, 1), **extra},
            )

    def active(self) -> list[str]:
        """The anomalies in force now."""
        with self._lock:
            return sorted(self._active)

    def paused(self) -> bool:
        """True while new payouts must wait."""
        with self._lock:
            return bool(self._active)
