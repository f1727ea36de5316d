"""One sync: source totals → diff with the chain → funded batches → sent, confirmed.

The chain is the truth. Totals on chain are absolute (``new_total``), so a booking sent twice
cannot pay twice: a batch that already landed is refused with "no total was raised" (or as a
duplicate transaction id when the very same signed transaction is re-sent) and is counted as
already done. Every signed transaction is journaled before it is sent; after a crash the next
run re-sends journaled transactions that have not expired, then compares with the chain again
and books only what is still missing.

A batch the chain refuses for one bad record is not lost as a whole: nonexistent accounts are
found and skipped, anything else is split in halves until the refusing records are isolated.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from payoutengine.amounts import Asset, gross_up
from payoutengine.client import ApiNotAvailable, ChainClient
from payoutengine.contract import Msg
from payoutengine.errors import AmountError, ConfigError, EndpointError, TransactionError
from payoutengine.keys import PrivateKey, load_key
from payoutengine.names import name_problem
from payoutengine.transactions import SignedTransaction

from .chain import ScheduleChain, is_no_account
from .config import SyncConfig
from .ledger import init_db, make_engine
from .plan import Increase, Piece, allocate, diff, make_batches
from .report import Failure, SyncReport
from .sources import LedgerSource, QuerySource, Source
from .state import StateStore, utcnow

__all__ = ["Syncer", "CRASH_ENV"]

log = logging.getLogger(__name__)

#: test hook: "before-send" or "after-send" (optionally ":N" for the N-th transaction) makes
#: the process kill itself with SIGKILL at that point, to prove crash safety for real.
CRASH_ENV = "PAYER_SYNC_TEST_CRASH_AT"

WATERMARK_KEY = "ledger_watermark"
LAST_FULL_KEY = "last_full_scan"

#: refresh the TAPoS/expiration reference this often while sending many batches
INFO_MAX_AGE_S = 10.0
SEND_ATTEMPTS = 3

Progress = Callable[[str, int], None]


class _StopBooking(Exception):
    """Booking cannot go on in this sync (funds changed under us, endpoint down)."""


@dataclass
class _Sent:
    tx_id: str
    block_num: int | None


def _crash_point(where: str, count: int) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point == where and (not nth or int(nth) == count):
        log.warning("test hook %s=%s: killing this process now", CRASH_ENV, spec)
        os.kill(os.getpid(), signal.SIGKILL)


class Syncer:
    """Runs syncs for one schedule. Build with :meth:`from_config`, or pass the parts."""

    def __init__(
        self,
        config: SyncConfig,
        *,
        chain: ScheduleChain,
        source: Source,
        state: StateStore,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.chain = chain
        self.source = source
        self.state = state
        self.progress = progress
        self._info_at = 0.0
        self._sends = 0

    @classmethod
    def from_config(
        cls,
        config: SyncConfig,
        *,
        client: ChainClient | None = None,
        key: PrivateKey | None = None,
        need_key: bool = True,
        progress: Progress | None = None,
    ) -> Syncer:
        if key is None and need_key:
            key = load_key(config.payer.key_env, config.payer.key_file)
        client = client or ChainClient(list(config.chain.endpoints), timeout=config.chain.timeout_s)
        chain = ScheduleChain(
            client,
            contract=config.chain.contract,
            payer=config.payer.account,
            schedule_name=config.payer.schedule,
            permission=config.payer.permission,
            key=key,
            expiration_s=config.batch.expiration_s,
        )
        src_engine = make_engine(config.source.url)
        source: Source
        if config.source.kind == "ledger":
            init_db(src_engine)
            source = LedgerSource(src_engine, default_memo=config.source.default_memo)
        else:
            assert config.source.query is not None
            source = QuerySource(
                src_engine,
                config.source.query,
                total_unit=config.source.total_unit,
                default_memo=config.source.default_memo,
            )
        state = StateStore(make_engine(config.state.url))
        return cls(config, chain=chain, source=source, state=state, progress=progress)

    # -- entry point ----------------------------------------------------------------------
    def sync(self, *, full: bool = True, dry_run: bool = False) -> SyncReport:
        """One sync. ``full=False`` compares only recipients changed since the last sync
        (and those still owed a booking); without a watermark it falls back to full."""
        client = self.chain.client
        calls0, bytes0 = client.rpc_calls, client.rpc_bytes
        t0 = time.monotonic()
        report = SyncReport(mode="full" if full else "incremental", dry_run=dry_run)
        sched = self.chain.schedule
        report.symbol = sched.symbol
        if not dry_run:
            self._recover(report)
        try:
            self._sync(report, full=full, dry_run=dry_run)
        finally:
            report.rpc_calls = client.rpc_calls - calls0
            report.rpc_bytes = client.rpc_bytes - bytes0
            report.elapsed_s = time.monotonic() - t0
        return report

    # -- recovery -------------------------------------------------------------------------
    def _recover(self, report: SyncReport) -> None:
        entries = self.state.journal()
        if not entries:
            return
        now = utcnow()
        done: list[str] = []
        for e in entries:
            if e.expiration <= now:
                # cannot land any more; whatever it carried is compared again below
                report.recovered_dropped += 1
                done.append(e.tx_id)
                continue
            trx = SignedTransaction.from_json(json.loads(e.signed))
            try:
                self.chain.send(trx)
                report.recovered_sent += 1
                log.info("re-sent interrupted transaction %s: it landed now", e.tx_id)
            except TransactionError as exc:
                if exc.duplicate or exc.message == Msg.NO_TOTAL_RAISED:
                    report.recovered_already += 1
                    log.info("interrupted transaction %s had already landed", e.tx_id)
                elif exc.expired:
                    report.recovered_dropped += 1
                else:
                    report.recovered_dropped += 1
                    log.info("interrupted transaction %s is refused now: %s", e.tx_id, exc)
            done.append(e.tx_id)
        self.state.journal_remove(done)

    # -- the sync -------------------------------------------------------------------------
    def _sync(self, report: SyncReport, *, full: bool, dry_run: bool) -> None:
        sched = self.chain.schedule
        precision = sched.symbol.precision
        watermark = self.state.get(WATERMARK_KEY) if self.source.incremental else None
        marks = self.state.marks()
        names: set[str] | None = None
        if not full and self.source.incremental and watermark is not None:
            changed, _ = self.source.changed_since(watermark)
            names = changed | set(marks)
        else:
            report.mode = "full"

        scan = self.source.scan(precision, recipients=names)
        report.rejected = scan.rejected
        rejected_names = {r.recipient for r in scan.rejected}

        # names: malformed ones are skipped for good; cached nonexistent ones until recheck
        cached = self.state.invalid_names(recheck_after_s=self.config.run.invalid_recheck_s)
        malformed: dict[str, str] = {}
        for name in scan.totals:
            problem = name_problem(name)
            if problem:
                malformed[name] = f"not a valid account name: {problem}"
            elif name == self.chain.contract:
                malformed[name] = "the payout contract itself cannot be a recipient"
        self.state.mark_invalid(
            {n: r for n, r in malformed.items() if n not in cached}, permanent=True
        )
        skip = dict(malformed)
        for name, reason in cached.items():
            if name in scan.totals:
                skip[name] = reason
        totals = {n: t for n, t in scan.totals.items() if n not in skip}

        # the chain side
        if names is None:
            booked: dict[str, int] = {}
            for account, total in self.chain.iter_recipients():
                booked[account] = total
                if self.progress and len(booked) % 1000 == 0:
                    self.progress("reading recipients", 1000)
            compare: set[str] = (set(totals) | set(booked)) - rejected_names - set(skip)
        else:
            compare = {n for n in names if n not in skip and n not in rejected_names}
            compare = {n for n in compare if name_problem(n) is None}
            booked = self.chain.booked_of(sorted(compare))
        report.compared = len(compare)
        increases, report.discrepancies = diff(totals, booked, recipients=compare)
        report.invalid = dict(skip)
        for d in report.discrepancies:
            log.warning(
                "discrepancy: %s has %d in the database but %d booked on chain",
                d.recipient,
                d.db_total,
                d.booked_total,
            )

        # funds
        report.needed = sum(i.amount for i in increases)
        report.free_funds = self.chain.free_funds() if increases else 0
        free = report.free_funds
        if report.needed > free and not dry_run:
            free = self._topup(report, report.needed - free) or free
        chosen, report.shortfall = allocate(
            increases, self._pieces(increases, scan.watermark, marks, free), free
        )
        by_name = {c.recipient: c for c in chosen}
        report.unfunded = [
            replace(i, booked=by_name[i.recipient].new_total) if i.recipient in by_name else i
            for i in increases
            if i.recipient not in by_name or by_name[i.recipient].new_total < i.new_total
        ]
        if report.shortfall:
            log.warning(
                "shortfall: free funds %d do not cover increases %d; booking oldest first",
                free,
                report.needed,
            )

        if dry_run:
            report.booked = self._dry_run_all(chosen, report)
            return

        sent = self._book_all(chosen, report)
        self._confirm(sent, report)

        # remember who is still owed a booking; forget who is done
        pending = {i.recipient for i in report.unfunded}
        for f in report.failures:
            pending.update(f.recipients)
        done = [n for n in marks if n in compare and n not in pending]
        self.state.set_marks(pending, done)
        landed = {i.recipient for i in report.booked} | {i.recipient for i in report.already}
        self.state.clear_invalid(
            landed & self.state.invalid_names(recheck_after_s=float("inf")).keys()
        )
        if scan.watermark is not None and self.source.incremental:
            self.state.put(WATERMARK_KEY, scan.watermark)
        if report.mode == "full":
            self.state.put(LAST_FULL_KEY, utcnow().isoformat())

    def _pieces(
        self,
        increases: Sequence[Increase],
        watermark: str | None,
        marks: dict[str, dt.datetime],
        free: int,
    ) -> list[Piece]:
        # the split by due time is only needed when free funds do not cover everything
        if sum(i.amount for i in increases) <= free:
            return []
        pieces = self.source.pieces({i.recipient: i.booked for i in increases}, watermark=watermark)
        have = {p.recipient for p in pieces}
        now = utcnow()
        for i in increases:
            if i.recipient not in have:
                pieces.append(Piece(i.recipient, marks.get(i.recipient, now), i.amount))
        return pieces

    # -- top-up -----------------------------------------------------------------------------
    def _topup(self, report: SyncReport, missing: int) -> int | None:
        cap_text = self.config.topup.max_per_run
        if cap_text is None or missing <= 0:
            return None
        sched = self.chain.schedule
        try:
            cap = Asset.parse(cap_text, symbol=sched.symbol)
        except AmountError as exc:
            raise ConfigError(
                f"[topup] max_per_run does not fit the schedule's token: {exc}"
            ) from None
        permille = self.chain.fee_permille()
        # the contract keeps deposit - fee: deposit so that what stays covers `missing`
        amount = min(gross_up(missing, permille), cap.amount)
        try:
            self.chain.client.push(
                [self.chain.deposit_action(amount, self.config.topup.memo)],
                self.chain._keys(),
                expiration_s=self.config.batch.expiration_s,
            )
        except TransactionError as exc:
            report.topup_error = (
                f"the top-up deposit of {report.amount(amount)} failed: {exc.message}"
            )
            log.error("%s", report.topup_error)
            return None
        report.topup = amount
        report.transactions += 1
        log.info("deposited %s to cover a shortfall", report.amount(amount))
        return self.chain.free_funds()

    # -- booking ----------------------------------------------------------------------------
    def _dry_run_all(self, chosen: Sequence[Increase], report: SyncReport) -> list[Increase]:
        """Run every batch on the node without persisting anything (``compute_transaction``):
        what the chain would refuse is reported as it would be by a real sync, and nothing is
        written to the local state. Without the endpoint, the plan is shown unchecked."""
        fine: list[Increase] = []
        for batch in make_batches(chosen, self.config.batch.records_per_tx):
            try:
                self.chain.client.dry_run(self.chain.booking_actions(batch))
            except ApiNotAvailable:
                log.warning("the node has no compute_transaction: the dry run is unchecked")
                return list(chosen)
            except TransactionError as exc:
                if is_no_account(exc):
                    missing = {
                        i.recipient for i in batch if not self.chain.account_exists(i.recipient)
                    }
                    if missing:
                        report.invalid.update({n: "the account does not exist" for n in missing})
                        rest = [i for i in batch if i.recipient not in missing]
                        fine.extend(self._dry_run_all(rest, report))
                        continue
                if len(batch) > 1:  # isolate the record the chain refuses
                    half = len(batch) // 2
                    fine.extend(self._dry_run_all(batch[:half], report))
                    fine.extend(self._dry_run_all(batch[half:], report))
                    continue
                report.failures.append(Failure((batch[0].recipient,), exc.message))
                continue
            fine.extend(batch)
        return fine

    def _book_all(self, chosen: Sequence[Increase], report: SyncReport) -> list[_Sent]:
        sent: list[_Sent] = []
        batches = make_batches(chosen, self.config.batch.records_per_tx)
        try:
            for n, batch in enumerate(batches, 1):
                self._book(batch, report, sent)
                if self.progress:
                    self.progress("booking", len(batch))
                log.debug("batch %d/%d done", n, len(batches))
        except _StopBooking as stop:
            done = _accounted(report)
            left = [i for b in batches for i in b if i.recipient not in done]
            if left:
                report.failures.append(Failure(tuple(i.recipient for i in left), str(stop)))
        return sent

    def _book(self, batch: list[Increase], report: SyncReport, sent: list[_Sent]) -> None:
        if not batch:
            return
        if time.monotonic() - self._info_at > INFO_MAX_AGE_S:
            self.chain.refresh_info()
            self._info_at = time.monotonic()
        trx = self.chain.build(self.chain.booking_actions(batch))
        self.state.journal_add(trx, (i.recipient for i in batch))
        self._sends += 1
        _crash_point("before-send", self._sends)
        try:
            result = self._send(trx)
        except TransactionError as exc:
            self.state.journal_remove([trx.id])
            self._refused(batch, exc, report, sent)
            return
        _crash_point("after-send", self._sends)
        report.transactions += 1
        if result is None:  # duplicate id: this very transaction had landed before
            report.already.extend(batch)
        else:
            report.booked.extend(batch)
        block = None if result is None else (result.get("processed") or {}).get("block_num")
        self.state.journal_sent(trx.id, block)
        sent.append(_Sent(trx.id, int(block) if block is not None else None))

    def _send(self, trx: SignedTransaction) -> dict | None:
        """Send; re-send the same transaction when the endpoint fails (it may have landed).
        Returns the answer, or None when the chain already has this transaction."""
        last: EndpointError | None = None
        for attempt in range(SEND_ATTEMPTS):
            try:
                return dict(self.chain.send(trx))
            except TransactionError as exc:
                if exc.duplicate:
                    return None
                raise
            except EndpointError as exc:
                last = exc
                log.warning("sending %s failed (%s); retrying", trx.id, exc)
                time.sleep(0.5 * (attempt + 1))
        # journal entry stays: the next run re-sends it
        raise _StopBooking(f"the chain API could not be reached: {last}")

    def _refused(
        self, batch: list[Increase], exc: TransactionError, report: SyncReport, sent: list[_Sent]
    ) -> None:
        msg = exc.message
        if msg == Msg.NO_TOTAL_RAISED:
            # every record is at or below what is booked: it landed before (or concurrently)
            report.already.extend(batch)
            return
        if msg == Msg.EXCEEDS_FREE_FUNDS:
            raise _StopBooking(
                "the chain refused a booking with 'booking exceeds free funds': the payer's "
                "free funds changed during the sync"
            )
        if is_no_account(exc):
            missing = {
                i.recipient
                for i in batch
                if i.new_recipient and not self.chain.account_exists(i.recipient)
            }
            if missing:
                reasons = {n: "the account does not exist" for n in missing}
                self.state.mark_invalid(reasons, permanent=False)
                report.invalid.update(reasons)
                self._book([i for i in batch if i.recipient not in missing], report, sent)
                return
        if exc.expired:
            self.chain.refresh_info()
            self._info_at = time.monotonic()
            self._book(batch, report, sent)
            return
        if len(batch) > 1:
            half = len(batch) // 2
            log.info("batch of %d refused (%s); splitting it", len(batch), msg)
            self._book(batch[:half], report, sent)
            self._book(batch[half:], report, sent)
            return
        log.error("booking %s refused: %s", batch[0].recipient, msg)
        report.failures.append(Failure((batch[0].recipient,), msg))

    def _confirm(self, sent: list[_Sent], report: SyncReport) -> None:
        if not sent:
            return
        if self.config.batch.confirm == "none":
            self.state.journal_remove([s.tx_id for s in sent])
            return
        target = max((s.block_num or 0) for s in sent)
        deadline = time.monotonic() + self.config.batch.confirm_timeout_s
        while True:
            lib = self.chain.last_irreversible()
            if lib >= target:
                self.state.journal_remove([s.tx_id for s in sent])
                return
            if time.monotonic() > deadline:
                ok = [s.tx_id for s in sent if s.block_num is not None and s.block_num <= lib]
                self.state.journal_remove(ok)
                report.unconfirmed = len(sent) - len(ok)
                log.warning(
                    "%d transactions are not irreversible yet; they stay journaled",
                    report.unconfirmed,
                )
                return
            time.sleep(0.2)


def _accounted(report: SyncReport) -> set[str]:
    names = {i.recipient for i in report.booked}
    names |= {i.recipient for i in report.already}
    names |= set(report.invalid)
    for f in report.failures:
        names.update(f.recipients)
    return names
