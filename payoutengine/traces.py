"""What a transaction says after it ran: the token transfers the contract made in its trace,
the receivers a failed transaction's error names, its block and its CPU.

- :func:`transfers_in_trace` — the payments (inline transfers from the contract).
- :func:`receivers_in_error` — ``(receiver, account, action)`` named in an error's details.
- :func:`trace_block_num` / :func:`trace_cpu_us` — where it landed and what it cost.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .amounts import Asset, Symbol

__all__ = [
    "TransferMade",
    "failed_token_transfers",
    "receivers_in_error",
    "trace_block_num",
    "trace_cpu_us",
    "transfers_in_trace",
]


@dataclass(frozen=True)
class TransferMade:
    """An inline token transfer from the contract, as seen in a trace."""

    token: str
    recipient: str
    amount: int
    symbol: str
    precision: int
    memo: str


_RECEIVER_RE = re.compile(r"\b([a-z1-5.]{1,13}) <= ([a-z1-5.]{1,13})::([a-z1-5.]{1,13})\b")


def receivers_in_error(details: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(receiver, account, action)`` triples the node names in an error's details, in order
    (``"bob <= eosio.token::transfer pending console output: "``)."""
    out: list[tuple[str, str, str]] = []
    for d in details:
        for m in _RECEIVER_RE.finditer(d):
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def _walk_traces(trace: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    processed = trace.get("processed", trace)
    for at in processed.get("action_traces") or []:
        yield at
        # legacy nested traces (v1 API)
        stack = list(at.get("inline_traces") or [])
        while stack:
            t = stack.pop(0)
            yield t
            stack.extend(t.get("inline_traces") or [])


def transfers_in_trace(trace: Mapping[str, Any], contract: str) -> list[TransferMade]:
    """Token transfers from ``contract`` in a transaction trace (first receiver only)."""
    out: list[TransferMade] = []
    for at in _walk_traces(trace):
        act = at.get("act") or {}
        receiver = at.get("receiver") or (at.get("receipt") or {}).get("receiver")
        if act.get("name") != "transfer" or receiver != act.get("account"):
            continue
        data = act.get("data")
        if not isinstance(data, Mapping) or data.get("from") != contract:
            continue
        asset = Asset.parse(str(data["quantity"]))
        out.append(
            TransferMade(
                token=str(act["account"]),
                recipient=str(data["to"]),
                amount=asset.amount,
                symbol=asset.symbol.code,
                precision=asset.symbol.precision,
                memo=str(data.get("memo", "")),
            )
        )
    return out


def _transfer_symbol(data: Any) -> Symbol | None:
    """The symbol of a transfer's data: decoded JSON, or the hex of (from, to, asset, memo)."""
    if isinstance(data, Mapping):
        return Asset.parse(str(data["quantity"])).symbol if "quantity" in data else None
    if isinstance(data, str) and len(data) >= 64:
        return Symbol.from_raw(int.from_bytes(bytes.fromhex(data[48:64]), "little"))
    return None


def failed_token_transfers(
    trace: Mapping[str, Any], failed: Collection[tuple[str, str, str]], contract: str
) -> list[tuple[str, Symbol]]:
    """``(token contract, symbol)`` of each transfer that failed inside the token contract
    itself (receiver = the action's account, not a notified recipient) in a failure trace;
    ``failed`` are the ``(receiver, account, action)`` triples the node reported as failed."""
    out: list[tuple[str, Symbol]] = []
    for at in _walk_traces(trace):
        act = at.get("act") or {}
        account, name, receiver = act.get("account"), act.get("name"), at.get("receiver")
        if name != "transfer" or receiver != account or account == contract:
            continue
        if not (at.get("except") or (receiver, account, name) in failed):
            continue
        symbol = _transfer_symbol(act.get("data"))
        if symbol is not None and (str(account), symbol) not in out:
            out.append((str(account), symbol))
    return out


def trace_block_num(trace: Mapping[str, Any]) -> int | None:
    processed = trace.get("processed", trace)
    bn = processed.get("block_num")
    return int(bn) if bn is not None else None


def trace_cpu_us(trace: Mapping[str, Any]) -> int | None:
    processed = trace.get("processed", trace)
    receipt = processed.get("receipt") or {}
    cpu = receipt.get("cpu_usage_us")
    return int(cpu) if cpu is not None else None
