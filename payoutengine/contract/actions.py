"""One builder per contract action (and the token actions a payer needs): each returns an
:class:`~payoutengine.transactions.Action` whose data the client serializes with the chain's
ABI when it packs the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..amounts import Asset, Symbol
from ..transactions import Action, PermissionLevel

__all__ = [
    "ADMIN_ACTIONS",
    "BookRecord",
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

#: the contract actions the admin daemon signs (and its dedicated permission is linked to).
ADMIN_ACTIONS = ("runpayouts", "approveacc", "unapproveacc", "wake", "denytoken")


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
