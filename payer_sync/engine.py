"""One sync: source totals → diff with the chain → funded batches → sent, confirmed.

The chain is the truth. Totals on chain are absolute (``new_total``), so a booking sent twice
cannot pay twice: a batch that already landed is refused with "no total was raised" (or as a
duplicate transaction id when the very same signed transaction is re-sent) and is counted as
already done. Bookings go through the engine's one send path (:mod:`payoutengine.sending`):
every signed transaction is journaled before it is sent; after a crash the next run re-sends
journaled transactions that have not expired, then compares with the chain again and books only
what is still missing. A booking is confirmed when the tracker finds it in an irreversible
block; one that expires in no block (the node lost it, a fork dropped it) is not counted: the
chain is read again and what is still missing is booked with a new signature.

No sync books while the chain does not finalize blocks (the last irreversible block more than
``[chain] max_lib_lag_s`` behind the head): it raises :class:`ChainStalledError` before sending
anything (``once`` exits 3; ``run`` logs it once and tries again every interval).

A batch the chain refuses for one bad record is not lost as a whole: nonexistent accounts are
found and skipped, anything else is split in halves until the refusing records are isolated.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from payoutengine.amounts import Asset, gross_up
from payoutengine.chaintime import parse_chain_time
from payoutengine.client import ApiNotAvailable, ChainClient
from payoutengine.contract import Msg
from payoutengine.errors import (
    AmountError,
    ChainStalledError,
    ConfigError,
    EndpointError,
    TransactionError,
)
from payoutengine.journal import (
    EXPIRED,
    FAILED,
    IDLE,
    IRREVERSIBLE,
    Journal,
    JournalTx,
    utcnow,
)
from payoutengine.keys import PrivateKey, load_key
from payoutengine.names import name_problem
from payoutengine.resourcekeeper import RESOURCE_KINDS, ResourceKeeper, ResourceMetrics
from payoutengine.sending import Sender, SendResult, Tracker
from payoutengine.transactions import SignedTransaction

from . import state
from .chain import ScheduleChain, is_no_account
from .config import SyncConfig
from .ledger import init_db, make_engine
from .plan import Increase, Piece, allocate, diff, diff_stream, make_batches
from .report import Failure, SyncReport
from .sources import LedgerSource, QuerySource, Source
from .state import open_state

__all__ = ["BOOKING_KIND", "Syncer"]

log = logging.getLogger(__name__)

#: the journal kind of a booking transaction
BOOKING_KIND = "bookm"
#: how often a booking that expired in no block is booked again within one sync
REBOOK_ROUNDS = 3

WATERMARK_KEY = "ledger_watermark"
LAST_FULL_KEY = "last_full_scan"
#: the summary of the last sync (SyncReport.summary), for the operator page
LAST_REPORT_KEY = "last_report"

#: refresh the TAPoS/expiration reference this often while sending many batches
INFO_MAX_AGE_S = 10.0
SEND_ATTEMPTS = 3
#: times a batch is booked again after the payer got the RAM/CPU/NET it lacked
RESOURCE_RETRIES = 3

Progress = Callable[[str, int], None]


class _StopBooking(Exception):
    """Booking cannot go on in this sync (funds changed under us, endpoint down)."""


@dataclass
class _Sent:
    tx_id: str
    #: what it booked (empty for a transaction of an interrupted run)
    batch: list[Increase]


class Syncer:
    """Runs syncs for one schedule. Build with :meth:`from_config`, or pass the parts."""

    def __init__(
        self,
        config: SyncConfig,
        *,
        chain: ScheduleChain,
        source: Source,
        journal: Journal,
        progress: Progress | None = None,
        resource_metrics: ResourceMetrics | None = None,
    ) -> None:
        self.config, self.chain, self.source = config, chain, source
        self.journal, self.progress = journal, progress
        self._info: dict[str, object] | None = None
        self._info_at = 0.0
        client = chain.client
        keys = [chain.key] if chain.key is not None else []
        self.sender = Sender(
            client,
            journal,
            keys,
            expiration_s=config.batch.expiration_s,
            refusal_status=_refusal_status,
        )
        self.tracker = Tracker(
            client,
            journal,
            self.sender,
            kinds=[BOOKING_KIND, *RESOURCE_KINDS],
            resend_after_s=max(10.0, 2 * config.chain.timeout_s),
        )
        #: the payer's CPU/NET/RAM within [resources] (bookings and open rows need RAM)
        self.resources = ResourceKeeper(
            client,
            journal,
            config.resources,
            account=chain.payer,
            permission=chain.permission,
            sender=self.sender,
            metrics=resource_metrics,
        )

    @classmethod
    def from_config(
        cls,
        config: SyncConfig,
        *,
        client: ChainClient | None = None,
        key: PrivateKey | None = None,
        need_key: bool = True,
        progress: Progress | None = None,
        resource_metrics: ResourceMetrics | None = None,
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
        )
        source = _source(config)
        journal = open_state(config.state.url)
        return cls(
            config,
            chain=chain,
            source=source,
            journal=journal,
            progress=progress,
            resource_metrics=resource_metrics,
        )

    def value(self, key: str) -> str | None:
        """A small value of the local state (the watermark, the time of the last full scan)."""
        with self.journal.session() as s:
            return state.get_value(s, key)

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
            self._check_finality()
        recovered = [] if dry_run else self._recover(report)
        try:
            self._sync(report, recovered, full=full, dry_run=dry_run)
        finally:
            report.rpc_calls = client.rpc_calls - calls0
            report.rpc_bytes = client.rpc_bytes - bytes0
            report.elapsed_s = time.monotonic() - t0
        if not dry_run:
            # every sync also follows what is still open (a RAM purchase whose block is not
            # final yet), even when it had nothing to book and so nothing to confirm
            self.tracker.run_once()
            # the operator page (payoutengine web) shows the last report of each sync
            with self.journal.session() as s:
                state.put_value(s, LAST_REPORT_KEY, json.dumps(report.summary(sched.name)))
        return report

    def _check_finality(self) -> None:
        """Refuse to book (ChainStalledError) while the last irreversible block lags the head
        block by more than ``[chain] max_lib_lag_s``: a booking sent now could still be dropped
        by a fork and would not be confirmed; the next sync books once blocks become final."""
        client = self.chain.client
        info = client.get_info()
        lib = int(info["last_irreversible_block_num"])
        lib_time = info.get("last_irreversible_block_time") or client.get_block(lib)["timestamp"]
        lag = (
            parse_chain_time(str(info["head_block_time"])) - parse_chain_time(str(lib_time))
        ).total_seconds()
        limit = self.config.chain.max_lib_lag_s
        if lag > limit:
            raise ChainStalledError(
                f"The chain's last irreversible block ({lib}) is {lag:.0f} s behind its head "
                f"block (limit [chain] max_lib_lag_s = {limit:g} s): blocks are not becoming "
                "final, so nothing is booked now; a later sync books once they do.",
                endpoint=", ".join(client.endpoints),
                lag_s=lag,
            )

    # -- recovery -------------------------------------------------------------------------
    def _recover(self, report: SyncReport) -> list[_Sent]:
        """Re-send the same bytes of every booking an interrupted run left open (an expired
        one cannot land any more); all of them are followed to the end of this sync."""
        with self.journal.session() as s:
            rows = list(Journal.open_transactions(s, kinds=[BOOKING_KIND]))
        now = utcnow()
        for row in rows:
            if row.expiration <= now:
                report.recovered_dropped += 1
                continue
            self._resend(row, report)
        return [_Sent(row.tx_id, []) for row in rows]

    def _resend(self, row: JournalTx, report: SyncReport) -> None:
        signed = SignedTransaction.from_json(json.loads(row.signed_json))
        try:
            result = self.sender.send_journaled(signed)
        except TransactionError as exc:
            if exc.message == Msg.NO_TOTAL_RAISED:
                report.recovered_already += 1
                log.info("interrupted transaction %s: its totals are booked already", row.tx_id)
            else:
                report.recovered_dropped += 1
                log.info("interrupted transaction %s is refused now: %s", row.tx_id, exc)
            return
        if result.duplicate:
            report.recovered_already += 1
            log.info("interrupted transaction %s had already landed", row.tx_id)
        else:
            report.recovered_sent += 1
            log.info("re-sent interrupted transaction %s: it landed now", row.tx_id)

    # -- the sync -------------------------------------------------------------------------
    def _sync(
        self, report: SyncReport, recovered: list[_Sent], *, full: bool, dry_run: bool
    ) -> None:
        sched = self.chain.schedule
        precision = sched.symbol.precision
        with self.journal.session() as s:
            watermark = state.get_value(s, WATERMARK_KEY) if self.source.incremental else None
            marks = state.marks(s)
            cached = state.invalid_names(s, recheck_after_s=self.config.run.invalid_recheck_s)
        names: set[str] | None = None
        if not full and self.source.incremental and watermark is not None:
            changed, _ = self.source.changed_since(watermark)
            names = changed | set(marks)
        else:
            report.mode = "full"

        scan = self.source.scan(precision, recipients=names)
        report.rejected = scan.rejected
        report.carried = scan.carried
        rejected_names = {r.recipient for r in scan.rejected}

        # names: malformed ones are skipped for good; cached nonexistent ones until recheck
        malformed: dict[str, str] = {}
        for name in scan.totals:
            problem = name_problem(name)
            if problem:
                malformed[name] = f"not a valid account name: {problem}"
            elif name == self.chain.contract:
                malformed[name] = "the payout contract itself cannot be a recipient"
        with self.journal.session() as s:
            state.mark_invalid(
                s, {n: r for n, r in malformed.items() if n not in cached}, permanent=True
            )
        skip = dict(malformed)
        for name, reason in cached.items():
            if name in scan.totals:
                skip[name] = reason
        totals = {n: t for n, t in scan.totals.items() if n not in skip}

        # the chain side
        if names is None:
            # every recipient row, compared as it is read (nothing of the chain side is held)
            increases, report.discrepancies, report.compared = diff_stream(
                totals, self._recipient_rows(), exclude=rejected_names | set(skip)
            )
            compared: set[str] | None = None
        else:
            compared = {n for n in names if n not in skip and n not in rejected_names}
            compared = {n for n in compared if name_problem(n) is None}
            booked = self.chain.booked_of(sorted(compared))
            report.compared = len(compared)
            increases, report.discrepancies = diff(totals, booked, recipients=compared)
        del totals
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
        if report.shortfall:
            by_name = {c.recipient: c for c in chosen}
            report.unfunded = [
                replace(i, booked=by_name[i.recipient].new_total) if i.recipient in by_name else i
                for i in increases
                if i.recipient not in by_name or by_name[i.recipient].new_total < i.new_total
            ]
            del by_name
        del increases
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
        unsettled = self._confirm(recovered + sent, report)

        # remember who is still owed a booking; forget who is done
        pending = {i.recipient for i in report.unfunded} | unsettled
        for f in report.failures:
            pending.update(f.recipients)
        done = [n for n in marks if (compared is None or n in compared) and n not in pending]
        landed = {i.recipient for i in report.booked} | {i.recipient for i in report.already}
        with self.journal.session() as s:
            state.set_marks(s, pending, done)
            known = state.invalid_names(s, recheck_after_s=float("inf"))
            state.clear_invalid(s, landed & known.keys())
            if scan.watermark is not None and self.source.incremental:
                state.put_value(s, WATERMARK_KEY, scan.watermark)
            if report.mode == "full":
                state.put_value(s, LAST_FULL_KEY, utcnow().isoformat())

    def _recipient_rows(self) -> Iterator[tuple[str, int]]:
        """The schedule's ``(account, booked_total)`` rows, reporting progress."""
        for n, row in enumerate(self.chain.iter_recipients(), 1):
            yield row
            if self.progress and n % 1000 == 0:
                self.progress("reading recipients", 1000)

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

    def _book(
        self, batch: list[Increase], report: SyncReport, sent: list[_Sent], *, attempt: int = 0
    ) -> None:
        if not batch:
            return
        if self._info is None or time.monotonic() - self._info_at > INFO_MAX_AGE_S:
            self._refresh_info()
        assert self._info is not None
        signed = self.sender.sign(self.chain.booking_actions(batch), info=self._info)
        self.sender.record(
            signed,
            kind=BOOKING_KIND,
            data={
                "recipients": [i.recipient for i in batch],
                # the audit trail of `payoutengine sync report`: each booked total before and
                # after this transaction, in smallest units of the schedule's token
                "symbol": str(self.chain.schedule.symbol),
                "totals": [[i.recipient, i.booked, i.new_total] for i in batch],
            },
            search_from=int(str(self._info["head_block_num"])),
        )
        try:
            result = self._send(signed)
        except TransactionError as exc:
            self._refused(batch, exc, report, sent, attempt=attempt)
            return
        report.transactions += 1
        if result.duplicate:  # this very transaction had landed before
            report.already.extend(batch)
        else:
            report.booked.extend(batch)
        sent.append(_Sent(signed.id, batch))

    def _refresh_info(self) -> None:
        self._info = self.chain.client.get_info()
        self._info_at = time.monotonic()

    def _send(self, signed: SignedTransaction) -> SendResult:
        """Send; re-send the same bytes when the endpoint fails (they may have landed)."""
        last: EndpointError | None = None
        for attempt in range(SEND_ATTEMPTS):
            try:
                return self.sender.send_journaled(signed)
            except EndpointError as exc:
                last = exc
                log.warning("sending %s failed (%s); retrying", signed.id, exc)
                time.sleep(0.5 * (attempt + 1))
        # the journal keeps it: the tracker, or the next run, re-sends it
        raise _StopBooking(f"the chain API could not be reached: {last}")

    def _refused(
        self,
        batch: list[Increase],
        exc: TransactionError,
        report: SyncReport,
        sent: list[_Sent],
        *,
        attempt: int = 0,
    ) -> None:
        msg = exc.message
        exhaustion = self.resources.handle(exc)
        if exhaustion is not None and exhaustion.scope == "account":
            # the payer is out of RAM (or CPU/NET): the keeper bought what it could within
            # [resources]; book the same records again, or leave them for a later sync
            if self.resources.satisfied(exhaustion) and attempt < RESOURCE_RETRIES:
                self._book(batch, report, sent, attempt=attempt + 1)
                return
            raise _StopBooking(
                f"the payer account is out of {exhaustion.resource.upper()} and its "
                "[resources] budget cannot get more now; the bookings wait for a later sync"
            )
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
                with self.journal.session() as s:
                    state.mark_invalid(s, reasons, permanent=False)
                report.invalid.update(reasons)
                self._book([i for i in batch if i.recipient not in missing], report, sent)
                return
        if exc.expired:
            self._refresh_info()
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

    def _confirm(self, sent: list[_Sent], report: SyncReport) -> set[str]:
        """Follow the sent bookings to irreversible blocks. A booking that expired in no block
        is booked again (after reading the chain: new signature, new id) up to REBOOK_ROUNDS
        times. Returns the recipients whose booking is not confirmed."""
        if not sent or self.config.batch.confirm == "none":
            return set()
        unsettled: set[str] = set()
        for _round in range(REBOOK_ROUNDS + 1):
            statuses = self.tracker.follow(
                [x.tx_id for x in sent], timeout_s=self.config.batch.confirm_timeout_s
            )
            lost = [x for x in sent if statuses.get(x.tx_id) == EXPIRED]
            waiting = [
                x for x in sent if statuses.get(x.tx_id) not in (EXPIRED, IRREVERSIBLE, None)
            ]
            report.unconfirmed = len(waiting)
            unsettled = self._recipients(waiting)
            if report.unconfirmed:
                log.warning(
                    "%d transactions are not irreversible yet; they stay journaled",
                    report.unconfirmed,
                )
            if not lost:
                return unsettled
            lost_names = self._recipients(lost)
            # what the lost bookings of this sync carried; a lost booking of an interrupted
            # run carries nothing here: this sync compared its recipients again, and what it
            # booked for them stands
            carried = {i.recipient for x in lost for i in x.batch}
            log.warning(
                "%d booking transactions expired without reaching a block; reading the chain "
                "again for their %d recipients",
                len(lost),
                len(lost_names),
            )
            report.booked = [i for i in report.booked if i.recipient not in carried]
            report.already = [i for i in report.already if i.recipient not in carried]
            increases = [i for x in lost for i in x.batch]
            # recipients of an interrupted run's booking: the next sync compares them again
            unsettled |= lost_names - carried
            sent = []
            if _round < REBOOK_ROUNDS:
                sent = self._rebook(increases, report)
            else:
                unsettled |= lost_names
                report.failures.append(
                    Failure(
                        tuple(sorted(i.recipient for i in increases)),
                        "the booking expired without reaching a block, again and again",
                    )
                )
            if not sent:
                return unsettled
        return unsettled

    def _rebook(self, increases: list[Increase], report: SyncReport) -> list[_Sent]:
        """Book what is still missing of ``increases`` after their transaction was lost."""
        booked = self.chain.booked_of(sorted({i.recipient for i in increases}))
        again: list[Increase] = []
        for inc in increases:
            now = booked.get(inc.recipient)
            if now is not None and now >= inc.new_total:
                report.already.append(inc)
            else:
                again.append(replace(inc, booked=now or 0, new_recipient=now is None))
        self._refresh_info()
        return self._book_all(again, report)

    def _recipients(self, sent: Sequence[_Sent]) -> set[str]:
        ids = [x.tx_id for x in sent]
        names: set[str] = set()
        if not ids:
            return names
        with self.journal.session() as s:
            for tx_id in ids:
                row = Journal.get(s, tx_id)
                if row is not None:
                    names.update(json.loads(row.data).get("recipients", []))
        return names


