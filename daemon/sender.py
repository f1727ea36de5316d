"""The daemon's transactions on the engine's one send path (:mod:`payoutengine.sending`).

:class:`Sender` builds an action of the contract, and hands it to the engine's sender, which
signs, journals and sends it. What a ``runpayouts`` paid is read from its trace — the send's
answer, or the chain's trace once the tracker finds a transaction whose answer was lost — into
the journal's payments and the payment metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from payoutengine import sending
from payoutengine.client import ChainClient
from payoutengine.errors import TransactionError
from payoutengine.journal import FAILED, IDLE, Journal, JournalTx
from payoutengine.keys import PrivateKey
from payoutengine.transactions import Action

from .contract import NOTHING_TO_PAY, TransferMade, transfers_in_trace
from .metrics import Metrics

__all__ = ["SendResult", "Sender"]

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    tx_id: str
    block_num: int | None
    cpu_usage_us: int | None
    transfers: list[TransferMade] = field(default_factory=list)


def _refusal_status(e: TransactionError) -> str:
    return IDLE if e.message == NOTHING_TO_PAY else FAILED


class Sender:
    """Sends the daemon's actions of the contract, signed by the daemon's key."""

    def __init__(
        self,
        client: ChainClient,
        journal: Journal,
        key: PrivateKey,
        *,
        contract: str,
        authority: str,
        expiration_s: int,
        metrics: Metrics,
    ) -> None:
        self.contract = contract
        self.authority = authority
        self.metrics = metrics
        self.engine = sending.Sender(
            client,
            journal,
            [key],
            expiration_s=expiration_s,
            on_trace=self._record_payments,
            refusal_status=_refusal_status,
            # the failure trace names the action (and receiver) that failed: see daemon.poison
            failure_trace=True,
            on_final_trace=self._confirm_payments,
        )

    def send(
        self, kind: str, data: Mapping[str, Any], *, info: Mapping[str, Any] | None = None
    ) -> SendResult:
        """Sign, journal, send one action of the contract. Raises TransactionError (journaled
        as refused) or EndpointError (left ``signed`` for the tracker). ``info``: a recent
        ``get_info`` answer to build on (saves a request per transaction)."""
        action = Action(self.contract, kind, [self.authority], dict(data))
        res = self.engine.send_new([action], kind=kind, data=dict(data), info=info)
        transfers = [] if res.trace is None else transfers_in_trace(res.trace, self.contract)
        return SendResult(res.tx_id, res.block_num, res.cpu_usage_us, transfers)

    @staticmethod
    def _payment_rows(transfers: list[TransferMade]) -> list[dict[str, Any]]:
        return [
            {
                "token": t.token,
                "recipient": t.recipient,
                "amount": t.amount,
                "symbol": t.symbol,
                "precision": t.precision,
                "memo": t.memo,
            }
            for t in transfers
        ]

    def _confirm_payments(
        self, s: Session, row: JournalTx, trace: Mapping[str, Any] | None
    ) -> None:
        """At irreversibility: the payments are what the block's run of the transaction made,
        which may differ from the answering node's speculative run (journaled at the send).
        ``trace`` is None when the node serves no traces: the answer's payments stand. The
        payment metrics count here, once per transaction, as the block ran it."""
        rows = Journal.payments_of(s, row.tx_id)
        if trace is not None:
            final = self._payment_rows(transfers_in_trace(trace, self.contract))
            if final != rows:
                log.info(
                    "the irreversible block's run of a runpayouts paid otherwise than the "
                    "send's answer said; journal corrected",
                    extra={"tx_id": row.tx_id, "payments": len(final), "answered": row.payments},
                )
                Journal.replace_payments(s, row.tx_id, final)
                row.payments = len(final)
                rows = final
        sums: dict[tuple[str, str], list[int]] = {}
        for p in rows:
            acc = sums.setdefault((str(p["token"]), str(p["symbol"])), [0, 0])
            acc[0] += 1
            acc[1] += int(p["amount"])
        for (token, symbol), (n, amount) in sums.items():
            self.metrics.payments.labels(token, symbol).inc(n)
            self.metrics.amount_sent.labels(token, symbol).inc(amount)

    def _record_payments(self, s: Session, row: JournalTx, trace: Mapping[str, Any]) -> None:
        """The send's answer (or, when it was lost, the trace of the block the transaction was
        found in): journaled at once, confirmed at irreversibility (:meth:`_confirm_payments`)."""
        transfers = transfers_in_trace(trace, self.contract)
        if not transfers:
            return
        row.payments = len(transfers)
        Journal.add_payments(s, row.tx_id, self._payment_rows(transfers))
        Journal.set_state(s, "last_payout", str(time.time()))
        self.metrics.payout_succeeded()
