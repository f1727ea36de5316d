"""What keeps the sponsor from being drained: counts per window (per recipient account, per
client address) and a daily CPU budget.

The counts live in memory (a restart forgives them: they protect against bursts); the CPU
spent per UTC day is persisted in the web journal's state table, so a restart does not reset
the budget.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..journal import Journal

__all__ = ["CpuBudget", "SlidingWindow", "utc_day"]

_STATE_PREFIX = "web.sponsor_cpu_us."


def utc_day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d")


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def hit(self, key: str) -> float | None:
        """Count one event for ``key``; None when allowed, else the seconds until the next
        event would be (the refused event is not counted)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_sweep > self.window_s:
                self._sweep(now)
            events = self._events.setdefault(key, deque())
            while events and now - events[0] >= self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return max(0.0, self.window_s - (now - events[0]))
            events.append(now)
            return None

    def _sweep(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or now - ev[-1] >= self.window_s]:
            del self._events[key]
        self._last_sweep = now


@dataclass(frozen=True)
class BudgetState:
    day: str
    spent_us: int
    limit_us: int

    @property
    def left_us(self) -> int:
        return max(0, self.limit_us - self.spent_us)

    @property
    def exhausted(self) -> bool:
        return self.spent_us >= self.limit_us


class CpuBudget:
    """CPU (µs) the sponsor may spend on claims per UTC day, persisted in ``journal``."""

    def __init__(self, journal: Journal, limit_us: int) -> None:
        self.journal = journal
        self.limit_us = limit_us
        self._lock = threading.Lock()

    def state(self) -> BudgetState:
        day = utc_day()
        with self.journal.session() as s:
            raw = Journal.get_state(s, _STATE_PREFIX + day)
        return BudgetState(day, int(raw) if raw else 0, self.limit_us)

    def spend(self, cpu_us: int) -> BudgetState:
        """Add ``cpu_us`` to today's total (read and written in one database transaction)."""
        day = utc_day()
        with self._lock, self.journal.session() as s:
            raw = Journal.get_state(s, _STATE_PREFIX + day)
            spent = (int(raw) if raw else 0) + max(0, cpu_us)
            Journal.set_state(s, _STATE_PREFIX + day, str(spent))
        return BudgetState(day, spent, self.limit_us)
