"""Signing, journaling and sending transactions; following them to irreversibility.

:class:`Sender` is the only place the daemon sends from. Each transaction is signed, written to
the journal (``signed``), then sent. The outcome is journaled too:

- accepted: ``sent``, with the block the node executed it in, its CPU bill and the transfers
  it made (from the trace);
- rejected by the chain: ``failed`` with the contract's message, and the TransactionError is
  re-raised for the job to act on;
- outcome unknown (the endpoint failed mid-request): stays ``signed``; the :class:`Tracker`
  re-sends the identical bytes until the transaction is seen or has expired.

:class:`Tracker` moves ``sent``/``included`` transactions forward by looking them up
(``transaction_status`` when the node offers it, otherwise the blocks themselves).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payoutengine.chaintime import naive_utc, parse_chain_time
from payoutengine.client import ChainClient
from payoutengine.errors import ChainError, EndpointError, TransactionError
from payoutengine.keys import PrivateKey
from payoutengine.transactions import Action, SignedTransaction

from .contract import (
    NOTHING_TO_PAY,
    TransferMade,
    trace_block_num,
    trace_cpu_us,
    transfers_in_trace,
)
from .journal import (
    EXPIRED,
    FAILED,
    IDLE,
    INCLUDED,
    IRREVERSIBLE,
    SENT,
    SIGNED,
    Journal,
    JournalTx,
    utcnow,
)
from .metrics import Metrics

__all__ = ["SendResult", "Sender", "Tracker"]

log = logging.getLogger(__name__)


#: blocks searched for a transaction whose send outcome is unknown, when the node offers no
#: transaction status API (a transaction lives at most expiration_s; 2 blocks a second).
MAX_BLIND_SEARCH_BLOCKS = 7200


@dataclass
class SendResult:
    tx_id: str
    block_num: int | None
    cpu_usage_us: int | None
    transfers: list[TransferMade] = field(default_factory=list)


class Sender:
    """Builds, journals and sends the daemon's transactions."""

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
        self.client = client
        self.journal = journal
        self.key = key
        self.contract = contract
        self.authority = authority
        self.expiration_s = expiration_s
        self.metrics = metrics
        self._recent: deque[str] = deque(maxlen=4096)
        self._recent_set: set[str] = set()
        self._lock = threading.Lock()

    def action(self, name: str, data: Mapping[str, Any]) -> Action:
        return Action(self.contract, name, [self.authority], dict(data))

    def _build_unique(
        self, actions: Sequence[Action], info: Mapping[str, Any] | None
    ) -> SignedTransaction:
        """Sign; two identical actions signed within one second would share an id (and the
        second would be rejected as a duplicate), so vary the expiration until it is new."""
        extra = 0
        while True:
            signed = self.client.build(
                list(actions),
                [self.key],
                expiration_s=min(3600, self.expiration_s + extra),
                info=info,
            )
            with self._lock:
                if signed.id not in self._recent_set:
                    if len(self._recent) == self._recent.maxlen:
                        self._recent_set.discard(self._recent[0])
                    self._recent.append(signed.id)
                    self._recent_set.add(signed.id)
                    return signed
            extra += 1

    def send(
        self, kind: str, data: Mapping[str, Any], *, info: Mapping[str, Any] | None = None
    ) -> SendResult:
        """Sign, journal, send one action of the contract. Raises TransactionError (journaled
        as failed) or EndpointError (left ``signed`` for the tracker). ``info``: a recent
        ``get_info`` answer to build on (saves a request per transaction)."""
        info = info or self.client.get_info()
        signed = self._build_unique([self.action(kind, data)], info)
        with self.journal.session() as s:
            Journal.record_signed(
                s,
                tx_id=signed.id,
                kind=kind,
                data=dict(data),
                signed_json=json.dumps(signed.to_json()),
                expiration=signed.expiration,
                search_from=int(info["head_block_num"]),
            )
        return self._send_journaled(signed, kind)

    def _send_journaled(self, signed: SignedTransaction, kind: str) -> SendResult:
        tx_id = signed.id
        try:
            # The failure trace names the action (and receiver) that failed: see daemon.poison.
            trace = self.client.send(signed, failure_trace=True)
        except TransactionError as e:
            if e.duplicate:
                # The node already has it: it was sent before; the tracker follows it.
                with self.journal.session() as s:
                    row = Journal.get(s, tx_id)
                    if row is not None and row.status == SIGNED:
                        Journal.set_status(s, row, SENT, sent_at=utcnow())
                return SendResult(tx_id, None, None)
            with self.journal.session() as s:
                row = Journal.get(s, tx_id)
                if row is not None:
                    status = IDLE if e.message == NOTHING_TO_PAY else FAILED
                    Journal.set_status(
                        s, row, status, error=e.message[:2000], send_attempts=row.send_attempts + 1
                    )
            raise
        except EndpointError:
            with self.journal.session() as s:
                row = Journal.get(s, tx_id)
                if row is not None:
                    row.send_attempts += 1
            raise
        transfers = transfers_in_trace(trace, self.contract)
        result = SendResult(tx_id, trace_block_num(trace), trace_cpu_us(trace), transfers)
        with self.journal.session() as s:
            row = Journal.get(s, tx_id)
            if row is not None:
                Journal.set_status(
                    s,
                    row,
                    SENT,
                    sent_at=utcnow(),
                    block_num=result.block_num,
                    cpu_usage_us=result.cpu_usage_us,
                    payments=len(transfers),
                    send_attempts=row.send_attempts + 1,
                )
            Journal.add_payments(
                s,
                tx_id,
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
            if transfers:
                Journal.set_state(s, "last_payout", str(time.time()))
        sums: dict[tuple[str, str], list[int]] = {}
        for t in transfers:
            acc = sums.setdefault((t.token, t.symbol), [0, 0])
            acc[0] += 1
            acc[1] += t.amount
        for (token, symbol), (n, amount) in sums.items():
            self.metrics.payments.labels(token, symbol).inc(n)
            self.metrics.amount_sent.labels(token, symbol).inc(amount)
        if transfers:
            self.metrics.payout_succeeded()
        return result

    def resend(self, row: JournalTx) -> None:
        """Send a journaled transaction's identical bytes again (never re-signed)."""
        signed = SignedTransaction.from_json(json.loads(row.signed_json))
        try:
            self._send_journaled(signed, row.kind)
        except TransactionError as e:
            log.warning(
                "re-sent transaction was rejected",
                extra={"tx_id": row.tx_id, "kind": row.kind, "error": e.message},
            )


class Tracker:
    """Follows journaled transactions to irreversibility (or expiry)."""

    def __init__(
        self,
        client: ChainClient,
        journal: Journal,
        sender: Sender,
        *,
        resend_after_s: float = 10.0,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client = client
        self.journal = journal
        self.sender = sender
        self.resend_after_s = resend_after_s
        self.stopping = stopping
        self._status_api: bool | None = None
        self._started = utcnow()

    def open_count(self) -> int:
        with self.journal.session() as s:
            return len(Journal.open_transactions(s))

    def run_once(self) -> None:
        with self.journal.session() as s:
            rows = list(Journal.open_transactions(s))
        if not rows:
            return
        info = self.client.get_info()
        head = int(info["head_block_num"])
        lib = int(info["last_irreversible_block_num"])
        head_time = naive_utc(parse_chain_time(str(info["head_block_time"])))
        blocks: dict[int, set[str]] = {}

        def txs_in(num: int) -> set[str]:
            if num not in blocks:
                blk = self.client.get_block(num)
                ids: set[str] = set()
                for t in blk.get("transactions") or []:
                    trx = t.get("trx")
                    if isinstance(trx, Mapping):
                        ids.add(str(trx.get("id")))
                    elif isinstance(trx, str):
                        ids.add(trx)
                blocks[num] = ids
            return blocks[num]

        for row in rows:
            if self.stopping():
                return
            try:
                self._advance(row, head, lib, head_time, txs_in)
            except EndpointError:
                raise
            except ChainError as e:
                log.warning(
                    "could not follow transaction", extra={"tx_id": row.tx_id, "error": str(e)}
                )

    def _advance(
        self,
        row: JournalTx,
        head: int,
        lib: int,
        head_time: dt.datetime,
        txs_in: Any,
    ) -> None:
        expired = head_time > row.expiration
        if row.status == SIGNED and not expired:
            # Outcome of the send unknown (a crash, or the endpoint failed mid-request): re-send
            # the identical bytes; a duplicate is harmless. Rows this process is sending right
            # now are left alone for a while; rows of an earlier run go out at once.
            age = utcnow() - row.created_at
            if row.created_at < self._started or age > dt.timedelta(seconds=self.resend_after_s):
                self.sender.resend(row)
            return
        start = row.block_num
        if start is not None and not expired:
            # Cheap path, one cached block lookup per pass: the trace named the block.
            if start > head:
                return  # that block is not produced yet
            if row.status == INCLUDED and start > lib:
                return  # in a block; wait for irreversibility without asking again
            if row.tx_id in txs_in(start):
                if start <= lib:
                    self._set(row, IRREVERSIBLE)
                elif row.status != INCLUDED:
                    self._set(row, INCLUDED)
                return
            # Not (or no longer: forked out) in that block: search below.
        found = self._find(row, head, txs_in)
        if found is not None:
            if found <= lib:
                self._set(row, IRREVERSIBLE, block_num=found)
            elif row.status != INCLUDED or row.block_num != found:
                self._set(row, INCLUDED, block_num=found)
            return
        if expired:
            self._set(row, EXPIRED, error="expired without being included in a block")
            with self.journal.session() as s:
                from sqlalchemy import delete

                from .journal import Payment

                s.execute(delete(Payment).where(Payment.tx_id == row.tx_id))
            log.warning(
                "transaction expired without being included; nothing is re-signed, the payouts "
                "job re-reads what is still due",
                extra={"tx_id": row.tx_id, "kind": row.kind},
            )

    def _find(self, row: JournalTx, head: int, txs_in: Any) -> int | None:
        status = self._transaction_status(row.tx_id)
        if status is not None:
            state, block = status
            if state in {"IN_BLOCK", "IRREVERSIBLE"} and block is not None:
                return block
            if state in {"LOCALLY_EXECUTED", "UNKNOWN", "FORKED_OUT", "FAILED"}:
                return None
        # Without the status API: the trace names the block the node executed it in; it lands
        # there or, when that block filled up, in one of the next few. With no trace (the send's
        # outcome is unknown), search from the head block at signing time.
        if row.block_num is not None:
            start, last = row.block_num, row.block_num + 10
        elif row.search_from is not None:
            # It cannot be in a block after its expiration (blocks every 0.5 s).
            lifetime = (row.expiration - row.created_at).total_seconds()
            span = min(MAX_BLIND_SEARCH_BLOCKS, int(lifetime * 2) + 4)
            start, last = row.search_from, row.search_from + span
        else:
            return None
        for num in range(start, min(head, last) + 1):
            if row.tx_id in txs_in(num):
                return num
        return None

    def _transaction_status(self, tx_id: str) -> tuple[str, int | None] | None:
        if self._status_api is False:
            return None
        try:
            res = self.client.transaction_status(tx_id)
        except ChainError:
            self._status_api = False
            return None
        if not res:
            self._status_api = False
            return None
        self._status_api = True
        state = str(res.get("state", "UNKNOWN"))
        block = res.get("block_number")
        return state, int(block) if block not in (None, "") else None

    def _set(self, row: JournalTx, status: str, **fields: Any) -> None:
        with self.journal.session() as s:
            fresh = Journal.get(s, row.tx_id)
            if fresh is not None:
                Journal.set_status(s, fresh, status, **fields)
        log.debug("transaction status", extra={"tx_id": row.tx_id, "status": status})
