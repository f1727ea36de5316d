"""Typed reads of the contract's tables through a :class:`~payoutengine.client.ChainClient`;
nothing is cached, the caller decides how often it reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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

__all__ = ["ZERO_CODE_HASH", "ContractTables"]

#: what ``get_code_hash`` answers for an account without code.
ZERO_CODE_HASH = "0" * 64


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

    def _flagged(self, scope: str, table: str, key: str, *, on: bool) -> Iterator[str]:
        """Primary keys (names) of the rows whose flag index (idx64 at position 2: the primary
        key when on, 0 when off) is on, or off."""
        for r in self.client.iter_table(
            self.contract,
            scope,
            table,
            page_size=self.page_size,
            lower_bound=1 if on else 0,
            upper_bound=None if on else 0,
            index_position=2,
            key_type="i64",
        ):
            yield str(r[key])

    def parked_dues(self, schedule: str) -> list[str]:
        """Accounts whose due in the schedule is parked (the ``ready`` flag is off). Parked
        rows all share the flag index key 0, which the node cannot page past (its
        ``next_key`` is that key again): every due is read by its primary key and the ready
        ones (distinct index keys) are left out."""
        ready = set(self._flagged(schedule, Due.TABLE, "account", on=True))
        dues = (str(r["account"]) for r in self._rows(schedule, Due.TABLE))
        return [a for a in dues if a not in ready]

    def has_ready_due(self, schedule: str) -> bool:
        return next(self._flagged(schedule, Due.TABLE, "account", on=True), None) is not None

    def ring(self) -> set[str]:
        """Schedules in the runpayouts ring (the ``ring`` flag of ``active`` is on)."""
        return set(self._flagged(self.contract, Active.TABLE, "schedule_name", on=True))

    def count_dues(self, schedule: str) -> int:
        return sum(1 for _ in self._rows(schedule, Due.TABLE))

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
        for r in self._rows(self.contract, APPROVALS_TABLE):
            yield Approval.from_row(r)

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
