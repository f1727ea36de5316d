"""The payouts job: ``runpayouts(count)`` until the contract has nothing payable.

Each run polls ``settings.revision`` and the ``active`` table (two cheap reads). When something
is due and the state moved since the contract last answered "nothing to pay" (or
``idle_recheck_s`` passed — a recipient may have opened a balance row, which does not move the
revision), it sends ``runpayouts`` transactions back to back without waiting for blocks, up to
``max_in_flight`` not yet in a block. ``count`` adapts: halved after a CPU/deadline failure,
grown by a quarter after a transaction that used all of it, within ``min_count..max_count``.
A transaction that fails because a recipient rejects the transfer goes to the poison handler,
and the run carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from payoutengine.errors import EndpointError, TransactionError

from .config import PayoutsConfig
from .contract import NOTHING_TO_PAY, ContractView
from .health import HealthGate
from .metrics import Metrics
from .poison import PoisonHandler
from .sender import Sender

__all__ = ["PayoutsJob"]

log = logging.getLogger(__name__)

#: successive transactions that paid nobody (the contract only advanced its cursors past
#: unpayable dues) before the run yields until the next poll.
MAX_ZERO_STREAK = 20
#: how long a get_info answer is reused to build transactions, seconds.
INFO_REUSE_S = 0.5


class PayoutsJob:
    def __init__(
        self,
        cfg: PayoutsConfig,
        *,
        gate: HealthGate,
        view: ContractView,
        sender: Sender,
        poison: PoisonHandler,
        metrics: Metrics,
        stop: threading.Event,
    ) -> None:
        self.cfg = cfg
        self.gate = gate
        self.view = view
        self.sender = sender
        self.poison = poison
        self.metrics = metrics
        self.stop = stop
        self.count = cfg.start_count
        self.metrics.count.set(self.count)
        self._idle_revision: int | None = None
        self._idle_at = 0.0
        self.runs = 0

    # -- count adaptation ---------------------------------------------------------------------

    def _shrink(self) -> None:
        self.count = max(self.cfg.min_count, self.count // 2)
        self.metrics.count.set(self.count)

    def _grow(self) -> None:
        self.count = min(self.cfg.max_count, self.count + max(1, self.count // 4))
        self.metrics.count.set(self.count)

    # -- the job ------------------------------------------------------------------------------

    def run(self) -> None:
        if self.stop.is_set() or self.gate.client() is None:
            return
        try:
            settings = self.view.settings()
            if settings is None:
                log.warning("the contract has no settings row yet; nothing to do")
                return
            if not self.view.has_active():
                self._idle_revision, self._idle_at = settings.revision, time.monotonic()
                return
            if (
                settings.revision == self._idle_revision
                and time.monotonic() - self._idle_at < self.cfg.idle_recheck_s
            ):
                return
            self.runs += 1
            self._drain()
        except EndpointError as e:
            self.gate.mark_unhealthy(str(e))

    def _drain(self) -> None:
        client = self.view.client
        info: dict[str, Any] = client.get_info()
        info_at = time.monotonic()
        in_flight: deque[int] = deque()
        zero_streak = 0
        cpu_failures_at_min = 0
        while not self.stop.is_set():
            if time.monotonic() - info_at > INFO_REUSE_S:
                if self.gate.client() is None:
                    return  # unhealthy: pause sending until the gate says otherwise
                info, info_at = client.get_info(), time.monotonic()
            head = int(info["head_block_num"])
            while in_flight and in_flight[0] <= head:
                in_flight.popleft()
            if len(in_flight) >= self.cfg.max_in_flight:
                time.sleep(0.05)
                info_at = 0.0  # refresh the head
                continue
            count = self.count
            try:
                res = self.sender.send("runpayouts", {"count": count}, info=info)
            except TransactionError as e:
                if e.message == NOTHING_TO_PAY:
                    self.metrics.tx_failures.labels("nothing_to_pay").inc()
                    after = self.view.settings()
                    self._idle_revision = after.revision if after else None
                    self._idle_at = time.monotonic()
                    log.debug("nothing payable", extra={"revision": self._idle_revision})
                    return
                if e.expired:
                    self.metrics.tx_failures.labels("expired").inc()
                    info_at = 0.0
                    continue
                if e.cpu_exceeded:
                    self.metrics.tx_failures.labels("cpu").inc()
                    if count > self.cfg.min_count:
                        self._shrink()
                        log.info(
                            "runpayouts ran out of CPU; shrinking count",
                            extra={"count": self.count, "error": e.message},
                        )
                        continue
                    cpu_failures_at_min += 1
                    if self.poison.handle(e):
                        continue
                    if cpu_failures_at_min >= 3:
                        log.warning(
                            "runpayouts fails for CPU even at min_count; the admin account may "
                            "need more CPU",
                            extra={"count": count, "error": e.message},
                        )
                        return
                    time.sleep(0.5)
                    continue
                # A payment rejected by its recipient (or something else entirely).
                if self.poison.handle(e):
                    self.metrics.tx_failures.labels("poison").inc()
                    continue
                self.metrics.tx_failures.labels("other").inc()
                log.error("runpayouts was rejected", extra={"error": e.message, "tx_id": e.tx_id})
                return
            paid = len(res.transfers)
            if res.block_num is not None:
                in_flight.append(res.block_num)
            log.info(
                "runpayouts sent",
                extra={
                    "tx_id": res.tx_id,
                    "count": count,
                    "payments": paid,
                    "cpu_us": res.cpu_usage_us,
                },
            )
            cpu_failures_at_min = 0
            if paid >= count:
                self._grow()
            if paid == 0:
                zero_streak += 1
                if zero_streak >= MAX_ZERO_STREAK:
                    return
            else:
                zero_streak = 0
