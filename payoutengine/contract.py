"""The payoutengine contract as Python sees it: its check() messages, its table rows, its
actions, and typed reads of its tables.

Everything about the contract's shape lives here once; ``contract/include/payoutengine/
payoutengine.hpp`` is the source, and ``tests/unit/test_contract_model.py`` keeps the messages
equal to the header's. Action data goes through the chain's ABI (:mod:`payoutengine.abi`)
when the client packs a transaction; nothing is packed by hand.

- :class:`Msg` — every ``check()`` message, by the header's name (``Msg.NOTHING_TO_PAY``).
- Rows — :class:`Settings`, :class:`Schedule`, :class:`Funds`, :class:`Recipient`,
  :class:`Due`, :class:`Active`, :class:`Approval`, :class:`Token`, each with
  ``from_row(json_row)``.
- Actions — one builder per action (:func:`newschedule`, :func:`book`, :func:`bookm`,
  :func:`withdraw`, :func:`claim`, :func:`approveacc`, :func:`unapproveacc`,
  :func:`runpayouts`, :func:`setadmin`, :func:`setfee`, :func:`allowtoken`, :func:`denytoken`,
  :func:`wake`), plus the token actions a payer needs
  (:func:`token_open`, :func:`token_transfer`).
- :class:`ContractTables` — reads of the tables through a :class:`ChainClient`; nothing is
  cached, the caller decides how often it reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .amounts import Asset, Symbol
from .client import ChainClient
from .transactions import Action, PermissionLevel

__all__ = [
    "ADMIN_ACTIONS",
    "ZERO_CODE_HASH",
    "Active",
    "Approval",
    "BookRecord",
    "ContractTables",
    "Due",
    "Funds",
    "Msg",
    "Recipient",
    "Schedule",
    "Settings",
    "Token",
    "allowtoken",
    "approveacc",
    "book",
    "bookm",
    "claim",
    "denytoken",
    "newschedule",
    "runpayouts",
    "setadmin",
    "setfee",
    "token_open",
    "token_transfer",
    "unapproveacc",
    "wake",
    "withdraw",
]

Authority = Sequence[PermissionLevel | tuple[str, str] | str]

#: what ``get_code_hash`` answers for an account without code.
ZERO_CODE_HASH = "0" * 64


class Msg:
    """The contract's ``check()`` messages (``namespace msg`` in payoutengine.hpp), each under
    its header name in upper case. :data:`Msg.ALL` is the set of them."""

    NOT_INITIALIZED = "contract is not initialized"
    UNKNOWN_ACTION = "unknown action"
    ADMIN_NOT_ACCOUNT = "admin account does not exist"
    FEE_TOO_HIGH = "fee must be at most 5 permille"
    FEE_ACCOUNT_MISSING = "fee account does not exist"
    FEE_ACCOUNT_IS_CONTRACT = "fee account cannot be the contract"
    FEE_ACCOUNT_NO_BALANCE = "fee account has no balance row for this token"
    TOKEN_NOT_ALLOWED = "token is not allowed"
    TOKEN_ALREADY_ALLOWED = "token is already allowed"
    TOKEN_SUSPENDED = "token is suspended"
    DEPOSIT_TOO_SMALL = "deposit too small to leave a credit after the fee"
    PAYER_NO_BALANCE_ROW = "payer has no balance row for this token"
    EMPTY_SCHEDULE_NAME = "schedule name is empty"
    SCHEDULE_EXISTS = "schedule already exists"
    UNKNOWN_SCHEDULE = "unknown schedule"
    INVALID_SYMBOL = "invalid symbol"
    TOKEN_CONTRACT_MISSING = "token contract does not exist"
    TOKEN_MISSING = "token does not exist"
    PRECISION_MISMATCH = "symbol precision mismatch"
    MEMO_TOO_LONG = "memo has more than 256 bytes"
    NO_SCHEDULE_FOR_TOKEN = "sender has no schedule in this token"
    DEPOSIT_NOT_POSITIVE = "deposit must be positive"
    DEPOSIT_OVERFLOW = "deposit overflow"
    NO_RECORDS = "no records"
    SYMBOL_MISMATCH = "symbol does not match the schedule"
    TOTAL_OUT_OF_RANGE = "new total out of range"
    RECIPIENT_MISSING = "recipient account does not exist"
    RECIPIENT_IS_CONTRACT = "cannot book the payout contract itself"
    NO_TOTAL_RAISED = "no total was raised"
    EXCEEDS_FREE_FUNDS = "booking exceeds free funds"
    BOOKING_OVERFLOW = "booking overflow"
    QUANTITY_NOT_POSITIVE = "quantity must be positive"
    NO_FUNDS_IN_TOKEN = "no funds in this token"
    WITHDRAW_EXCEEDS_FREE = "withdrawal exceeds free funds"
    NOTHING_DUE = "nothing due"
    NO_BALANCE_ROW = "recipient has no balance row for this token"
    NO_ACCOUNTS = "no accounts given"
    UNKNOWN_RECIPIENT = "unknown recipient account"
    COUNT_NOT_POSITIVE = "count must be positive"
    NOTHING_TO_PAY = "nothing to pay"

    ALL: frozenset[str]

    @classmethod
    def by_name(cls) -> dict[str, str]:
        """``{"NOTHING_TO_PAY": "nothing to pay", ...}``: every message under its name."""
        return {
            k: v for k, v in vars(cls).items() if k.isupper() and k != "ALL" and isinstance(v, str)
        }


Msg.ALL = frozenset(Msg.by_name().values())

#: the contract actions the admin daemon signs (and its dedicated permission is linked to).
ADMIN_ACTIONS = ("runpayouts", "approveacc", "unapproveacc", "wake", "denytoken")


# ---------------------------------------------------------------------------------------------
# Table rows (the JSON rows get_table_rows returns, as typed values)


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


# ---------------------------------------------------------------------------------------------
# Actions


@dataclass(frozen=True, slots=True)
class BookRecord:
    """One record of ``book``/``bookm``: raise ``recipient``'s lifetime total to
    ``new_total`` (smallest units); ``memo`` only goes into ``bookm``."""

    recipient: str
    new_total: int
    memo: str = ""


def _auth(authority: Authority) -> list[PermissionLevel | tuple[str, str] | str]:
    return list(authority)


def setadmin(contract: str, newadmin: str, *, authority: Authority) -> Action:
    return Action(contract, "setadmin", _auth(authority), {"newadmin": newadmin})


def setfee(contract: str, feeacc: str, permille: int, *, authority: Authority) -> Action:
    return Action(contract, "setfee", _auth(authority), {"feeacc": feeacc, "permille": permille})


def newschedule(
    contract: str,
    *,
    payer: str,
    schedule: str,
    tkcontract: str,
    symbol: Symbol,
    memo: str,
    authority: Authority | None = None,
) -> Action:
    """Create ``schedule`` paying ``symbol`` of ``tkcontract``; signed by the payer's active
    permission unless ``authority`` says otherwise."""
    return Action(
        contract,
        "newschedule",
        _auth(authority or [f"{payer}@active"]),
        {
            "payer": payer,
            "schedule_name": schedule,
            "tkcontract": tkcontract,
            "currency": Asset(0, symbol),
            "memo": memo,
        },
    )


def _booking(
    name: str,
    contract: str,
    schedule: str,
    symbol: Symbol,
    records: Iterable[BookRecord],
    authority: Authority,
) -> Action:
    with_memo = name == "bookm"
    rows = [
        {"recipient": r.recipient, "new_total": Asset(r.new_total, symbol)}
        | ({"memo": r.memo} if with_memo else {})
        for r in records
    ]
    return Action(contract, name, _auth(authority), {"schedule_name": schedule, "records": rows})


def book(
    contract: str,
    schedule: str,
    symbol: Symbol,
    records: Iterable[BookRecord],
    *,
    authority: Authority,
) -> Action:
    """``book``: raise lifetime totals (the schedule's default memo is paid with them)."""
    return _booking("book", contract, schedule, symbol, records, authority)


def bookm(
    contract: str,
    schedule: str,
    symbol: Symbol,
    records: Iterable[BookRecord],
    *,
    authority: Authority,
) -> Action:
    """``bookm``: raise lifetime totals, each with its own memo."""
    return _booking("bookm", contract, schedule, symbol, records, authority)


def withdraw(
    contract: str, *, payer: str, tkcontract: str, quantity: Asset, authority: Authority
) -> Action:
    return Action(
        contract,
        "withdraw",
        _auth(authority),
        {"payer": payer, "tkcontract": tkcontract, "quantity": quantity},
    )


def claim(contract: str, schedule: str, recipient: str, *, authority: Authority) -> Action:
    return Action(
        contract,
        "claim",
        _auth(authority),
        {"schedule_name": schedule, "recipient": recipient},
    )


def approveacc(contract: str, accounts: Sequence[str], *, authority: Authority) -> Action:
    return Action(contract, "approveacc", _auth(authority), {"accounts": list(accounts)})


def unapproveacc(contract: str, accounts: Sequence[str], *, authority: Authority) -> Action:
    return Action(contract, "unapproveacc", _auth(authority), {"accounts": list(accounts)})


def runpayouts(contract: str, count: int, *, authority: Authority) -> Action:
    return Action(contract, "runpayouts", _auth(authority), {"count": count})


def allowtoken(contract: str, tkcontract: str, symbol: Symbol, *, authority: Authority) -> Action:
    return Action(
        contract, "allowtoken", _auth(authority), {"tkcontract": tkcontract, "currency": symbol}
    )


def denytoken(contract: str, tkcontract: str, symbol: Symbol, *, authority: Authority) -> Action:
    return Action(
        contract, "denytoken", _auth(authority), {"tkcontract": tkcontract, "currency": symbol}
    )


def wake(contract: str, schedule: str, accounts: Sequence[str], *, authority: Authority) -> Action:
    """``wake``: make parked dues of ``accounts`` in ``schedule`` payable again."""
    return Action(
        contract,
        "wake",
        _auth(authority),
        {"schedule_name": schedule, "accounts": list(accounts)},
    )


def token_open(
    tkcontract: str, owner: str, symbol: Symbol, *, ram_payer: str, authority: Authority
) -> Action:
    """eosio.token ``open``: a zero balance row for ``owner``, paid by ``ram_payer``."""
    return Action(
        tkcontract,
        "open",
        _auth(authority),
        {"owner": owner, "symbol": symbol, "ram_payer": ram_payer},
    )


def token_transfer(
    tkcontract: str, sender: str, to: str, quantity: Asset, memo: str, *, authority: Authority
) -> Action:
    """eosio.token ``transfer`` (to the contract: a deposit)."""
    return Action(
        tkcontract,
        "transfer",
        _auth(authority),
        {"from": sender, "to": to, "quantity": quantity, "memo": memo},
    )


# ---------------------------------------------------------------------------------------------
# Reads


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
