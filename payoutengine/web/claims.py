"""Claims pushed for recipients: validated, limited, signed by the sponsor key through the
engine's one journaled send path (:mod:`payoutengine.sending`), and followed to an irreversible
block by its tracker.

Refusals raise :class:`ClaimRefused` with one sentence for the page and an HTTP status; the
key never leaves this module's :class:`~payoutengine.sending.Sender`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import contract as pc
from ..amounts import Symbol
from ..client import ChainClient
from ..contract import Msg
from ..errors import EndpointError, PayoutEngineError, TransactionError
from ..journal import OPEN_STATUSES, Journal, JournalTx, Payment
from ..keys import PrivateKey
from ..names import name_problem
from ..sending import Sender, Tracker
from ..traces import transfers_in_trace
from .chainview import ChainView, fmt_units
from .limits import CpuBudget, SlidingWindow

__all__ = ["CLAIM_KIND", "ClaimDesk", "ClaimRecord", "ClaimRefused", "account_problem"]

log = logging.getLogger(__name__)

CLAIM_KIND = "claim"
#: CPU charged to the budget for a claim whose bill is unknown (its send answer was lost).
UNKNOWN_CPU_US = 1000

#: the contract's refusals of a claim, as the page says them.
_CHAIN_REFUSALS = {
    Msg.NOTHING_DUE: "Nothing is due to this account in this schedule.",
    Msg.UNKNOWN_SCHEDULE: "There is no such schedule.",
    Msg.TOKEN_SUSPENDED: "The schedule's token is suspended by the admin; try again later.",
    Msg.NO_BALANCE_ROW: "The account has no balance row for this token; open one first.",
}


class ClaimRefused(PayoutEngineError):
    """A claim the server does not push; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def account_problem(account: str) -> str | None:
    """One sentence when ``account`` cannot be an account name, else None."""
    problem = name_problem(account)
    if problem is None:
        return None
    shown = account if len(account) <= 40 else account[:40] + "…"
    return f"{shown!r} is not an account name: {problem}."


@dataclass(frozen=True)
class ClaimRecord:
    """A claim this server pushed, as its journal knows it."""

    tx_id: str
    schedule: str
    recipient: str
    status: str
    block_num: int | None
    error: str | None
    paid: list[str]


