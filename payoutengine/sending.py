"""The one journaled send path of the daemon and payer sync.

:class:`Sender` signs a transaction (a new id every time), writes it to the journal
(``signed``) and only then sends it. The outcome is journaled too:

- executed: ``sent``, with the block the node executed it in, its CPU bill, and whatever the
  caller's ``on_trace`` reads from the trace;
- "duplicate transaction": the node already has these very bytes (an earlier send whose
  answer was lost): ``sent``, and the :class:`Tracker` finds it;
- rejected by the chain: ``failed`` (or ``idle`` when the caller's ``refusal_status`` says the
  refusal is a normal end of the work), with the message; the TransactionError is re-raised.
  But when the same bytes went to another endpoint first, which failed after receiving them
  (a time-out, a gateway error), that node may have run them: the refusal is not final, the
  row is ``sent`` and the tracker decides (the chaos suite found such a transaction journaled
  ``idle`` while a block held it);
- outcome unknown (the endpoint failed mid-request): stays ``signed``; the same bytes are sent
  again (by the caller at once, or by the tracker later).

:class:`Tracker` follows open transactions to irreversibility: through the node's transaction
status API when it has one, otherwise through the blocks themselves. A transaction that leaves
its block in a fork is searched again; one in no block once its expiration is behind the last
irreversible block (no fork can still take it) is ``expired``, and nothing it carried is
assumed done. It is never re-signed here: the caller
re-reads the chain and decides. When a transaction is found whose trace was never read (the
send's answer was lost), its trace is read from the node's trace API and handed to
``on_trace``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .chaintime import naive_utc, parse_chain_time
from .client import ApiNotAvailable, ChainClient
from .errors import ChainError, EndpointError, TransactionError
from .journal import (
    EXPIRED,
    FAILED,
    FINAL_STATUSES,
    INCLUDED,
    IRREVERSIBLE,
    SENT,
    SIGNED,
    Journal,
    JournalTx,
    Payment,
    utcnow,
)
from .keys import PrivateKey
from .transactions import Action, SignedTransaction

__all__ = ["SendResult", "Sender", "Tracker", "fetch_trace"]

log = logging.getLogger(__name__)

#: blocks searched for a transaction whose send outcome is unknown, when the node offers no
#: transaction status API (a transaction lives at most an hour; 2 blocks a second).
MAX_BLIND_SEARCH_BLOCKS = 7200
#: blocks after the one the trace named where a transaction may still land (a full block).
LANDING_SLACK_BLOCKS = 10
#: blocks past irreversibility during which a missing trace is asked for again (a minute).
FINAL_TRACE_PATIENCE_BLOCKS = 120
#: ``Tracker.follow``: a chain whose last irreversible block trails its head by at most this
#: many blocks is final within about a second (one producer, or Savanna's finality) ...
FAST_FINALITY_BLOCKS = 3
#: ... and is asked this often (a get_info) while a followed transaction waits ...
FOLLOW_POLL_FAST_S = 0.05
#: ... else this often (legacy consensus: irreversibility trails by a few minutes).
FOLLOW_POLL_SLOW_S = 1.0

#: reads facts from a transaction's trace into the journal (called in the caller's session).
TraceHandler = Callable[[Session, JournalTx, Mapping[str, Any]], None]
#: the same at irreversibility, with the irreversible block's trace (None: the node serves no
#: traces, what the send's answer said stands).
FinalTraceHandler = Callable[[Session, JournalTx, Mapping[str, Any] | None], None]


@dataclass(frozen=True)
class SendResult:
    tx_id: str
    block_num: int | None
    cpu_usage_us: int | None
    #: the node's answer; None when the node already had these bytes ("duplicate")
    trace: Mapping[str, Any] | None

    @property
    def duplicate(self) -> bool:
        return self.trace is None


def _processed(trace: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = trace.get("processed")
    return inner if isinstance(inner, Mapping) else trace


def _int_or_none(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class Sender:
    """Signs, journals and sends transactions for one signer.

    Args:
        on_trace: reads what the caller needs from an executed transaction's trace (in the
            layout of ``send_transaction2``'s ``processed``), in the session that marks it
            read; called once per transaction.
        refusal_status: the journal status of a transaction the chain refused (default
            ``failed``).
        on_final_trace: reads the trace of the transaction *as its irreversible block holds
            it* (from the node's trace API), in the session that marks it irreversible. The
            send's answer is the answering node's speculative run: on a network of producers
            the block may have run it on another state (another transaction of the same signer
            landed first, through another node), and what it did can differ.
    """

    def __init__(
        self,
        client: ChainClient,
        journal: Journal,
        keys: Sequence[PrivateKey],
        *,
        expiration_s: int,
        on_trace: TraceHandler | None = None,
        refusal_status: Callable[[TransactionError], str] = lambda _e: FAILED,
        failure_trace: bool = False,
        on_final_trace: FinalTraceHandler | None = None,
    ) -> None:
        self.client = client
        self.on_final_trace = on_final_trace
        self.journal = journal
        self.keys = list(keys)
        self.expiration_s = expiration_s
        self.on_trace = on_trace
        self.refusal_status = refusal_status
        self.failure_trace = failure_trace
        self._recent: deque[str] = deque(maxlen=4096)
        self._recent_set: set[str] = set()
        self._lock = threading.Lock()

    def sign(
        self, actions: Sequence[Action], *, info: Mapping[str, Any] | None = None
    ) -> SignedTransaction:
        """Sign ``actions``. Two identical transactions signed within one second would share
        an id (the second refused as a duplicate), so the expiration grows until it is new."""
        extra = 0
        while True:
            signed = self.client.build(
                list(actions),
                self.keys,
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

    def record(
        self, signed: SignedTransaction, *, kind: str, data: Any, search_from: int | None
    ) -> None:
        """Write a signed transaction to the journal; nothing is sent before this returns."""
        with self.journal.session() as s:
            Journal.record_signed(
                s,
                tx_id=signed.id,
                kind=kind,
                data=data,
                signed_json=json.dumps(signed.to_json()),
                expiration=signed.expiration,
                search_from=search_from,
            )

    def send_new(
        self,
        actions: Sequence[Action],
        *,
        kind: str,
        data: Any,
        info: Mapping[str, Any] | None = None,
    ) -> SendResult:
        """Sign, journal and send once (see :meth:`send_journaled`)."""
        info = info or self.client.get_info()
        signed = self.sign(actions, info=info)
        self.record(signed, kind=kind, data=data, search_from=int(info["head_block_num"]))
        return self.send_journaled(signed)

    def send_journaled(self, signed: SignedTransaction) -> SendResult:
        """Send a journaled transaction's bytes. Raises TransactionError (journaled as
        refused) or EndpointError (outcome unknown: the row stays as it was)."""
        tx_id = signed.id
        try:
            answer = self.client.send(signed, failure_trace=self.failure_trace)
        except TransactionError as e:
            if e.duplicate:
                with self.journal.session() as s:
                    row = Journal.get(s, tx_id)
                    if row is not None and row.status == SIGNED:
                        Journal.set_status(s, row, SENT, sent_at=utcnow())
                return SendResult(tx_id, None, None, None)
            with self.journal.session() as s:
                row = Journal.get(s, tx_id)
                if row is not None and row.status not in FINAL_STATUSES:
                    if e.maybe_elsewhere:
                        # An endpoint that failed after receiving these bytes may have run
                        # them: the tracker decides (found in a block, or expired).
                        Journal.set_status(
                            s,
                            row,
                            SENT if row.status == SIGNED else row.status,
                            error=e.message[:2000],
                            send_attempts=row.send_attempts + 1,
                            sent_at=row.sent_at or utcnow(),
                        )
                    else:
                        Journal.set_status(
                            s,
                            row,
                            self.refusal_status(e),
                            error=e.message[:2000],
                            send_attempts=row.send_attempts + 1,
                        )
            raise
        except EndpointError:
            with self.journal.session() as s:
                row = Journal.get(s, tx_id)
                if row is not None:
                    row.send_attempts += 1
            raise
        processed = _processed(answer)
        block_num = _int_or_none(processed.get("block_num"))
        cpu = _int_or_none((processed.get("receipt") or {}).get("cpu_usage_us"))
        with self.journal.session() as s:
            row = Journal.get(s, tx_id)
            if row is not None:
                fields: dict[str, Any] = {"send_attempts": row.send_attempts + 1}
                if row.status == SIGNED:
                    fields.update(sent_at=utcnow(), block_num=block_num, cpu_usage_us=cpu)
                    Journal.set_status(s, row, SENT, **fields)
                else:
                    row.send_attempts = fields["send_attempts"]
                self._read_trace(s, row, processed)
        return SendResult(tx_id, block_num, cpu, answer)

    def _read_trace(self, s: Session, row: JournalTx, processed: Mapping[str, Any]) -> None:
        if row.trace_read:
            return
        row.trace_read = True
        if self.on_trace is not None:
            self.on_trace(s, row, processed)

    def read_trace_from_chain(self, row: JournalTx, block_num: int) -> bool:
        """Read the trace of a transaction found in ``block_num`` whose send answer was lost.
        False when the node cannot give it (no trace API)."""
        trace = fetch_trace(self.client, row.tx_id, block_num)
        if trace is None:
            return False
        with self.journal.session() as s:
            fresh = Journal.get(s, row.tx_id)
            if fresh is not None:
                self._read_trace(s, fresh, trace)
        return True

    def resend(self, row: JournalTx) -> None:
        """Send a journaled transaction's identical bytes again (never re-signed)."""
        signed = SignedTransaction.from_json(json.loads(row.signed_json))
        try:
            self.send_journaled(signed)
        except TransactionError as e:
            log.warning(
                "re-sent transaction was rejected",
                extra={"tx_id": row.tx_id, "kind": row.kind, "error": e.message},
            )


