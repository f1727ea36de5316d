"""The wake job: tells the contract which parked dues have become payable.

The contract parks a due it cannot pay automatically (recipient not approved, no balance row
in the token, code on the account) and takes a schedule out of the `runpayouts` ring while
none of its dues is ready or its token is suspended, so idle dues cost the payout transactions
nothing. What makes a parked due payable happens elsewhere — an approval (made by this daemon),
a balance row opened by the recipient, a token allowed again — and the contract is not told.
This job is how it is told, one ``wake(schedule, accounts)`` per schedule:

- on every run where the contract's revision moved, each schedule with dues (in an allowed
  token) has its parked dues of approved accounts streamed — its dues, its ready dues and the
  approvals' ``pending`` entries, three account-ordered streams merged page by page — and woken
  a batch at a time; the contract readies those that are payable now (it checks the balance row
  and the code hash itself, and takes the approval of an account holding code). Memory holds a
  page of each stream and one batch, whatever the number of recipients;
- a due woken but still parked (no balance row yet) is not woken again until its recipient's
  balance row exists: those rows are polled every run, a bounded number at a time (at most
  ``MAX_WAITING`` are remembered; beyond that they are simply woken again on the next scan);
- a schedule that has ready dues but is out of the ring (its token was allowed again) is woken
  with no accounts.
"""

from __future__ import annotations

import itertools
import logging
import threading

from payoutengine.errors import ChainError, EndpointError, TransactionError

from .contract import ContractView
from .health import HealthGate
from .sender import Sender

__all__ = ["WakeJob"]

log = logging.getLogger(__name__)

#: accounts per wake action: the contract checks each one (a few table reads and a code hash).
WAKE_BATCH = 100
#: woken-but-still-parked dues whose balance rows are polled per run.
POLL_PER_RUN = 200
#: woken-but-still-parked dues remembered at most (a bound on the job's memory).
MAX_WAITING = 10_000


class WakeJob:
    def __init__(
        self,
        *,
        gate: HealthGate,
        view: ContractView,
        sender: Sender,
        stop: threading.Event,
    ) -> None:
        self.gate = gate
        self.view = view
        self.sender = sender
        self.stop = stop
        self._last_revision: int | None = None
        #: (schedule, account) woken while it had no balance row -> (token contract, symbol code)
        self._waiting: dict[tuple[str, str], tuple[str, str]] = {}
        self._schedules: dict[str, tuple[str, str]] = {}  # schedule -> (tkcontract, symbol code)

    # -- reads ---------------------------------------------------------------------------------
    def _allowed_tokens(self) -> set[tuple[str, str]]:
        return {(t.tkcontract, t.symbol.code) for t in self.view.tokens()}

    def _token_of(self, schedule: str) -> tuple[str, str]:
        if schedule not in self._schedules:  # schedules never change: read each once
            for s in self.view.schedules():
                self._schedules[s.name] = (s.tkcontract, s.symbol.code)
        return self._schedules[schedule]

    # -- the job -------------------------------------------------------------------------------
    def run(self) -> None:
        if self.stop.is_set() or self.gate.client() is None:
            return
        try:
            self._poll_waiting()
            settings = self.view.settings()
            revision = settings.revision if settings else None
            if revision is None or revision == self._last_revision:
                return
            self._last_revision = revision
            self._scan()
        except EndpointError as e:
            self.gate.mark_unhealthy(str(e))
        except ChainError as e:
            log.warning("wake run failed", extra={"error": str(e)})

    def _poll_waiting(self) -> None:
        """Wakes the parked dues whose recipient has opened its balance row since. A bounded
        number per run, in turn: those still without a row go to the back of the queue."""
        opened: dict[str, list[str]] = {}
        for key in list(itertools.islice(self._waiting, POLL_PER_RUN)):
            if self.stop.is_set():
                return
            schedule, account = key
            tk, sym = self._waiting.pop(key)
            if self.view.client.get_balance(tk, account, sym) is None:
                self._waiting[key] = (tk, sym)  # to the back
            else:
                opened.setdefault(schedule, []).append(account)
        for schedule, accounts in opened.items():
            self._wake(schedule, accounts)

    def _scan(self) -> None:
        allowed = self._allowed_tokens()
        ring = self.view.ring()
        for schedule in self.view.active_schedules():
            if self.stop.is_set():
                return
            token = self._token_of(schedule)
            if token not in allowed:
                continue  # suspended: nothing can be paid until the admin allows it again
            woken = False
            batch: list[str] = []
            for account in self.view.approved_parked_dues(schedule):
                if self.stop.is_set():
                    return
                if (schedule, account) in self._waiting:
                    continue
                batch.append(account)
                if len(batch) == WAKE_BATCH:
                    woken = self._wake_batch(schedule, batch, token) or woken
                    batch = []
            if batch:
                woken = self._wake_batch(schedule, batch, token) or woken
            if not woken and schedule not in ring and self.view.has_ready_due(schedule):
                self._wake(schedule, [])  # ready dues, out of the ring: its token came back

    def _wake_batch(self, schedule: str, batch: list[str], token: tuple[str, str]) -> bool:
        """Wakes one batch (in account order); those still parked afterwards lack a balance row
        (or hold code and lost their approval): their rows are polled instead of waking them on
        every revision. False when the wake was rejected."""
        if not self._wake(schedule, batch):
            return False
        ready = set(self.view.ready_dues(schedule, first=batch[0], last=batch[-1]))
        for a in batch:
            if a not in ready and len(self._waiting) < MAX_WAITING:
                self._waiting[(schedule, a)] = token
        return True

    def _wake(self, schedule: str, accounts: list[str]) -> bool:
        """Wakes the accounts' dues in the schedule; False when stopped or a wake was
        rejected."""
        batches = [accounts[i : i + WAKE_BATCH] for i in range(0, len(accounts), WAKE_BATCH)]
        for batch in batches or [[]]:
            if self.stop.is_set():
                return False
            try:
                res = self.sender.send("wake", {"schedule_name": schedule, "accounts": batch})
            except TransactionError as e:
                hint = ""
                if "irrelevant authority" in e.message:
                    hint = "; link the daemon's permission to wake (docs/operations.md)"
                log.error(
                    "wake was rejected" + hint, extra={"error": e.message, "schedule": schedule}
                )
                return False
            log.info(
                "wake", extra={"tx_id": res.tx_id, "schedule": schedule, "accounts": len(batch)}
            )
        return True
