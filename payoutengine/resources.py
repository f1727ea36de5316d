"""CPU, NET and RAM: recognising an exhaustion, and reading what an account and the chain have.

The node refuses a transaction for want of a resource with one of three errors (checked on the
``eos`` profile chain, Leap 4.1; docs/operations.md, "Resources: CPU, NET and RAM"):

==========================  =======  ===========================================================
name                        code     message (examples)
==========================  =======  ===========================================================
``tx_cpu_usage_exceeded``   3080004  ``billed CPU time (100 us) is greater than the maximum
                                     billable CPU time for the transaction (0 us) reached account
                                     cpu limit 0us`` — the signer is out of CPU;
                                     ``transaction … was executing for too long 150122us reached
                                     node configured max-transaction-time 150000us`` (or ``… on
                                     chain max_transaction_cpu_usage``) — this one transaction is
                                     too big
``tx_net_usage_exceeded``   3080002  ``transaction net usage is too high: 128 > 0``
``ram_usage_exceeded``      3080001  ``account probe1 has insufficient ram; needs 6329 bytes has
                                     5488 bytes``
==========================  =======  ===========================================================

``leeway_deadline_exception`` and ``deadline_exception`` are CPU too (the node's own deadline),
as are the block-level ``block_cpu_usage_exceeded`` / ``block_net_usage_exceeded`` (the block
was full: nothing to buy, the transaction fits in a later block).

:func:`exhaustion_of` reads which resource an error is about and whether its text blames the
signing account or the transaction; :func:`diagnose` settles the scope with the account's
``get_account`` figures: an account whose available CPU (NET) is below what the transaction
needed, or below the configured floor, is out of it; otherwise the transaction is too big for
the chain's per-transaction limit (the daemon then shrinks ``count``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from .amounts import Asset, Symbol
from .client import ChainClient
from .errors import ChainError, TransactionError

__all__ = [
    "CPU_NAMES",
    "NET_NAMES",
    "RAM_NAMES",
    "AccountUsage",
    "Exhaustion",
    "PowerupMarket",
    "Resource",
    "Scope",
    "account_usage",
    "diagnose",
    "exhaustion_of",
    "powerup_market",
    "refused_fee",
    "resource_model",
]

Resource = Literal["cpu", "net", "ram"]
Scope = Literal["account", "transaction", "block"]

CPU_NAMES = frozenset({"tx_cpu_usage_exceeded", "leeway_deadline_exception", "deadline_exception"})
NET_NAMES = frozenset({"tx_net_usage_exceeded"})
RAM_NAMES = frozenset({"ram_usage_exceeded"})
_BLOCK_NAMES = {"block_cpu_usage_exceeded": "cpu", "block_net_usage_exceeded": "net"}

_BILLED_RE = re.compile(
    r"billed CPU time \((\d+) us\) is greater than the maximum billable CPU "
    r"time for the transaction \((\d+) us\)"
)
_TOO_LONG_RE = re.compile(r"executing for too long (\d+)us")
_NET_RE = re.compile(r"net usage is too high: (\d+) > (\d+)")
_RAM_RE = re.compile(r"account (\S+) has insufficient ram; needs (\d+) bytes has (\d+) bytes")
_FEE_RE = re.compile(r"max_payment is less than calculated fee: (\d+(?:\.\d+)? [A-Z]{1,7})")


@dataclass(frozen=True)
class Exhaustion:
    """A transaction refused for want of ``resource``.

    Attributes:
        resource: ``cpu``, ``net`` or ``ram``.
        scope: ``account`` (the account is out of it: buy, rent or stake more),
            ``transaction`` (this transaction is too big for the chain's per-transaction
            limit: make it smaller) or ``block`` (the block was full: send it again later).
        needed: what the transaction needed (µs, bytes) when the message says.
        available: what the account had (µs, bytes) when the message or get_account says.
        account: the account the message names (RAM), else ''.
    """

    resource: Resource
    scope: Scope
    needed: int | None = None
    available: int | None = None
    account: str = ""


def exhaustion_of(e: TransactionError) -> Exhaustion | None:
    """The resource ``e`` is about, from the node's error name and message; None when the
    refusal is not about a resource. The scope is what the message says (``transaction`` when
    it blames no account); :func:`diagnose` settles it with the account's figures."""
    text = " ".join([e.message, *e.details])
    name = e.name or ""
    if name in _BLOCK_NAMES:
        return Exhaustion(_BLOCK_NAMES[name], "block")  # type: ignore[arg-type]
    ram = _RAM_RE.search(text)
    if name in RAM_NAMES or ram:
        if ram:
            return Exhaustion(
                "ram", "account", int(ram.group(2)), int(ram.group(3)), account=ram.group(1)
            )
        return Exhaustion("ram", "account")
    net = _NET_RE.search(text)
    if name in NET_NAMES or (net and "transaction net usage" in text):
        if net:
            return Exhaustion("net", "transaction", int(net.group(1)), int(net.group(2)))
        return Exhaustion("net", "transaction")
    lowered = text.lower()
    if name in CPU_NAMES or "billed cpu time" in lowered or "deadline exceeded" in lowered:
        scope: Scope = "account" if "account cpu limit" in lowered else "transaction"
        billed = _BILLED_RE.search(text)
        if billed:
            return Exhaustion("cpu", scope, int(billed.group(1)), int(billed.group(2)))
        long_ = _TOO_LONG_RE.search(text)
        return Exhaustion("cpu", scope, int(long_.group(1)) if long_ else None)
    return None


