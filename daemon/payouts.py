"""The payouts job: ``runpayouts(count)`` until the contract has nothing payable.

Each run polls ``settings.revision`` and the ``active`` table (two cheap reads). When something
is due and the state moved since the contract last answered "nothing to pay" (or
``idle_recheck_s`` passed — a recipient may have opened a balance row, which does not move the
revision), ``senders`` threads send ``runpayouts`` transactions back to back without waiting for
blocks, with at most ``max_in_flight`` not yet in a block: while the node executes one, the
daemon signs, journals and parses the next.

``count`` adapts to the CPU the chain grants (:class:`CountController`): a CPU/deadline failure
at ``c`` records ``c`` as the ceiling and cuts ``count`` to 70 % of it; a transaction that used
its whole ``count`` grows it by a quarter, but not past 85 % of the ceiling; the ceiling itself
is probed upwards again every so often (the chain may grant more later). ``count`` also stays
within 30 % of a block's CPU at the CPU per payment measured so far: three transactions then
fill a block, where two big ones would leave a third of it unused (on EOS a 150 ms transaction
fits a 200 ms block once). A block's CPU is the largest ``block_cpu_limit`` get_info has shown:
the node reports what is left of the block it is building, so one read late in a full block
must not shrink ``count`` to a sliver of it. Always within ``min_count..max_count``.

No run starts, and a run in progress stops sending, while the health gate reports a chain
anomaly (:mod:`daemon.anomalies`); payouts resume when the chain recovers.

A transaction that fails because a recipient rejects the transfer goes to the poison handler,
and the run carries on; the run ends when the contract answers "nothing to pay".
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from payoutengine.errors import EndpointError, TransactionError
from payoutengine.journal import Journal, JournalTx
from payoutengine.resourcekeeper import ResourceKeeper

from .config import PayoutsConfig
from .contract import NOTHING_TO_PAY, ContractView
from .health import HealthGate
from .metrics import Metrics
from .poison import PoisonHandler
from .sender import Sender

__all__ = ["CountController", "PayoutsJob", "learned_count"]

log = logging.getLogger(__name__)

#: successive transactions that paid nobody (the contract only advanced its cursors past
#: unpayable dues) before the run yields until the next poll.
MAX_ZERO_STREAK = 20
#: how long a get_info answer is reused to build transactions, seconds.
INFO_REUSE_S = 0.5
#: runpayouts read back at start to resume the count an earlier run learned
LEARN_FROM = 20


class CountController:
    """The adaptive ``count`` of runpayouts (thread-safe)."""

    #: count after a CPU failure, as a share of the count that failed.
    SHRINK = 0.7
    #: growth stops at this share of the last count that failed.
    HEADROOM = 0.85
    #: successes after which the ceiling is raised by 10 % (probing for more CPU).
    PROBE_EVERY = 40
    #: a transaction takes at most this share of a block's CPU, so that three of them fill a
    #: block: two transactions of 70 % each would leave 30 % of every block unused.
    BLOCK_SHARE = 0.3
    #: weight of the newest transaction in the running CPU-per-payment estimate.
    CPU_EWMA = 0.3
    #: transactions paying fewer recipients than this say little about CPU per payment.
    MIN_SAMPLE = 10

    def __init__(self, cfg: PayoutsConfig, metrics: Metrics) -> None:
        self.min, self.max = cfg.min_count, cfg.max_count
        self.value = cfg.start_count
        self.ceiling: int | None = None
        #: running estimate of the CPU (µs) one payment costs, from executed transactions
        self.cpu_per_payment: float | None = None
        #: a whole block's CPU (µs): the largest get_info ``block_cpu_limit`` seen (that figure
        #: is what is left of the block being built)
        self.block_cpu_us: int | None = None
        self._successes = 0
        self._lock = threading.Lock()
        self._metrics = metrics
        metrics.count.set(self.value)

    def resume(self, count: int | None, cpu_per_payment: float | None) -> None:
        """Start from what an earlier run learned (its last count that ran in full, and the
        CPU per payment it measured) instead of ``start_count``: a restart does not climb
        again from the bottom."""
        with self._lock:
            if cpu_per_payment:
                self.cpu_per_payment = cpu_per_payment
            if count:
                self.value = max(self.min, min(self.max, max(self.value, count)))
            self._metrics.count.set(self.value)

    def failed_cpu(self, count: int) -> bool:
        """Record a CPU/deadline failure at ``count``; False when already at the minimum."""
        with self._lock:
            self.ceiling = count if self.ceiling is None else min(self.ceiling, count)
            at_min = count <= self.min
            self.value = max(self.min, min(self.value, int(count * self.SHRINK)))
            self._metrics.count.set(self.value)
            return not at_min

    def succeeded(
        self,
        count: int,
        paid: int,
        *,
        cpu_us: int | None = None,
        block_cpu_us: int | None = None,
    ) -> None:
        """Record a transaction that executed: it paid ``paid`` of ``count``, billed
        ``cpu_us``, sent when get_info's ``block_cpu_limit`` (what is left of the block being
        built) was ``block_cpu_us``."""
        with self._lock:
            if block_cpu_us and block_cpu_us > (self.block_cpu_us or 0):
                self.block_cpu_us = block_cpu_us
            self._successes += 1
            if cpu_us and paid >= self.MIN_SAMPLE:
                sample = cpu_us / paid
                est = self.cpu_per_payment
                self.cpu_per_payment = (
                    sample if est is None else est + self.CPU_EWMA * (sample - est)
                )
            if self.ceiling is not None and self._successes % self.PROBE_EVERY == 0:
                self.ceiling = int(self.ceiling * 1.1) + 1
            block_cap = self._block_cap()
            if block_cap is not None and self.value > block_cap:
                self.value = max(self.min, block_cap)
                self._metrics.count.set(self.value)
            if paid < count:
                return  # the contract ran short of payable dues: no information about CPU
            target = self.value + max(1, self.value // 4)
            if self.ceiling is not None:
                target = min(target, max(self.value, int(self.ceiling * self.HEADROOM)))
            if block_cap is not None:
                target = min(target, block_cap)
            self.value = max(self.min, min(self.max, target))
            self._metrics.count.set(self.value)

    def _block_cap(self) -> int | None:
        if not self.block_cpu_us or not self.cpu_per_payment:
            return None
        return max(1, int(self.block_cpu_us * self.BLOCK_SHARE / self.cpu_per_payment))


def learned_count(journal: Journal) -> tuple[int | None, float | None]:
    """From the journal's latest runpayouts that paid: the count of the newest one that paid
    in full, and their CPU per payment."""
    with journal.session() as s:
        rows = s.execute(
            select(JournalTx.data, JournalTx.payments, JournalTx.cpu_usage_us)
            .where(JournalTx.kind == "runpayouts", JournalTx.payments > 0)
            .order_by(JournalTx.id.desc())
            .limit(LEARN_FROM)
        ).all()
    count: int | None = None
    cpu = paid = 0
    for data, payments, cpu_us in rows:
        asked = int(json.loads(data).get("count", 0))
        if count is None and payments >= asked > 0:
            count = asked
        if cpu_us and payments >= CountController.MIN_SAMPLE:
            cpu += cpu_us
            paid += payments
    return count, (cpu / paid if paid else None)


class _Run:
    """State shared by the sender threads of one drain."""

    def __init__(self, info: dict[str, Any], revision: int) -> None:
        self.lock = threading.Lock()
        #: the contract's revision read before the drain sent anything
        self.revision = revision
        self.info = info
        self.info_at = time.monotonic()
        self.in_flight: deque[int] = deque()
        self.done = threading.Event()
        self.zero_streak = 0
        self.cpu_failures_at_min = 0


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
        resources: ResourceKeeper,
    ) -> None:
        self.cfg = cfg
        self.resources = resources
        self.gate = gate
        self.view = view
        self.sender = sender
        self.poison = poison
        self.metrics = metrics
        self.stop = stop
        self.counter = CountController(cfg, metrics)
        self._idle_revision: int | None = None
        self._idle_at = 0.0
        self._poison_lock = threading.Lock()
        self.runs = 0

    @property
    def count(self) -> int:
        return self.counter.value

    # -- the job ------------------------------------------------------------------------------

    def run(self) -> None:
        if self.stop.is_set() or self.gate.client() is None or self.gate.payouts_paused():
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
            if not self.resources.ensure():
                return  # out of CPU/NET and past the budget: the dues wait (alerted)
            self.runs += 1
            self._drain(settings.revision)
        except EndpointError as e:
            self.gate.mark_unhealthy(str(e))

    def _drain(self, revision: int) -> None:
        run = _Run(self.view.client.get_info(), revision)
        n = self.cfg.senders
        if n == 1:
            self._sender_loop(run)
            return
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="runpayouts") as pool:
            futures = [pool.submit(self._sender_loop, run) for _ in range(n)]
            for f in futures:
                f.result()

    def _idle(self, run: _Run) -> None:
        # The revision read before this drain sent anything, not one read now: a booking
        # between the "nothing to pay" and a read now would be taken for part of the idle
        # state and wait idle_recheck_s. A drain that paid moved the revision itself: the next
        # poll runs once more and finds nothing to pay (one refused transaction).
        self._idle_revision = run.revision
        self._idle_at = time.monotonic()
        log.debug("nothing payable", extra={"revision": self._idle_revision})
        run.done.set()

    def _next_info(self, run: _Run) -> dict[str, Any] | None:
        """A recent get_info answer, or None when the run must stop (unhealthy, done, or
        too many transactions not yet in a block for too long)."""
        while not (self.stop.is_set() or run.done.is_set()):
            with run.lock:
                fresh = time.monotonic() - run.info_at <= INFO_REUSE_S
                info = run.info
                head = int(info["head_block_num"])
                while run.in_flight and run.in_flight[0] <= head:
                    run.in_flight.popleft()
                full = len(run.in_flight) >= self.cfg.max_in_flight
            if fresh and not full:
                return info
            if full:
                time.sleep(0.05)
            if self.gate.client() is None or self.gate.payouts_paused():
                # unhealthy, or a chain anomaly: pause sending until the gate says otherwise
                run.done.set()
                return None
            new = self.view.client.get_info()
            with run.lock:
                run.info, run.info_at = new, time.monotonic()
        return None

    def _sender_loop(self, run: _Run) -> None:
        try:
            while True:
                info = self._next_info(run)
                if info is None:
                    return
                self._send_one(run, info)
        except EndpointError as e:
            run.done.set()
            self.gate.mark_unhealthy(str(e))

    def _send_one(self, run: _Run, info: dict[str, Any]) -> None:
        count = self.counter.value
        try:
            res = self.sender.send("runpayouts", {"count": count}, info=info)
        except TransactionError as e:
            self._failed(run, count, e)
            return
        paid = len(res.transfers)
        with run.lock:
            # A paying answer that arrives after the run ended with "nothing to pay" is stale.
            if paid and not run.done.is_set():
                self.metrics.payable.set(1)
            if res.block_num is not None:
                run.in_flight.append(res.block_num)
            run.cpu_failures_at_min = 0
            run.zero_streak = 0 if paid else run.zero_streak + 1
            if run.zero_streak >= MAX_ZERO_STREAK:
                run.done.set()
        log.info(
            "runpayouts sent",
            extra={
                "tx_id": res.tx_id,
                "count": count,
                "payments": paid,
                "cpu_us": res.cpu_usage_us,
            },
        )
        block_cpu = info.get("block_cpu_limit")
        self.counter.succeeded(
            count,
            paid,
            cpu_us=res.cpu_usage_us,
            block_cpu_us=int(block_cpu) if block_cpu is not None else None,
        )

    def _failed(self, run: _Run, count: int, e: TransactionError) -> None:
        if e.message == NOTHING_TO_PAY:
            self.metrics.tx_failures.labels("nothing_to_pay").inc()
            with run.lock:
                run.done.set()
                self.metrics.payable.set(0)
            self._idle(run)
            return
        self.metrics.payable.set(1)  # something is due and did not go out
        if e.expired:
            self.metrics.tx_failures.labels("expired").inc()
            with run.lock:
                run.info_at = 0.0
            return
        exhaustion = self.resources.handle(e)
        if exhaustion is not None and exhaustion.scope == "account":
            # The admin account is out of CPU/NET (not a transaction too big): the keeper got
            # more within its budget, or the run waits until it can; count is not shrunk.
            self.metrics.tx_failures.labels(exhaustion.resource).inc()
            if not self.resources.ready():
                run.done.set()
            return
        if e.cpu_exceeded:
            self.metrics.tx_failures.labels("cpu").inc()
            if self.counter.failed_cpu(count):
                log.info(
                    "runpayouts ran out of CPU; shrinking count",
                    extra={"count": self.counter.value, "failed_count": count, "error": e.message},
                )
                return
            # At min_count: a recipient burning CPU, or an account out of CPU.
            if self._poison(e):
                return
            with run.lock:
                run.cpu_failures_at_min += 1
                give_up = run.cpu_failures_at_min >= 3
            if give_up:
                log.warning(
                    "runpayouts fails for CPU even at min_count; the admin account may need "
                    "more CPU",
                    extra={"count": count, "error": e.message},
                )
                run.done.set()
            else:
                time.sleep(0.5)
            return
        # A payment rejected by its recipient (or something else entirely).
        if self._poison(e):
            self.metrics.tx_failures.labels("poison").inc()
            return
        self.metrics.tx_failures.labels("other").inc()
        log.error(
            "runpayouts was rejected; retrying after idle_recheck_s or when the state moves",
            extra={"error": e.message, "error_name": e.name, "tx_id": e.tx_id},
        )
        self._idle(run)

    def _poison(self, e: TransactionError) -> bool:
        # One thread at a time: the others may fail on the same recipient meanwhile.
        with self._poison_lock:
            return self.poison.handle(e)