def fetch_trace(client: ChainClient, tx_id: str, block_num: int) -> dict[str, Any] | None:
    """The trace of ``tx_id`` in block ``block_num`` from the node's trace API, in the layout
    of ``send_transaction2``'s ``processed`` (``action_traces`` with decoded ``act.data``).
    None when the node has no trace API or the block does not hold the transaction."""
    try:
        block = client.call("/v1/trace_api/get_block", {"block_num": block_num})
    except ApiNotAvailable:
        return None
    except EndpointError:
        raise
    except ChainError as e:
        log.warning("could not read a block's traces", extra={"block": block_num, "error": str(e)})
        return None
    for trx in block.get("transactions") or []:
        if trx.get("id") != tx_id:
            continue
        traces = []
        for act in trx.get("actions") or []:
            data = act.get("params")
            if not isinstance(data, Mapping):
                data = _decode(client, str(act.get("account")), str(act.get("action")), act)
            traces.append(
                {
                    "receiver": act.get("receiver"),
                    "act": {"account": act.get("account"), "name": act.get("action"), "data": data},
                }
            )
        return {"id": tx_id, "block_num": block_num, "action_traces": traces}
    return None


def _decode(client: ChainClient, account: str, action: str, act: Mapping[str, Any]) -> Any:
    raw = act.get("data")
    if not isinstance(raw, str):
        return None
    try:
        abi = client.abi_for(account)
        if abi is None or not abi.has_action(action):
            return None
        return abi.decode_action(action, bytes.fromhex(raw))
    except (ChainError, ValueError):
        return None


