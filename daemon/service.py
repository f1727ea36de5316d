"""The admin daemon: start-up checks, the scheduled jobs, and a clean stop.

Jobs (APScheduler 3.x, each ``max_instances=1`` and ``coalesce=True``: never two runs of the
same job at once, missed runs collapse into one):

- ``payouts`` every ``[payouts] interval_s`` (not while a chain anomaly lasts:
  :mod:`daemon.anomalies`);
- ``tracker`` every second: follows journaled transactions to irreversibility (also during a
  chain anomaly, and from a stale endpoint when no fresh one answers);
- ``approvals`` and ``recheck`` (a slice of the approved accounts; a full pass per
  ``recheck_interval_s``) every ``[approvals] interval_s``;
- ``gauges`` every ``[metrics] refresh_s``: dues per schedule, journal counts;
- ``resources`` every ``[resources] check_interval_s``: the admin account's CPU/NET, topped up
  within the budget (payoutengine.resourcekeeper); the payouts job also asks before a drain
  and after a refusal for CPU/NET.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from payoutengine.authority import check_signing_key
from payoutengine.client import ChainClient
from payoutengine.errors import (
    ChainError,
    ConfigError,
    EndpointError,
    PayoutEngineError,
)
from payoutengine.journal import Journal
from payoutengine.keys import PrivateKey, load_key
from payoutengine.resourcekeeper import ResourceKeeper
from payoutengine.sending import Sender as EngineSender
from payoutengine.sending import Tracker

from .anomalies import ChainAnomalies
from .approvals import ApprovalsJob
from .config import Config
from .contract import ContractView
from .health import HealthGate
from .metrics import Metrics
from .payouts import PayoutsJob, learned_count
from .poison import PoisonHandler
from .sender import Sender
from .wakes import WakeJob

__all__ = ["AdminDaemon", "check_key", "load_admin_key"]

log = logging.getLogger(__name__)


def load_admin_key(cfg: Config) -> PrivateKey:
    """The key from ``[admin] key_env`` when that variable is set, else ``[admin] key_file``
    (mode 0600)."""
    from pathlib import Path

    return load_key(
        cfg.admin.key_env or None, Path(cfg.admin.key_file) if cfg.admin.key_file else None
    )


def check_key(client: ChainClient, cfg: Config, key: PrivateKey) -> None:
    """Refuse a key that controls ``owner``, or that cannot sign for the configured permission."""
    check_signing_key(
        client,
        cfg.admin.account,
        cfg.admin.permission,
        key,
        advice="give the daemon a key of a dedicated permission linked only to runpayouts, "
        "approveacc and unapproveacc (see docs/daemon.md).",
    )
    if cfg.admin.permission == "active":
        log.warning(
            "the daemon signs with the active permission; a dedicated permission linked only to "
            "its three actions is safer (docs/daemon.md)"
        )


class AdminDaemon:
    def __init__(
        self,
        cfg: Config,
        key: PrivateKey,
        *,
        metrics: Metrics | None = None,
        stake_key: PrivateKey | None = None,
    ) -> None:
        self.cfg = cfg
        self.key = key
        self.metrics = metrics or Metrics()
        self.stop_event = threading.Event()
        self.journal = Journal(cfg.journal.url)
        client = ChainClient(
            cfg.chain.endpoints,
            timeout=cfg.chain.timeout_s,
            max_head_age_s=cfg.chain.max_head_age_s,
            expected_chain_id=cfg.chain.chain_id or None,
        )
        self.client = client
        self.metrics.count_requests(client)
        self.anomalies = ChainAnomalies(
            max_lib_stall_s=cfg.chain.max_lib_stall_s, metrics=self.metrics
        )
        self.gate = HealthGate(client, metrics=self.metrics, anomalies=self.anomalies)
        self.view = ContractView(client, cfg.contract.account)
        self.sender = Sender(
            client,
            self.journal,
            key,
            contract=cfg.contract.account,
            authority=cfg.authority,
            expiration_s=cfg.payouts.expiration_s,
            metrics=self.metrics,
        )
        self.tracker = Tracker(
            client,
            self.journal,
            self.sender.engine,
            resend_after_s=max(10.0, 2 * cfg.chain.timeout_s),
            stopping=self.stop_event.is_set,
        )
        stake_sender = None
        if stake_key is not None:
            stake_sender = EngineSender(
                client, self.journal, [stake_key], expiration_s=cfg.payouts.expiration_s
            )
        self.resources = ResourceKeeper(
            client,
            self.journal,
            cfg.resources,
            account=cfg.admin.account,
            permission=cfg.admin.permission,
            sender=self.sender.engine,
            stake_sender=stake_sender,
            metrics=self.metrics.resources,
        )
        self.poison = PoisonHandler(
            self.view,
            self.sender,
            self.journal,
            self.metrics,
            dry_run_authority=cfg.authority,
            stopping=self.stop_event.is_set,
        )
        self.payouts = PayoutsJob(
            cfg.payouts,
            gate=self.gate,
            view=self.view,
            sender=self.sender,
            poison=self.poison,
            metrics=self.metrics,
            stop=self.stop_event,
            resources=self.resources,
        )
        self.payouts.counter.resume(*learned_count(self.journal))
        self.approvals = ApprovalsJob(
            cfg.approvals,
            gate=self.gate,
            view=self.view,
            sender=self.sender,
            metrics=self.metrics,
            stop=self.stop_event,
        )
        self.wakes = WakeJob(
            gate=self.gate, view=self.view, sender=self.sender, stop=self.stop_event
        )
        self.scheduler: BackgroundScheduler | None = None

    # -- start-up ---------------------------------------------------------------------------

    def preflight(self) -> None:
        """Endpoints answer, the chain is healthy, the contract's admin is ours, the key is
        acceptable. Raises EndpointError / ConfigError / KeyFileError."""
        health = self.gate.check()
        if health is None:
            raise EndpointError(
                "No healthy chain endpoint: " + "; ".join(self.gate.last_problems) + ".",
                endpoint=", ".join(self.cfg.chain.endpoints),
            )
        check_key(self.client, self.cfg, self.key)
        try:
            settings = self.view.settings()
        except EndpointError:
            raise
        except ChainError as e:
            raise ConfigError(
                f"The account {self.cfg.contract.account} does not hold the payoutengine "
                f"contract ({e}); fix [contract] account."
            ) from None
        if settings is None:
            raise ConfigError(
                f"The account {self.cfg.contract.account} has no payoutengine settings row: is "
                "[contract] account right, and has setadmin been called?"
            )
        if settings.admin != self.cfg.admin.account:
            raise ConfigError(
                f"The contract's admin is {settings.admin!r}, not the configured "
                f"{self.cfg.admin.account!r}; fix [admin] account."
            )
        with self.journal.session() as s:
            open_txs = len(Journal.open_transactions(s))
            last = Journal.get_state(s, "last_payout")
        if last:
            self.metrics.payout_succeeded(float(last))
        log.info(
            "admin daemon ready",
            extra={
                "endpoint": health.endpoint,
                "chain_id": health.chain_id,
                "contract": self.cfg.contract.account,
                "authority": self.cfg.authority,
                "public_key": self.key.public_key,
                "journal_open_transactions": open_txs,
            },
        )

    # -- jobs ---------------------------------------------------------------------------------

    def _guard(self, name: str, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if self.stop_event.is_set():
                return
            try:
                fn()
            except EndpointError as e:
                self.gate.mark_unhealthy(str(e))
            except PayoutEngineError as e:
                log.warning(f"{name} job failed", extra={"error": str(e)})
            except Exception:  # a bug must not kill the scheduler thread silently
                log.exception(f"{name} job crashed")

        return run

    def _track(self) -> None:
        # a stale endpoint is good enough to follow transactions; none answering is not
        if self.gate.client() is None and not self.gate.answering():
            return
        self.tracker.run_once()

    def _resources(self) -> None:
        if self.gate.client() is None:
            return
        self.resources.ensure()

    def refresh_gauges(self) -> None:
        with self.journal.session() as s:
            counts = Journal.count_by_status(s)
        for status, n in counts.items():
            self.metrics.transactions.labels(status).set(n)
        if self.gate.client() is None:
            return
        for name, n in self.view.dues_per_schedule().items():
            self.metrics.dues_outstanding.labels(name).set(n)

    def start(self) -> None:
        c = self.cfg
        if c.metrics.port:  # first: a taken port must stop the start before any job runs
            self.metrics.serve(c.metrics.host, c.metrics.port)
            log.info("metrics on /metrics", extra={"host": c.metrics.host, "port": c.metrics.port})
        sched = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=6)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone="UTC",
        )
        now = None  # run at once
        c, p, a = self.cfg, self.cfg.payouts, self.cfg.approvals
        jobs: list[tuple[str, Callable[[], None], float]] = [
            ("payouts", self.payouts.run, p.interval_s),
            ("tracker", self._track, 1.0),
            ("approvals", self.approvals.approve_new, a.interval_s),
            ("recheck", self.approvals.recheck_approved, a.interval_s),
            ("wakes", self.wakes.run, a.interval_s),
            ("gauges", self.refresh_gauges, c.metrics.refresh_s),
            ("resources", self._resources, c.resources.check_interval_s),
        ]
        for name, fn, every in jobs:
            sched.add_job(
                self._guard(name, fn),
                "interval",
                seconds=every,
                id=name,
                name=name,
                next_run_time=_now() if now is None else now,
            )
        sched.start()
        self.scheduler = sched

    def request_stop(self, *_: Any) -> None:
        self.stop_event.set()

    def shutdown(self) -> None:
        """Stop scheduling, let running jobs finish their current send, flush the journal."""
        self.stop_event.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        self.client.close()
        self.journal.close()
        log.info("admin daemon stopped")

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal received; stopping", extra={"signal": signal.Signals(signum).name})
            self.stop_event.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        try:
            while not self.stop_event.wait(0.5):
                pass
        finally:
            self.shutdown()


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)
