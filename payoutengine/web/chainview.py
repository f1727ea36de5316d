"""What the pages read from the chain, bounded by the one account or payer asked about.

A recipient's view never scans a table that grows with recipients: per schedule it reads the
one ``recipients`` row keyed by the account (scope = schedule) and, for an open due, the one
``ready`` index entry with the account's key; then the account's ``approvals`` row, its code
hash and one balance row per token. The schedules and allowed tokens (small tables, in the
contract's scope) are cached for a few seconds. The reads of one view go out in parallel.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from ..abi import name_to_int
from ..amounts import Symbol, format_amount
from ..client import ChainClient
from ..contract import ContractTables, Due, Funds, Recipient, Schedule, Token
from ..contract.rows import Approval

__all__ = [
    "ChainView",
    "Owed",
    "PayerSchedule",
    "PayerView",
    "RecipientView",
    "WaitingRecipient",
    "fmt_units",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: recipients rows a payer page scans per schedule for its largest open dues.
PAYER_SCAN_ROWS = 2000
#: parked dues a payer page explains per schedule.
PAYER_WAITING_SHOWN = 20


def fmt_units(units: int, symbol: Symbol) -> str:
    """``1.2345 TST``: exact, from the integer of smallest units."""
    return f"{format_amount(units, symbol.precision)} {symbol.code}"


@dataclass(frozen=True)
class Owed:
    """One schedule's totals for one recipient."""

    schedule: str
    payer: str
    tkcontract: str
    symbol: Symbol
    booked: int
    paid: int
    approved: bool
    #: the due is queued for the next automatic payment (its ``ready`` flag is on)
    ready: bool
    token_allowed: bool
    has_balance_row: bool
    holds_code: bool

    @property
    def due(self) -> int:
        return self.booked - self.paid

    @property
    def reasons(self) -> list[str]:
        """Why the due is not paid automatically (empty when nothing is due)."""
        if self.due <= 0:
            return []
        out: list[str] = []
        if not self.token_allowed:
            out.append("the token is suspended by the admin; nothing is paid in it for now")
        if self.holds_code:
            out.append(
                "the account holds a contract, and contracts are never paid automatically: claim it"
            )
        elif not self.approved:
            out.append(
                "the account is not approved yet (the admin daemon approves accounts "
                "without a contract)"
            )
        if not self.has_balance_row:
            out.append(
                f"the account has no balance row for {self.symbol.code} at "
                f"{self.tkcontract}: open one first (its open action)"
            )
        if not out:
            out.append(
                "queued: the admin daemon pays it in its next round"
                if self.ready
                else "waiting to be woken: the admin daemon wakes it after an approval"
            )
        return out

    @property
    def claim_problem(self) -> str | None:
        """Why a claim would be refused now, or None when it would pay."""
        if self.due <= 0:
            return "nothing due"
        if not self.token_allowed:
            return "the token is suspended"
        if not self.has_balance_row:
            return f"no balance row for {self.symbol.code}: open one first"
        return None

    def amount(self, units: int) -> str:
        return fmt_units(units, self.symbol)


@dataclass(frozen=True)
class RecipientView:
    account: str
    exists: bool
    owed: list[Owed]
    #: (token contract, symbol) -> balance in smallest units (None: no balance row)
    balances: dict[tuple[str, Symbol], int | None]
    read_ms: float

    def balance_text(self, tkcontract: str, symbol: Symbol) -> str:
        units = self.balances.get((tkcontract, symbol))
        return "no balance row" if units is None else fmt_units(units, symbol)


@dataclass(frozen=True)
class WaitingRecipient:
    account: str
    reason: str


@dataclass(frozen=True)
class PayerSchedule:
    schedule: Schedule
    funds: Funds | None
    open_dues: int
    dues_counted_all: bool
    largest: list[Recipient]
    scanned_all: bool
    waiting: list[WaitingRecipient]


@dataclass(frozen=True)
class PayerView:
    payer: str
    schedules: list[PayerSchedule]
    funds: list[Funds]
    read_ms: float = 0.0


@dataclass
class _Cached:
    value: object = None
    at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


