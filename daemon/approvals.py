"""The approvals jobs.

- :meth:`ApprovalsJob.approve_new`: accounts appear in ``approvals`` with ``approved = 0`` at
  their first booking. Those whose code hash is zero (no contract) are approved, in batches of
  ``batch_size``. Accounts found with code are not looked at again before
  ``recheck_interval_s`` (they may remove their code; they can ``claim`` meanwhile).
- :meth:`ApprovalsJob.recheck_approved`: on a slower timer, every approved account's code hash
  is read again; any that deployed code is unapproved.

Code hashes are read in parallel (one request per account; the chain API has no bulk call).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from payoutengine.errors import ChainError, EndpointError, TransactionError

from .config import ApprovalsConfig
from .contract import ContractView
from .health import HealthGate
from .metrics import Metrics
from .sender import Sender

__all__ = ["ApprovalsJob"]

log = logging.getLogger(__name__)


class ApprovalsJob:
    def __init__(
        self,
        cfg: ApprovalsConfig,
        *,
        gate: HealthGate,
        view: ContractView,
        sender: Sender,
        metrics: Metrics,
        stop: threading.Event,
        workers: int = 8,
    ) -> None:
        self.cfg = cfg
        self.gate = gate
        self.view = view
        self.sender = sender
        self.metrics = metrics
        self.stop = stop
        self.workers = workers
        #: account -> monotonic time before which it is not checked again (it has code).
        self._has_code_until: dict[str, float] = {}
        self._last_revision: int | None = None
        self._last_scan = 0.0

    def _code_flags(self, accounts: list[str]) -> dict[str, bool]:
        """account -> has code, read in parallel."""
        if not accounts:
            return {}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            flags = list(pool.map(self.view.has_code, accounts))
        return dict(zip(accounts, flags, strict=True))

    def _send_batches(self, action: str, accounts: list[str]) -> int:
        done = 0
        for i in range(0, len(accounts), self.cfg.batch_size):
            if self.stop.is_set():
                break
            batch = accounts[i : i + self.cfg.batch_size]
            try:
                res = self.sender.send(action, {"accounts": batch})
            except TransactionError as e:
                log.error(f"{action} was rejected", extra={"error": e.message, "accounts": batch})
                continue
            done += len(batch)
            log.info(action, extra={"tx_id": res.tx_id, "accounts": len(batch)})
        return done

    def approve_new(self) -> None:
        if self.stop.is_set() or self.gate.client() is None:
            return
        try:
            settings = self.view.settings()
            revision = settings.revision if settings else None
            now = time.monotonic()
            # Nothing changed on chain and nothing is due for a re-check: skip the table scan.
            due_recheck = any(t <= now for t in self._has_code_until.values())
            if (
                revision == self._last_revision
                and not due_recheck
                and now - self._last_scan < self.cfg.recheck_interval_s
            ):
                return
            self._last_revision, self._last_scan = revision, now
            unapproved = [a for a, ok in self.view.approvals() if not ok]
            self.metrics.unapproved.set(len(unapproved))
            to_check = [a for a in unapproved if self._has_code_until.get(a, 0.0) <= now]
            # Approve as we go, one batch at a time, so payouts can start early.
            step = self.cfg.batch_size * 4
            approved = 0
            for i in range(0, len(to_check), step):
                if self.stop.is_set():
                    return
                chunk = to_check[i : i + step]
                flags = self._code_flags(chunk)
                until = time.monotonic() + self.cfg.recheck_interval_s
                for a, has_code in flags.items():
                    if has_code:
                        self._has_code_until[a] = until
                    else:
                        self._has_code_until.pop(a, None)
                approved += self._send_batches("approveacc", [a for a in chunk if not flags[a]])
            if approved:
                self.metrics.unapproved.set(max(0, len(unapproved) - approved))
        except EndpointError as e:
            self.gate.mark_unhealthy(str(e))
        except ChainError as e:
            log.warning("approvals run failed", extra={"error": str(e)})

    def recheck_approved(self) -> None:
        if self.stop.is_set() or self.gate.client() is None:
            return
        try:
            approved = [a for a, ok in self.view.approvals() if ok]
            flags = self._code_flags(approved)
            with_code = [a for a in approved if flags.get(a)]
            if with_code:
                log.warning(
                    "approved accounts deployed code; unapproving them",
                    extra={"accounts": with_code},
                )
                self._send_batches("unapproveacc", with_code)
                until = time.monotonic() + self.cfg.recheck_interval_s
                for a in with_code:
                    self._has_code_until[a] = until
        except EndpointError as e:
            self.gate.mark_unhealthy(str(e))
        except ChainError as e:
            log.warning("approval re-check failed", extra={"error": str(e)})

    def forget(self, accounts: Iterable[str]) -> None:
        for a in accounts:
            self._has_code_until.pop(a, None)
