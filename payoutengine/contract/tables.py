"""Typed reads of the contract's tables through a :class:`~payoutengine.client.ChainClient`;
nothing is cached, the caller decides how often it reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..abi import name_to_int
from ..amounts import Symbol
from ..client import ChainClient
from .rows import (
    APPROVALS_TABLE,
    Active,
    Approval,
    Due,
    Funds,
    Recipient,
    Schedule,
    Settings,
    Token,
)

__all__ = ["ZERO_CODE_HASH", "ContractTables", "sorted_minus"]

#: what ``get_code_hash`` answers for an account without code.
ZERO_CODE_HASH = "0" * 64
#: rows per page when rows are only counted (undecoded: the node sends them as hex).
COUNT_PAGE_ROWS = 5000


def sorted_minus(items: Iterator[str], remove: Iterator[str]) -> Iterator[str]:
    """The names of ``items`` that are not in ``remove``; both streams are in the chain's key
    order (the names' uint64 values), and each is read only as far as needed."""
    drop = next(remove, None)
    drop_key = name_to_int(drop) if drop is not None else 0
    for item in items:
        key = name_to_int(item)
        while drop is not None and drop_key < key:
            drop = next(remove, None)
            drop_key = name_to_int(drop) if drop is not None else 0
        if drop is not None and drop_key == key:
            continue
        yield item


class ContractTables:
    """The contract's tables as typed rows, read through ``client``."""

    def __init__(self, client: ChainClient, contract: str, *, page_size: int = 500) -> None:
        self.client = client
        self.contract = contract
        self.page_size = page_size

    def _rows(self, scope: str, table: str) -> Iterator[Mapping[str, Any]]:
        yield from self.client.iter_table(self.contract, scope, table, page_size=self.page_size)

    def _row(self, scope: str, table: str, key: str) -> Mapping[str, Any] | None:
        """The row with primary key ``key`` (a name), or None."""
        page = self.client.get_table_rows(
            self.contract, scope, table, lower_bound=key, upper_bound=key, limit=1
        )
        rows: list[Mapping[str, Any]] = page["rows"]
        return rows[0] if rows else None

    def settings(self) -> Settings | None:
        """The settings row; None before ``setadmin`` created it."""
        page = self.client.get_table_rows(self.contract, self.contract, Settings.TABLE, limit=1)
        return Settings.from_row(page["rows"][0]) if page["rows"] else None

    def schedules(self) -> list[Schedule]:
        return [Schedule.from_row(r) for r in self._rows(self.contract, Schedule.TABLE)]

    def schedule(self, name: str) -> Schedule | None:
        row = self._row(self.contract, Schedule.TABLE, name)
        return Schedule.from_row(row) if row is not None else None

    def funds(self, payer: str) -> list[Funds]:
        return [Funds.from_row(r) for r in self._rows(payer, Funds.TABLE)]

    def funds_in(self, payer: str, tkcontract: str, symbol: Symbol) -> Funds | None:
        """The payer's funds row for one token, or None when it has none."""
        return next(
            (f for f in self.funds(payer) if f.tkcontract == tkcontract and f.symbol == symbol),
            None,
        )

    def recipients(self, schedule: str) -> Iterator[Recipient]:
        for r in self._rows(schedule, Recipient.TABLE):
            yield Recipient.from_row(r)

    def recipient(self, schedule: str, account: str) -> Recipient | None:
        row = self._row(schedule, Recipient.TABLE, account)
        return Recipient.from_row(row) if row is not None else None

    def dues(self, schedule: str) -> Iterator[Due]:
        for r in self._rows(schedule, Due.TABLE):
            yield Due.from_row(r, schedule=schedule)

    def has_due(self, schedule: str, account: str) -> bool:
        return self._row(schedule, Due.TABLE, account) is not None

    def _flagged(
        self,
        scope: str,
        table: str,
        key: str,
        *,
        on: bool,
        first: str | None = None,
        last: str | None = None,
    ) -> Iterator[str]:
        """Primary keys (names) of the rows whose flag index (idx64 at position 2: the primary
        key when on, 0 when off) is on, or off; with ``first``/``last``, only those from
        ``first`` to ``last`` (names, inclusive; rows that are on only). Streamed page by page
        in key order: the caller holds one page."""
        lower: int = 1 if on else 0
        upper: int | None = None if on else 0
        if on and first is not None:
            lower = max(1, name_to_int(first))
        if on and last is not None:
            upper = name_to_int(last)
        for r in self.client.iter_table(
            self.contract,
            scope,
            table,
            page_size=self.page_size,
            lower_bound=lower,
            upper_bound=upper,
            index_position=2,
            key_type="i64",
        ):
            yield str(r[key])

    def _count(self, scope: str, table: str, *, flag_on: bool = False) -> int:
        """How many rows the table holds (with ``flag_on``: how many have their flag index on),
        counted page by page without decoding them (binary rows, large pages)."""
        lower: int | None = 1 if flag_on else None
        n = 0
        while True:
            page = self.client.get_table_rows(
                self.contract,
                scope,
                table,
                lower_bound=lower,
                limit=COUNT_PAGE_ROWS,
                index_position=2 if flag_on else None,
                key_type="i64" if flag_on else None,
                json=False,
            )
            n += len(page["rows"])
            next_key = page.get("next_key")
            if not page.get("more") or next_key in (None, ""):
                return n
            lower = next_key

    def dues_accounts(self, schedule: str) -> Iterator[str]:
        """Accounts with a due in the schedule, in account order, streamed."""
        for r in self._rows(schedule, Due.TABLE):
            yield str(r["account"])

    def ready_dues(
        self, schedule: str, *, first: str | None = None, last: str | None = None
    ) -> Iterator[str]:
        """Accounts whose due in the schedule is ready (believed payable: approved, balance
        row, no code), in account order (``first``..``last`` when given), streamed."""
        return self._flagged(schedule, Due.TABLE, "account", on=True, first=first, last=last)

    def parked_dues(self, schedule: str) -> Iterator[str]:
        """Accounts whose due in the schedule is parked (the ``ready`` flag is off), in account
        order. Parked rows all share the flag index key 0, which the node cannot page past (its
        ``next_key`` is that key again): the dues (by primary key) and the ready ones (distinct
        index keys) are read as two account-ordered streams and merged, one page of each in
        memory."""
        return sorted_minus(self.dues_accounts(schedule), self.ready_dues(schedule))

    def approved_parked_dues(self, schedule: str) -> Iterator[str]:
        """Parked dues of approved accounts (the ones a ``wake`` may make ready), in account
        order: the parked stream merged with the ``pending`` stream (every account with a due
        has an approval row)."""
        return sorted_minus(self.parked_dues(schedule), self.pending_approvals())

    def has_ready_due(self, schedule: str) -> bool:
        return next(self._flagged(schedule, Due.TABLE, "account", on=True), None) is not None

    def ring(self) -> set[str]:
        """Schedules in the runpayouts ring (the ``ring`` flag of ``active`` is on)."""
        return set(self._flagged(self.contract, Active.TABLE, "schedule_name", on=True))

    def count_dues(self, schedule: str) -> int:
        """Open dues of the schedule, counted page by page (a read of every row)."""
        return self._count(schedule, Due.TABLE)

    def active(self) -> list[Active]:
        return [Active.from_row(r) for r in self._rows(self.contract, Active.TABLE)]

    def active_schedules(self) -> list[str]:
        return [a.schedule for a in self.active()]

    def has_active(self) -> bool:
        page = self.client.get_table_rows(self.contract, self.contract, Active.TABLE, limit=1)
        return bool(page["rows"])

    def dues_per_schedule(self) -> dict[str, int]:
        """Open dues of every schedule (0 for those not in ``active``, without reading them)."""
        active = set(self.active_schedules())
        return {
            s.name: self.count_dues(s.name) if s.name in active else 0 for s in self.schedules()
        }

    def approvals(self) -> Iterator[Approval]:
        """Every approval row, streamed (a read of the whole table: one row per recipient)."""
        for r in self._rows(self.contract, APPROVALS_TABLE):
            yield Approval.from_row(r)

    def pending_approvals(self) -> Iterator[str]:
        """Accounts not approved (the approvals' ``pending`` flag is on), in account order,
        streamed: the node lists only those, however many accounts are approved."""
        return self._flagged(self.contract, APPROVALS_TABLE, "account", on=True)

    def approval_counts(self) -> tuple[int, int]:
        """(approved, not approved) accounts: the approvals rows and the ``pending`` entries
        counted page by page (undecoded rows: a read of the whole table, with no list kept)."""
        pending = self._count(self.contract, APPROVALS_TABLE, flag_on=True)
        return self._count(self.contract, APPROVALS_TABLE) - pending, pending

    def approvals_page(self, *, after: str | None, limit: int) -> tuple[list[Approval], str | None]:
        """Up to ``limit`` approval rows from ``after`` (a key a previous page returned; None:
        the start), and the key to continue from (None at the end of the table)."""
        page = self.client.get_table_rows(
            self.contract, self.contract, APPROVALS_TABLE, lower_bound=after, limit=limit
        )
        rows = [Approval.from_row(r) for r in page["rows"]]
        more = page.get("more") and page.get("next_key")
        return rows, str(page["next_key"]) if more else None

    def approval(self, account: str) -> Approval | None:
        row = self._row(self.contract, APPROVALS_TABLE, account)
        return Approval.from_row(row) if row is not None else None

    def tokens(self) -> list[Token]:
        """The tokens the admin allows."""
        return [Token.from_row(r) for r in self._rows(self.contract, Token.TABLE)]

    def has_code(self, account: str) -> bool:
        """True when ``account`` holds a contract (it is never paid automatically)."""
        return self.client.get_code_hash(account) != ZERO_CODE_HASH