class ChainView:
    """The chain reads of the pages, through one :class:`ChainClient` (thread-safe reads)."""

    def __init__(
        self, client: ChainClient, contract: str, *, cache_s: float = 5.0, workers: int = 8
    ) -> None:
        self.client = client
        self.contract = contract
        self.tables = ContractTables(client, contract, page_size=500)
        self.cache_s = cache_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chainview")
        self._schedules = _Cached()
        self._tokens = _Cached()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- cached small tables ------------------------------------------------------------------

    def _cached(self, slot: _Cached, read: Callable[[], T], *, fresh: bool = False) -> T:
        with slot.lock:
            if fresh or time.monotonic() - slot.at > self.cache_s:
                slot.value = read()
                slot.at = time.monotonic()
            return slot.value  # type: ignore[return-value]

    def schedules(self, *, fresh: bool = False) -> dict[str, Schedule]:
        return self._cached(
            self._schedules, lambda: {s.name: s for s in self.tables.schedules()}, fresh=fresh
        )

    def schedule(self, name: str) -> Schedule | None:
        """The schedule (a fresh read when the cache does not know it)."""
        known = self.schedules().get(name)
        if known is not None:
            return known
        return self.schedules(fresh=True).get(name)

    def allowed_tokens(self) -> set[tuple[str, Symbol]]:
        tokens: list[Token] = self._cached(self._tokens, self.tables.tokens)
        return {(t.tkcontract, t.symbol) for t in tokens}

    # -- point reads ----------------------------------------------------------------------------

    def _parallel(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        if len(calls) == 1:
            return [calls[0]()]
        return list(self._pool.map(lambda f: f(), calls))

    def recipient_row(self, schedule: str, account: str) -> Recipient | None:
        return self.tables.recipient(schedule, account)

    def _ready(self, schedule: str, account: str) -> bool:
        key = name_to_int(account)
        page = self.client.get_table_rows(
            self.contract,
            schedule,
            Due.TABLE,
            index_position=2,
            key_type="i64",
            lower_bound=key,
            upper_bound=key,
            limit=1,
        )
        return bool(page["rows"])

    def _approval(self, account: str) -> Approval | None:
        return self.tables.approval(account)

    def balance(self, tkcontract: str, account: str, symbol: Symbol) -> int | None:
        asset = self.client.get_balance(tkcontract, account, symbol.code)
        return None if asset is None else asset.amount

    # -- views ----------------------------------------------------------------------------------

    def recipient(self, account: str) -> RecipientView:
        """Every schedule that has booked ``account``, with why an open due waits."""
        started = time.perf_counter()
        schedules = list(self.schedules().values())
        allowed = self.allowed_tokens()
        first: list[Callable[[], object]] = [
            partial(self.recipient_row, s.name, account) for s in schedules
        ]
        first.append(lambda: self._approval(account))
        first.append(lambda: self.tables.has_code(account))
        results = self._parallel(first)
        rows = results[: len(schedules)]
        approval = results[-2]
        holds_code = bool(results[-1])
        mine = [(s, r) for s, r in zip(schedules, rows, strict=True) if isinstance(r, Recipient)]
        tokens = sorted({(s.tkcontract, s.symbol) for s, _ in mine}, key=str)
        due_scheds = [s for s, r in mine if r.due > 0]
        second: list[Callable[[], object]] = [
            partial(self.balance, t[0], account, t[1]) for t in tokens
        ]
        second += [partial(self._ready, s.name, account) for s in due_scheds]
        more = self._parallel(second) if second else []
        balances: dict[tuple[str, Symbol], int | None] = {
            t: (b if isinstance(b, int) else None)
            for t, b in zip(tokens, more[: len(tokens)], strict=True)
        }
        ready = {s.name: bool(v) for s, v in zip(due_scheds, more[len(tokens) :], strict=True)}
        approved = isinstance(approval, Approval) and approval.approved
        owed = [
            Owed(
                schedule=s.name,
                payer=s.payer,
                tkcontract=s.tkcontract,
                symbol=s.symbol,
                booked=r.booked_total,
                paid=r.paid_total,
                approved=approved,
                ready=ready.get(s.name, False),
                token_allowed=(s.tkcontract, s.symbol) in allowed,
                has_balance_row=balances.get((s.tkcontract, s.symbol)) is not None,
                holds_code=holds_code,
            )
            for s, r in mine
        ]
        owed.sort(key=lambda o: (o.due <= 0, o.schedule))
        exists = bool(mine) or isinstance(approval, Approval) or holds_code
        if not exists:
            exists = self.client.get_account(account) is not None
        elapsed = (time.perf_counter() - started) * 1000
        return RecipientView(account, exists, owed, balances, round(elapsed, 1))

    def payer(self, payer: str) -> PayerView:
        """The payer's schedules, free funds, open dues (bounded scans) and who waits."""
        started = time.perf_counter()
        mine = sorted(
            (s for s in self.schedules().values() if s.payer == payer), key=lambda s: s.name
        )
        funds = self.tables.funds(payer) if mine else []
        by_token = {(f.tkcontract, f.symbol): f for f in funds}
        parts = self._parallel([partial(self._payer_schedule, s, by_token) for s in mine])
        elapsed = (time.perf_counter() - started) * 1000
        return PayerView(payer, list(parts), funds, round(elapsed, 1))

    def _payer_schedule(
        self, s: Schedule, by_token: dict[tuple[str, Symbol], Funds]
    ) -> PayerSchedule:
        dues: list[Recipient] = []
        scanned = 0
        scanned_all = True
        for r in self.tables.recipients(s.name):
            scanned += 1
            if r.due > 0:
                dues.append(r)
            if scanned >= PAYER_SCAN_ROWS:
                scanned_all = False
                break
        dues.sort(key=lambda r: (-r.due, r.account))
        parked = list(itertools.islice(self.tables.parked_dues(s.name), PAYER_WAITING_SHOWN))
        waiting = [WaitingRecipient(a, self._waiting_reason(s, a)) for a in parked]
        return PayerSchedule(
            schedule=s,
            funds=by_token.get((s.tkcontract, s.symbol)),
            open_dues=len(dues),
            dues_counted_all=scanned_all,
            largest=dues[:10],
            scanned_all=scanned_all,
            waiting=waiting,
        )

    def _waiting_reason(self, s: Schedule, account: str) -> str:
        if self.balance(s.tkcontract, account, s.symbol) is None:
            return f"no balance row for {s.symbol.code}"
        if self.tables.has_code(account):
            return "holds a contract: it claims"
        approval = self._approval(account)
        if approval is None or not approval.approved:
            return "waiting for approval"
        return "waiting for a wake"

    def approvals_waiting(
        self, *, scan: int = 2000, shown: int = 20
    ) -> tuple[list[str], int, bool]:
        """Unapproved accounts (the approvals' ``pending`` index): the first ``shown``, how
        many up to ``scan``, and whether that is all of them."""
        waiting: list[str] = []
        count = 0
        for account in self.tables.pending_approvals():
            if count >= scan:
                return waiting, count, False
            count += 1
            if len(waiting) < shown:
                waiting.append(account)
        return waiting, count, True
