"""The approvals jobs.

- :meth:`ApprovalsJob.approve_new`: accounts appear in ``approvals`` with ``approved = 0`` at
  their first booking, listed by its ``pending`` flag index until they are approved. That index
  is paged (only the accounts not approved, in account order, however many are approved) when
  the revision moved, at most every ``interval_s``; scans that find nobody new stretch the
  pause (doubling, up to 30 s). They are sent to ``approveacc`` as the pages come, in batches
  of ``batch_size``, without reading their code hashes: the contract passes over an account
  holding code (it stays unapproved). One still pending at the next scan after its approveacc
  is such an account, and is not sent again before ``recheck_interval_s`` (it may remove its
  code; it can ``claim`` meanwhile). Memory holds a few batches and at most
  :data:`SENT_MEMORY` names, whatever the number of recipients.
- :meth:`ApprovalsJob.recheck_approved`: every approved account's code hash is read again,
  a slice per run so that a full pass takes about ``recheck_interval_s``; any account that
  deployed code is unapproved.

The re-check reads code hashes in parallel (one request per account; the chain API has no bulk
call).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field

from payoutengine.contract import ContractTables
from payoutengine.errors import ChainError, EndpointError, TransactionError

from .config import ApprovalsConfig
from .health import HealthGate
from .metrics import Metrics
from .sender import Sender

__all__ = ["ApprovalsJob"]

log = logging.getLogger(__name__)

#: accounts remembered from one scan's approveacc to the next, to tell those the contract
#: passed over (they hold code) from new ones; beyond it, an account holding code is sent once
#: more at the next scan and remembered then.
SENT_MEMORY = 10_000
#: the longest pause between scans of the approvals table while nothing new turns up, seconds.
QUIET_MAX_S = 30.0


@dataclass(eq=False)
class ApprovalsJob:
    cfg: ApprovalsConfig
    _: KW_ONLY
    gate: HealthGate
    view: ContractTables
    sender: Sender
    metrics: Metrics
    stop: threading.Event
    #: code hashes read in parallel
    workers: int = 8
    #: account -> monotonic time before which it is not checked again (it has code).
    _has_code_until: dict[str, float] = field(default_factory=dict, init=False)
    _last_revision: int | None = field(default=None, init=False)
    _last_scan: float = field(default=0.0, init=False)
    _quiet: int = field(default=0, init=False)
    _next_scan_at: float = field(default=0.0, init=False)
    _recheck_cursor: str | None = field(default=None, init=False)
    _approved_estimate: int = field(default=0, init=False)
    _seen_in_pass: int = field(default=0, init=False)
    _recheck_credit: float = field(default=0.0, init=False)
    _estimate_counted: bool = field(default=False, init=False)
    #: accounts this scan / the previous scan sent approveacc for (at most SENT_MEMORY)
    _sent_now: set[str] = field(default_factory=set, init=False)
    _sent_before: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self._approved_estimate = self.cfg.batch_size

    def _code_flags(self, accounts: list[str]) -> dict[str, bool]:
        """account -> has code, read in parallel."""
        if not accounts:
            return {}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            flags = list(pool.map(self.view.has_code, accounts))
        return dict(zip(accounts, flags, strict=True))

    def _send_batches(self, action: str, accounts: list[str]) -> list[str]:
        """Sends ``action`` for ``accounts`` in batches; the accounts of the batches the chain
        accepted."""
        done: list[str] = []
        for i in range(0, len(accounts), self.cfg.batch_size):
            if self.stop.is_set():
                break
            batch = accounts[i : i + self.cfg.batch_size]
            try:
                res = self.sender.send(action, {"accounts": batch})
            except TransactionError as e:
                log.error(f"{action} was rejected", extra={"error": e.message, "accounts": batch})
                continue
            done += batch
            log.info(action, extra={"tx_id": res.tx_id, "accounts": len(batch)})
        return done

    def _approve_chunk(self, chunk: list[str]) -> int:
        """Sends approveacc for ``chunk`` (the contract passes over accounts holding code: no
        code hash is read here); returns how many were sent."""
        for a in chunk:
            self._has_code_until.pop(a, None)
        sent = self._send_batches("approveacc", chunk)
        room = SENT_MEMORY - len(self._sent_now)
        self._sent_now.update(sent[: max(room, 0)])
        return len(sent)

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
            # The revision also moves with every payment; after scans that found nobody new,
            # back off (interval_s doubling, at most QUIET_MAX_S) so a long payout run does
            # not re-read the whole table every few seconds.
            if now < self._next_scan_at and not due_recheck:
                return
            self._last_revision, self._last_scan = revision, now
            # Approve as the pages come, a few batches at a time, so payouts can start early.
            step = self.cfg.batch_size * 4
            pending = checked = approved = 0
            chunk: list[str] = []
            until = now + self.cfg.recheck_interval_s
            for account in self.view.pending_approvals():
                if self.stop.is_set():
                    return
                pending += 1
                if self._has_code_until.get(account, 0.0) > now:
                    continue
                if account in self._sent_before:
                    # approved by the last scan's approveacc and still pending: the contract
                    # passed it over, it holds code; asked again after recheck_interval_s
                    self._has_code_until[account] = until
                    continue
                chunk.append(account)
                if len(chunk) == step:
                    checked += len(chunk)
                    approved += self._approve_chunk(chunk)
                    chunk = []
            if chunk and not self.stop.is_set():
                checked += len(chunk)
                approved += self._approve_chunk(chunk)
            self._sent_before, self._sent_now = self._sent_now, set()
            self._approved_estimate += approved
            self.metrics.unapproved.set(max(0, pending - approved))
            to_check = checked > 0
            self._quiet = 0 if to_check else min(self._quiet + 1, 16)
            delay = min(self.cfg.interval_s * (2**self._quiet - 1), QUIET_MAX_S)
            self._next_scan_at = time.monotonic() + delay
        except EndpointError as e:
            self.gate.mark_unhealthy(str(e))
        except ChainError as e:
            log.warning("approvals run failed", extra={"error": str(e)})

    def recheck_approved(self) -> None:
        """One slice of the re-check: approved accounts, from where the last slice stopped, as
        many as make a full pass take about ``recheck_interval_s`` when this runs every
        ``interval_s`` (a burst of one request per account would compete with the payouts)."""
        if self.stop.is_set() or self.gate.client() is None:
            return
        try:
            if not self._estimate_counted:
                # Sizes the slices until a pass has counted for itself: counted once (page by
                # page, no list kept), then kept up by approve_new's approvals.
                self._approved_estimate = max(1, self.view.approval_counts()[0])
                self._estimate_counted = True
            # Accounts owed so far at the pace of one full pass per recheck_interval_s.
            share = self.cfg.interval_s / self.cfg.recheck_interval_s
            self._recheck_credit += self._approved_estimate * share
            want = math.floor(self._recheck_credit)
            if want < 1:
                return
            self._recheck_credit -= want
            approved: list[str] = []
            while len(approved) < want:
                rows, next_key = self.view.approvals_page(
                    after=self._recheck_cursor, limit=min(500, max(want - len(approved), 10))
                )
                approved += [r.account for r in rows if r.approved]
                if next_key is None:
                    # End of the table: the pass is complete; size the next one by this one.
                    self._approved_estimate = max(self._seen_in_pass + len(approved), 1)
                    self._seen_in_pass = -len(approved)
                    self._recheck_cursor = None
                    break
                self._recheck_cursor = next_key
            self._seen_in_pass += len(approved)
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