@dataclass(frozen=True)
class AccountUsage:
    """An account's resources as ``get_account`` reports them (None: unlimited)."""

    account: str
    cpu_available_us: int | None
    cpu_max_us: int | None
    net_available_bytes: int | None
    net_max_bytes: int | None
    ram_quota_bytes: int | None
    ram_usage_bytes: int

    @property
    def ram_free_bytes(self) -> int | None:
        if self.ram_quota_bytes is None:
            return None
        return self.ram_quota_bytes - self.ram_usage_bytes

    def available(self, resource: Resource) -> int | None:
        if resource == "cpu":
            return self.cpu_available_us
        if resource == "net":
            return self.net_available_bytes
        return self.ram_free_bytes


def _limit(value: Any) -> int | None:
    n = int(value) if value not in (None, "") else -1
    return None if n < 0 else n


def account_usage(client: ChainClient, account: str) -> AccountUsage:
    """``get_account`` figures of ``account``; ChainError when it does not exist."""
    info = client.get_account(account)
    if info is None:
        raise ChainError(f"The account {account} does not exist on this chain.")
    cpu = info.get("cpu_limit") or {}
    net = info.get("net_limit") or {}
    return AccountUsage(
        account=account,
        cpu_available_us=_limit(cpu.get("available")),
        cpu_max_us=_limit(cpu.get("max")),
        net_available_bytes=_limit(net.get("available")),
        net_max_bytes=_limit(net.get("max")),
        ram_quota_bytes=_limit(info.get("ram_quota")),
        ram_usage_bytes=int(info.get("ram_usage") or 0),
    )


def diagnose(exh: Exhaustion, usage: AccountUsage | None, *, floor: int = 0) -> Exhaustion:
    """``exh`` with its scope settled by the signer's figures: CPU or NET is the account's
    when it has less available than the transaction needed, or less than ``floor``; a
    transaction whose CPU the account could have paid was too big for the chain's limit."""
    if exh.resource == "ram" or exh.scope == "block" or usage is None:
        return exh
    available = usage.available(exh.resource)
    if available is None:  # unlimited: only the per-transaction limit can refuse it
        return Exhaustion(exh.resource, "transaction", exh.needed, None, usage.account)
    short = available < floor or (exh.needed is not None and available < exh.needed)
    scope: Scope = "account" if short or exh.scope == "account" else "transaction"
    return Exhaustion(exh.resource, scope, exh.needed, available, usage.account)


def refused_fee(e: TransactionError) -> Asset | None:
    """The fee a ``powerup`` refused with "max_payment is less than calculated fee" asked."""
    m = _FEE_RE.search(" ".join([e.message, *e.details]))
    return Asset.parse(m.group(1)) if m else None


ResourceModel = Literal["powerup", "stake", "unlimited"]


def resource_model(client: ChainClient) -> ResourceModel:
    """``powerup`` when eosio runs a PowerUp market (a ``powup.state`` row), ``stake`` when
    it runs a system contract without one, ``unlimited`` otherwise (a bios chain)."""
    try:
        rows = client.get_table_rows("eosio", "", "powup.state", limit=1)["rows"]
    except ChainError:
        rows = []
    if rows:
        return "powerup"
    try:
        abi = client.get_abi("eosio")
    except ChainError:
        return "unlimited"
    actions = {a.get("name") for a in (abi or {}).get("actions", [])}
    return "stake" if "delegatebw" in actions else "unlimited"


@dataclass(frozen=True)
class PowerupMarket:
    """What one unit of ``frac`` (10^15 = the whole market) buys, in the chain's current
    state: ``cpu_us_per_unit`` µs of CPU and ``net_bytes_per_unit`` bytes of NET per 10^15 of
    frac, as rational numbers ``(numerator, denominator)``; and the core symbol."""

    cpu: tuple[int, int]
    net: tuple[int, int]
    symbol: Symbol
    min_fee: int
    days: int

    def frac_for(self, resource: Resource, amount: int) -> int:
        """The frac (of 10^15) that rents ``amount`` µs of CPU or bytes of NET, rounded up."""
        num, den = self.cpu if resource == "cpu" else self.net
        if num <= 0:
            return 0
        return min(10**15, -(-amount * den * 10**15 // num))


def powerup_market(client: ChainClient) -> PowerupMarket:
    """Read the PowerUp market (``powup.state``) and the account holding its unrented share
    (``eosio.reserv``, whose get_account limits are what its weight buys now): a frac of the
    market rents ``frac / 10^15 × market weight`` of weight, worth the same per unit."""
    rows = client.get_table_rows("eosio", "", "powup.state", limit=1)["rows"]
    if not rows:
        raise ChainError("This chain has no PowerUp market (no eosio powup.state row).")
    state = rows[0]
    reserv = client.get_account("eosio.reserv") or {}

    def per_market(kind: str, limit_key: str) -> tuple[int, int]:
        market_weight = int(state[kind]["weight"])
        reserv_weight = int(reserv.get(f"{kind}_weight") or 0)
        reserv_max = _limit((reserv.get(limit_key) or {}).get("max")) or 0
        # µs (bytes) of the whole market = reserv_max × market_weight / reserv_weight
        return reserv_max * market_weight, max(1, reserv_weight)

    fee = Asset.parse(str(state["min_powerup_fee"]))
    return PowerupMarket(
        cpu=per_market("cpu", "cpu_limit"),
        net=per_market("net", "net_limit"),
        symbol=fee.symbol,
        min_fee=fee.amount,
        days=int(state.get("powerup_days") or 1),
    )