class Tracker:
    """Follows journaled transactions to irreversibility (or expiry).

    Args:
        resend_after_s: a ``signed`` row of this process is re-sent when it is older than
            this (rows of an earlier run at once).
        kinds: follow only transactions of these kinds (default: all).
    """

    def __init__(
        self,
        client: ChainClient,
        journal: Journal,
        sender: Sender,
        *,
        resend_after_s: float = 10.0,
        kinds: Collection[str] | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client = client
        self.journal = journal
        self.sender = sender
        self.resend_after_s = resend_after_s
        self.kinds = list(kinds) if kinds is not None else None
        self.stopping = stopping
        self._status_api: bool | None = None
        self._started = utcnow()
        self._no_traces_logged = False
        self._trace_api: bool | None = None
        #: head − last irreversible block at the last pass (None before the first)
        self._finality_lag: int | None = None

    def run_once(self) -> None:
        """One pass over the open transactions."""
        with self.journal.session() as s:
            rows = list(Journal.open_transactions(s, kinds=self.kinds))
        if not rows:
            return
        info = self.client.get_info()
        head = int(info["head_block_num"])
        lib = int(info["last_irreversible_block_num"])
        self._finality_lag = head - lib
        # A transaction is given up only once its expiration is behind the *irreversible*
        # block: a node's head time can be past it on a fork that then loses (a partitioned
        # node), while the winning fork holds the transaction.
        final_time = naive_utc(
            parse_chain_time(
                str(info.get("last_irreversible_block_time") or info["head_block_time"])
            )
        )
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
                self._advance(row, head, lib, final_time, txs_in)
            except EndpointError:
                raise
            except ChainError as e:
                log.warning(
                    "could not follow transaction", extra={"tx_id": row.tx_id, "error": str(e)}
                )

    def follow(self, tx_ids: Sequence[str], *, timeout_s: float) -> dict[str, str]:
        """Run passes until every one of ``tx_ids`` is settled (irreversible, refused or
        expired) or ``timeout_s`` passed; their journal statuses.

        Between passes it waits :data:`FOLLOW_POLL_FAST_S` while the node's last irreversible
        block is at most :data:`FAST_FINALITY_BLOCKS` behind its head (a chain final within
        about a second: a transaction is irreversible one or two blocks after its own, and
        the wait is mostly the chain's), else :data:`FOLLOW_POLL_SLOW_S` (a chain whose
        finality lags by minutes: asking more often would only load the endpoint)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.journal.session() as s:
                statuses = Journal.statuses(s, tx_ids)
            if all(st in FINAL_STATUSES for st in statuses.values()) or self.stopping():
                return statuses
            if time.monotonic() > deadline:
                return statuses
            self.run_once()
            lag = self._finality_lag
            fast = lag is not None and lag <= FAST_FINALITY_BLOCKS
            time.sleep(FOLLOW_POLL_FAST_S if fast else FOLLOW_POLL_SLOW_S)

    def _advance(
        self,
        row: JournalTx,
        head: int,
        lib: int,
        final_time: dt.datetime,
        txs_in: Callable[[int], set[str]],
    ) -> None:
        expired = final_time > row.expiration
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
            if start > head:
                return  # that block is not produced yet
            if row.status == INCLUDED and start > lib:
                return  # in a block; wait for irreversibility without asking again
            if self._status_api is False and row.tx_id in txs_in(start):
                # Blocks only, one cached block per pass: the trace named the block.
                self._found(row, start, lib)
                return
            # Ask the node (a small answer), or search the blocks: it may have been forked out.
        found = self._find(row, head, txs_in, thorough=expired)
        if found is not None:
            self._found(row, found, lib)
            return
        if expired:
            self._set(row, EXPIRED, error="expired without being included in a block")
            with self.journal.session() as s:
                # what its trace said it paid never happened
                s.execute(delete(Payment).where(Payment.tx_id == row.tx_id))
            log.warning(
                "transaction expired without being included; it is not re-signed, its signer "
                "re-reads the chain",
                extra={"tx_id": row.tx_id, "kind": row.kind},
            )

    def _found(self, row: JournalTx, block: int, lib: int) -> None:
        fields: dict[str, Any] = {"block_num": block}
        if not row.trace_read and not self._read_trace(row, block) and block <= lib:
            # asked on every pass until now; the node will not have it later either
            log.warning(
                "the node has no trace of this transaction; what it did is not journaled",
                extra={"tx_id": row.tx_id, "block": block},
            )
            fields["trace_read"] = True
        if block <= lib:
            if self.sender.on_final_trace is not None and not self._read_final_trace(
                row, block, lib
            ):
                return  # the node will serve the block's traces on a later pass
            self._set(row, IRREVERSIBLE, **fields)
        elif row.status != INCLUDED or row.block_num != block:
            self._set(row, INCLUDED, **fields)

    def _read_final_trace(self, row: JournalTx, block: int, lib: int) -> bool:
        """Hand the irreversible block's trace to the sender's ``on_final_trace``. False when
        the node could not serve it now (asked again on the next pass); True once handed over
        — None instead of the trace when the node has no trace API at all (then the send's
        answer stands, logged once)."""
        trace = fetch_trace(self.client, row.tx_id, block)
        if trace is None and self._traces_available():
            if lib - block <= FINAL_TRACE_PATIENCE_BLOCKS:
                return False
            log.warning(
                "the node serves no trace of an irreversible transaction; what it did "
                "stays journaled from the send's answer",
                extra={"tx_id": row.tx_id, "block": block},
            )
        handler = self.sender.on_final_trace
        assert handler is not None
        with self.journal.session() as s:
            fresh = Journal.get(s, row.tx_id)
            if fresh is not None:
                handler(s, fresh, trace)
        return True

    def _traces_available(self) -> bool:
        """Whether the node serves the trace API (asked once)."""
        if self._trace_api is None:
            try:
                self.client.call("/v1/trace_api/get_block", {"block_num": 1})
                self._trace_api = True
            except ApiNotAvailable:
                self._trace_api = False
                log.warning(
                    "the node has no trace API: what a transaction did is journaled from the "
                    "send's answer, not from its irreversible block (enable trace_api_plugin)"
                )
            except ChainError:
                self._trace_api = True  # it answered; block 1 may just be pruned
        return bool(self._trace_api)

    def _read_trace(self, row: JournalTx, block: int) -> bool:
        ok = self.sender.read_trace_from_chain(row, block)
        if not ok and not self._no_traces_logged:
            self._no_traces_logged = True
            log.warning(
                "the node offers no trace of a transaction whose send answer was lost "
                "(enable trace_api_plugin to journal what it did)",
                extra={"tx_id": row.tx_id},
            )
        return ok

    def _find(
        self, row: JournalTx, head: int, txs_in: Callable[[int], set[str]], *, thorough: bool
    ) -> int | None:
        """The block holding the transaction, or None. ``thorough`` (before calling it
        expired): search every block it could be in, whatever the status API says (a node
        that restarted has forgotten the statuses of earlier transactions)."""
        status = self._transaction_status(row.tx_id)
        if status is not None:
            state, block = status
            if state in {"IN_BLOCK", "IRREVERSIBLE"} and block is not None:
                return block
            if not thorough:
                return None
        # The trace names the block the node executed it in; it lands there or, when that
        # block filled up, in one of the next few (or, after a fork, in one since it was
        # signed). With no trace (the send's outcome is unknown), or before calling it
        # expired, search from the head block at signing time up to its expiration (blocks
        # every 0.5 s).
        known = [n for n in (row.search_from, row.block_num) if n is not None]
        if not known:
            return None
        start = min(known)
        if row.block_num is not None and not thorough:
            last = row.block_num + LANDING_SLACK_BLOCKS
        else:
            lifetime = (row.expiration - row.created_at).total_seconds()
            last = start + min(MAX_BLIND_SEARCH_BLOCKS, int(lifetime * 2) + 4)
        for num in range(start, min(head, last) + 1):
            if row.tx_id in txs_in(num):
                return num
        return None

    def _transaction_status(self, tx_id: str) -> tuple[str, int | None] | None:
        if self._status_api is False:
            return None
        try:
            res = self.client.transaction_status(tx_id)
        except EndpointError:
            raise
        except ChainError:
            self._status_api = False
            return None
        if not res:
            self._status_api = False
            return None
        self._status_api = True
        state = str(res.get("state", "UNKNOWN"))
        return state, _int_or_none(res.get("block_number"))

    def _set(self, row: JournalTx, status: str, **fields: Any) -> None:
        with self.journal.session() as s:
            fresh = Journal.get(s, row.tx_id)
            if fresh is not None:
                Journal.set_status(s, fresh, status, **fields)
        row.status = status
        for k, v in fields.items():
            setattr(row, k, v)
        log.debug("transaction status", extra={"tx_id": row.tx_id, "status": status})
