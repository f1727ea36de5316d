"""The contract's table rows as typed values, each read from the JSON row ``get_table_rows``
returns with ``from_row``. Amounts are integers in the token's smallest unit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..amounts import Asset, Symbol

__all__ = [
    "APPROVALS_TABLE",
    "Active",
    "Approval",
    "Due",
    "Funds",
    "Recipient",
    "Schedule",
    "Settings",
    "Token",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """``settings`` (scope = contract, one row)."""

    admin: str
    feeacc: str
    fee_permille: int
    revision: int
    rr_cursor: str

    TABLE = "settings"

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> Settings:
        return cls(
            admin=str(r["admin"]),
            feeacc=str(r["feeacc"]),
            fee_permille=int(r["fee_permille"]),
            revision=int(r["revision"]),
            rr_cursor=str(r["rr_cursor"]),
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """``schedules`` (scope = contract, key = schedule name)."""

    name: str
    payer: str
    tkcontract: str
    symbol: Symbol
    memo: str

    TABLE = "schedules"

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> Schedule:
        return cls(
            name=str(r["schedule_name"]),
            payer=str(r["payer"]),
            tkcontract=str(r["tkcontract"]),
            symbol=Asset.parse(str(r["currency"])).symbol,
            memo=str(r["memo"]),
        )


@dataclass(frozen=True, slots=True)
class Funds:
    """``funds`` (scope = payer): what the contract holds for the payer in one token.
    Amounts in the token's smallest unit."""

    id: int
    tkcontract: str
    symbol: Symbol
    dues: int
    deposited: int

    TABLE = "funds"

    @property
    def free(self) -> int:
        """What new bookings (and withdrawals) may use: ``deposited - dues``."""
        return self.deposited - self.dues

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> Funds:
        return cls(
            id=int(r["id"]),
            tkcontract=str(r["tkcontract"]),
            symbol=Asset.parse(str(r["currency"])).symbol,
            dues=Asset.parse(str(r["dues"])).amount,
            deposited=Asset.parse(str(r["deposited"])).amount,
        )


@dataclass(frozen=True, slots=True)
class Recipient:
    """``recipients`` (scope = schedule name, key = account): lifetime totals."""

    account: str
    booked_total: int
    paid_total: int

    TABLE = "recipients"

    @property
    def due(self) -> int:
        return self.booked_total - self.paid_total

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> Recipient:
        return cls(str(r["account"]), int(r["booked_total"]), int(r["paid_total"]))


@dataclass(frozen=True, slots=True)
class Due:
    """``dues`` (scope = schedule name, key = account): one open due; ``schedule`` is the
    scope it was read from."""

    schedule: str
    account: str
    memo: str

    TABLE = "dues"

    @classmethod
    def from_row(cls, r: Mapping[str, Any], *, schedule: str) -> Due:
        return cls(schedule, str(r["account"]), str(r.get("memo", "")))


@dataclass(frozen=True, slots=True)
class Active:
    """``active`` (scope = contract, key = schedule name): a schedule with open dues."""

    schedule: str
    cursor: str

    TABLE = "active"

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> Active:
        return cls(str(r["schedule_name"]), str(r["cursor"]))


class Approval(NamedTuple):
    """``approvals`` (scope = contract, key = account). A tuple: ``for account, ok in ...``."""

    account: str
    approved: bool

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> Approval:
        return cls(str(r["account"]), bool(int(r["approved"])))


APPROVALS_TABLE = "approvals"


@dataclass(frozen=True, slots=True)
class Token:
    """``tokens`` (scope = contract, key = id): a (token contract, symbol) the admin allows."""

    id: int
    tkcontract: str
    symbol: Symbol

    TABLE = "tokens"

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> Token:
        return cls(int(r["id"]), str(r["tkcontract"]), Symbol.parse(str(r["currency"])))
