"""Poison recipients: accounts whose contract rejects (or burns CPU on) an incoming payment.

One such recipient makes a whole ``runpayouts`` transaction fail. :class:`PoisonHandler` names
it — first from the node's error details (``bob <= eosio.token::transfer ...``), confirmed by a
dry run of ``claim``; failing that, by dry-running ``claim`` for the ready dues in turn —
unapproves it at once, journals and counts it, and lets the payouts job carry on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

from payoutengine import contract as pc
from payoutengine.client import ApiNotAvailable
from payoutengine.contract import ContractTables, Msg
from payoutengine.errors import ChainError, TransactionError
from payoutengine.traces import receivers_in_error

from .journal import Journal
from .metrics import Metrics
from .sender import Sender
from .tokens import TokenGuard

__all__ = ["PoisonHandler"]

log = logging.getLogger(__name__)

#: the contract's own check() messages a claim can fail with.
CLAIM_OWN_MESSAGES = frozenset(
    {Msg.UNKNOWN_SCHEDULE, Msg.NOTHING_DUE, Msg.NO_BALANCE_ROW, Msg.NOT_INITIALIZED}
)
#: at most this many dry-run claims when the error does not name the recipient.
MAX_DRY_RUNS = 64


@dataclass(eq=False)
class PoisonHandler:
    view: ContractTables
    sender: Sender
    journal: Journal
    metrics: Metrics
    _: KW_ONLY
    #: who the dry-run claims are signed as (no signature is checked)
    dry_run_authority: str
    stopping: Callable[[], bool] = lambda: False
    tokens: TokenGuard = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenGuard(self.view, self.sender, self.metrics)

    @property
    def contract(self) -> str:
        return self.view.contract

    def _named_recipients(self, err: TransactionError) -> list[str]:
        """Accounts the failure trace (or the error text) names as the failing receiver of a
        transfer notification."""
        triples = err.failed_actions or receivers_in_error(err.details)
        names: list[str] = []
        for receiver, account, action in triples:
            if receiver in (self.contract, account):
                continue
            if action == "transfer" and receiver not in names:
                names.append(receiver)
        return names

    def _due_schedules(self, account: str) -> list[str]:
        return [s for s in self.view.active_schedules() if self.view.has_due(s, account)]

    def _claim_rejected(self, schedule: str, account: str) -> TransactionError | None:
        """Dry-run ``claim(schedule, account)``: the error when the payment is rejected by
        someone other than the contract itself, else None."""
        action = pc.claim(self.contract, schedule, account, authority=[self.dry_run_authority])
        try:
            self.view.client.dry_run([action])
        except TransactionError as e:
            # The node's dry-run error does not say which action failed; any failure other than
            # the contract's own checks for claim is the recipient refusing (or burning CPU).
            return None if e.message in CLAIM_OWN_MESSAGES else e
        return None

    def find(self, err: TransactionError) -> list[str]:
        """The poison recipients behind a failed runpayouts, possibly none."""
        named = self._named_recipients(err)
        confirmed: list[str] = []
        for account in named:
            scheds = self._due_schedules(account)
            if not scheds:
                continue
            try:
                if any(self._claim_rejected(s, account) for s in scheds):
                    confirmed.append(account)
            except ApiNotAvailable:
                # No dry runs on this node: trust the node's own error.
                confirmed.append(account)
        if confirmed:
            return confirmed
        if not (err.trace is not None or err.cpu_exceeded):
            # Rejected before anything ran (authorization, expiry, ...): no recipient to blame.
            return []
        # The error named nobody: try the ready dues (the ones runpayouts pays: approved, with
        # a balance row, no code) one by one, streamed schedule by schedule.
        tried = 0
        for sched in self.view.active_schedules():
            for account in self.view.ready_dues(sched):
                if self.stopping() or tried >= MAX_DRY_RUNS:
                    return []
                tried += 1
                try:
                    if self._claim_rejected(sched, account):
                        return [account]
                except ApiNotAvailable:
                    return []
        return []

    def handle(self, err: TransactionError) -> bool:
        """Find, unapprove and report the poison recipients behind ``err``. True when the
        failure is explained by one (newly unapproved, or already unapproved by an earlier
        call while this transaction was in flight). A token whose own transfer failed is
        suspended instead, and nobody is unapproved."""
        if self.tokens.handle(err):
            return True
        try:
            accounts = self.find(err)
        except ChainError as e:
            log.warning("could not look for a poison recipient", extra={"error": str(e)})
            return False
        if not accounts:
            return False
        approved = dict(self._approval_rows(accounts))
        new = [a for a in accounts if approved.get(a, False)]
        if not new:
            return True
        try:
            res = self.sender.send("unapproveacc", {"accounts": new})
            tx_id: str | None = res.tx_id
        except TransactionError as e:
            log.error(
                "could not unapprove poison recipients",
                extra={"accounts": new, "error": e.message},
            )
            return False
        with self.journal.session() as s:
            for a in new:
                Journal.add_poison(s, a, tx_id=tx_id, reason=err.message[:2000])
        for a in new:
            self.metrics.poison.inc()
            log.error(
                "poison recipient unapproved: its contract rejects payments; it can still claim",
                extra={"account": a, "tx_id": tx_id, "error": err.message},
            )
        return True

    def _approval_rows(self, accounts: list[str]) -> list[pc.Approval]:
        rows = [self.view.approval(a) for a in accounts]
        return [r for r in rows if r is not None]