def _source(config: SyncConfig) -> Source:
    """The source ``[source] kind`` names."""
    if config.source.kind == "redis":
        return _redis_source(config)
    src_engine = make_engine(config.source.url)
    if config.source.kind == "ledger":
        init_db(src_engine)
        return LedgerSource(src_engine, default_memo=config.source.default_memo)
    assert config.source.query is not None
    return QuerySource(
        src_engine,
        config.source.query,
        total_unit=config.source.total_unit,
        default_memo=config.source.default_memo,
    )


def _redis_source(config: SyncConfig) -> Source:
    from .redis_source import LoginMap, RedisSource, open_redis

    rc = config.redis
    client = open_redis(config.source.url)
    if rc.accounts_url:
        logins = LoginMap(engine=make_engine(rc.accounts_url), query=rc.accounts_query)
    else:
        logins = LoginMap(client=client, key=rc.accounts_key)
    return RedisSource(client, rc, logins=logins, default_memo=config.source.default_memo)


def _refusal_status(exc: TransactionError) -> str:
    # every total of the booking is on chain already: it landed before, or another did
    return IDLE if exc.message == Msg.NO_TOTAL_RAISED else FAILED


def _accounted(report: SyncReport) -> set[str]:
    names = {i.recipient for i in report.booked}
    names |= {i.recipient for i in report.already}
    names |= set(report.invalid)
    for f in report.failures:
        names.update(f.recipients)
    return names
