"""Read-only view of the payoutengine contract's tables, and trace parsing.

Everything here is a plain read through :class:`payoutengine.client.ChainClient`; nothing is
cached, so the caller decides how often it reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from payoutengine.amounts import Asset
from payoutengine.client import ChainClient

__all__ = [
    "ContractView",
    "Due",
    "Settings",
    "TransferMade",
    "transfers_in_trace",
]

ZERO_HASH = "0" * 64
NOTHING_TO_PAY = "nothing to pay"


@dataclass(frozen=True)
class Settings:
    admin: str
    feeacc: str
    fee_permille: int
    revision: int
    rr_cursor: str


@dataclass(frozen=True)
class Due:
    schedule: str
    account: str
    memo: str


@dataclass(frozen=True)
class TransferMade:
    """An inline token transfer from the contract, as seen in a trace."""

    token: str
    recipient: str
    amount: int
    symbol: str
    precision: int
    memo: str


class ContractView:
    """The contract's tables as Python values."""

    def __init__(self, client: ChainClient, contract: str, *, page_size: int = 500) -> None:
        self.client = client
        self.contract = contract
        self.page_size = page_size

    def _rows(self, scope: str, table: str) -> Iterator[Mapping[str, Any]]:
        yield from self.client.iter_table(self.contract, scope, table, page_size=self.page_size)

    def settings(self) -> Settings | None:
        rows = self.client.get_table_rows(self.contract, self.contract, "settings", limit=1)["rows"]
        if not rows:
            return None
        r = rows[0]
        return Settings(
            admin=str(r["admin"]),
            feeacc=str(r["feeacc"]),
            fee_permille=int(r["fee_permille"]),
            revision=int(r["revision"]),
            rr_cursor=str(r["rr_cursor"]),
        )

    def active_schedules(self) -> list[str]:
        return [str(r["schedule_name"]) for r in self._rows(self.contract, "active")]

    def has_active(self) -> bool:
        return bool(
            self.client.get_table_rows(self.contract, self.contract, "active", limit=1)["rows"]
        )

    def schedules(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows(self.contract, "schedules")]

    def dues(self, schedule: str) -> Iterator[Due]:
        for r in self._rows(schedule, "dues"):
            yield Due(schedule=schedule, account=str(r["account"]), memo=str(r.get("memo", "")))

    def count_dues(self, schedule: str) -> int:
        return sum(1 for _ in self._rows(schedule, "dues"))

    def dues_per_schedule(self) -> dict[str, int]:
        """Open dues of every schedule (0 for those not in ``active``, without reading them)."""
        active = set(self.active_schedules())
        names = [str(s["schedule_name"]) for s in self.schedules()]
        return {n: self.count_dues(n) if n in active else 0 for n in names}

    def recipients(self, schedule: str) -> Iterator[Mapping[str, Any]]:
        yield from self._rows(schedule, "recipients")

    def approvals(self) -> Iterator[tuple[str, bool]]:
        for r in self._rows(self.contract, "approvals"):
            yield str(r["account"]), bool(int(r["approved"]))

    def has_code(self, account: str) -> bool:
        return self.client.get_code_hash(account) != ZERO_HASH


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


def trace_block_num(trace: Mapping[str, Any]) -> int | None:
    processed = trace.get("processed", trace)
    bn = processed.get("block_num")
    return int(bn) if bn is not None else None


def trace_cpu_us(trace: Mapping[str, Any]) -> int | None:
    processed = trace.get("processed", trace)
    receipt = processed.get("receipt") or {}
    cpu = receipt.get("cpu_usage_us")
    return int(cpu) if cpu is not None else None