class ClaimDesk:
    """Pushes ``claim`` for anyone, within the limits."""

    def __init__(
        self,
        *,
        client: ChainClient,
        view: ChainView,
        journal: Journal,
        key: PrivateKey,
        contract: str,
        authority: str,
        budget: CpuBudget,
        per_account: SlidingWindow,
        per_address: SlidingWindow,
    ) -> None:
        self.view = view
        self.journal = journal
        self.contract = contract
        self.authority = authority
        self.budget = budget
        self.per_account = per_account
        self.per_address = per_address
        self.sender = Sender(
            client,
            journal,
            [key],
            expiration_s=120,
            on_trace=self._record_payments,
        )
        self.tracker = Tracker(client, journal, self.sender, kinds=[CLAIM_KIND])
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the claim ----------------------------------------------------------------------------

    def claim(self, account: str, schedule: str, address: str) -> ClaimRecord:
        problem = account_problem(account)
        if problem:
            raise ClaimRefused(problem)
        if name_problem(schedule):
            raise ClaimRefused(f"{schedule[:40]!r} is not a schedule name.")
        wait = self.per_account.hit(f"account:{account}")
        if wait is not None:
            raise ClaimRefused(
                f"Too many claims for {account}: at most {self.per_account.limit} per "
                f"{_duration(self.per_account.window_s)}; try again in {_duration(wait)}.",
                status=429,
            )
        wait = self.per_address.hit(f"address:{address}")
        if wait is not None:
            raise ClaimRefused(
                f"Too many claims from your address: at most {self.per_address.limit} per "
                f"{_duration(self.per_address.window_s)}; try again in {_duration(wait)}.",
                status=429,
            )
        budget = self.budget.state()
        if budget.exhausted:
            raise ClaimRefused(
                "The sponsor's CPU budget for today is used up; try again after 00:00 UTC, or "
                "push claim yourself (it needs no authorization from the recipient).",
                status=429,
            )
        sched = self.view.schedule(schedule)
        if sched is None:
            raise ClaimRefused(f"There is no schedule named {schedule}.", status=404)
        row = self.view.recipient_row(schedule, account)
        if row is None or row.due <= 0:
            raise ClaimRefused(f"Nothing is due to {account} in {schedule}.", status=409)
        if (sched.tkcontract, sched.symbol) not in self.view.allowed_tokens():
            raise ClaimRefused(_CHAIN_REFUSALS[Msg.TOKEN_SUSPENDED], status=409)
        if self.view.balance(sched.tkcontract, account, sched.symbol) is None:
            raise ClaimRefused(
                f"{account} has no balance row for {sched.symbol.code} at {sched.tkcontract}; "
                "open one first (the token's open action), then claim.",
                status=409,
            )
        action = pc.claim(self.contract, schedule, account, authority=[self.authority])
        data = {"schedule_name": schedule, "recipient": account}
        try:
            result = self.sender.send_new([action], kind=CLAIM_KIND, data=data)
        except TransactionError as e:
            message = _CHAIN_REFUSALS.get(e.message)
            log.warning("claim refused by the chain", extra={"tx_id": e.tx_id, "error": e.message})
            raise ClaimRefused(
                message or f"The chain refused the claim: {e.message}.", status=409
            ) from None
        except EndpointError:
            # journaled as signed: the tracker sends the same bytes again
            self._wake.set()
            log.warning("claim sent, answer lost; the tracker follows it")
            return self.record(_journaled_id(self.journal, account, schedule))
        self.budget.spend(result.cpu_usage_us or UNKNOWN_CPU_US)
        self._wake.set()
        log.info(
            "claim pushed",
            extra={"tx_id": result.tx_id, "recipient": account, "schedule": schedule},
        )
        return self.record(result.tx_id)

    def _record_payments(self, s: Session, row: JournalTx, trace: Mapping[str, Any]) -> None:
        transfers = transfers_in_trace(trace, self.contract)
        row.payments = len(transfers)
        Journal.add_payments(
            s,
            row.tx_id,
            [
                {
                    "token": t.token,
                    "recipient": t.recipient,
                    "amount": t.amount,
                    "symbol": t.symbol,
                    "precision": t.precision,
                    "memo": t.memo,
                }
                for t in transfers
            ],
        )

    # -- what the pages show --------------------------------------------------------------------

    def record(self, tx_id: str) -> ClaimRecord:
        with self.journal.session() as s:
            row = Journal.get(s, tx_id)
            if row is None:
                raise ClaimRefused(f"No claim with transaction id {tx_id[:64]}.", status=404)
            return _record(s, row)

    def claims_for(self, account: str, *, limit: int = 10) -> list[ClaimRecord]:
        """The latest claims this server pushed for ``account`` (a valid name)."""
        needle = f'"recipient": "{account}"'
        with self.journal.session() as s:
            rows = s.scalars(
                select(JournalTx)
                .where(JournalTx.kind == CLAIM_KIND, JournalTx.data.contains(needle))
                .order_by(JournalTx.id.desc())
                .limit(limit)
            ).all()
            return [_record(s, r) for r in rows]

    # -- following to irreversibility -----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="claim-tracker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _follow(self) -> None:
        while not self._stop.is_set():
            open_claims: int | None = None
            try:
                with self.journal.session() as s:
                    open_claims = s.scalar(
                        select(JournalTx.id)
                        .where(JournalTx.kind == CLAIM_KIND, JournalTx.status.in_(OPEN_STATUSES))
                        .limit(1)
                    )
                if open_claims is not None:
                    self.tracker.run_once()
            except PayoutEngineError as e:
                log.warning("following claims failed; retrying", extra={"error": str(e)})
            except Exception:  # keep following whatever one pass hit
                log.exception("following claims failed; retrying")
            self._wake.wait(0.5 if open_claims is not None else 5.0)
            self._wake.clear()


def _record(s: Session, row: JournalTx) -> ClaimRecord:
    data = json.loads(row.data)
    paid = [
        fmt_units_raw(p.amount, p.precision, p.symbol)
        for p in s.scalars(select(Payment).where(Payment.tx_id == row.tx_id)).all()
    ]
    return ClaimRecord(
        tx_id=row.tx_id,
        schedule=str(data.get("schedule_name", "")),
        recipient=str(data.get("recipient", "")),
        status=row.status,
        block_num=row.block_num,
        error=row.error,
        paid=paid,
    )


def fmt_units_raw(amount: int, precision: int, code: str) -> str:
    return fmt_units(amount, Symbol(code, precision))


def _journaled_id(journal: Journal, account: str, schedule: str) -> str:
    needle = json.dumps({"recipient": account, "schedule_name": schedule}, sort_keys=True)
    with journal.session() as s:
        tx_id = s.scalar(
            select(JournalTx.tx_id)
            .where(JournalTx.kind == CLAIM_KIND, JournalTx.data == needle)
            .order_by(JournalTx.id.desc())
            .limit(1)
        )
    if tx_id is None:
        raise ClaimRefused("The claim could not be sent; try again.", status=503)
    return str(tx_id)


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 120:
        return f"{max(1, s)} s"
    if s < 7200:
        return f"{round(s / 60)} min"
    return f"{round(s / 3600)} h"
