"""Failing tokens: a token contract whose own ``transfer`` fails inside ``runpayouts``.

Such a failure is not a recipient's: unapproving anybody would punish an innocent account and
change nothing, since every ``runpayouts`` that reaches a schedule of that token fails the same
way. :class:`TokenGuard` recognises it in the failure trace (the failing action is ``transfer``
executed by the token contract itself, not a notification to the recipient), suspends the token
with ``denytoken`` so the contract passes over its schedules and everyone else is paid, counts it
in ``payoutengine_tokens_suspended{token}`` and logs an error naming it. Nothing is lost: the
token's bookings, dues and funds stay, and ``allowtoken`` (by the admin, once the token works
again) plus the daemon's next wake bring its schedules back.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Mapping
from typing import Any

from payoutengine.amounts import symbol_code_from_raw
from payoutengine.contract import Msg
from payoutengine.errors import TransactionError

from .contract import ContractView
from .metrics import Metrics
from .sender import Sender

__all__ = ["TokenGuard", "failing_token_transfers"]

log = logging.getLogger(__name__)


def _traces(trace: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from trace.get("action_traces") or []


def _symbol_of(data: Any) -> str | None:
    """'4,EOS' from a transfer's data: decoded JSON, or hex of (from, to, asset, memo)."""
    if isinstance(data, Mapping):
        amount, _, code = str(data.get("quantity", "")).partition(" ")
        return f"{len(amount.partition('.')[2])},{code}" if code else None
    if isinstance(data, str) and len(data) >= 64:
        raw = bytes.fromhex(data[32:64])
        _amount, sym = struct.unpack("<qQ", raw)
        return f"{sym & 0xFF},{symbol_code_from_raw(sym >> 8)}"
    return None


def failing_token_transfers(err: TransactionError, contract: str) -> list[tuple[str, str]]:
    """``(token contract, symbol)`` of each transfer that failed inside the token contract
    itself (receiver = the action's account) in a transaction of ``contract``'s."""
    out: list[tuple[str, str]] = []
    failed = {(r, a, n) for r, a, n in err.failed_actions}
    for at in _traces(err.trace or {}):
        act = at.get("act") or {}
        account, name, receiver = act.get("account"), act.get("name"), at.get("receiver")
        if name != "transfer" or receiver != account or account == contract:
            continue
        if not (at.get("except") or (receiver, account, name) in failed):
            continue
        symbol = _symbol_of(act.get("data"))
        if symbol and (str(account), symbol) not in out:
            out.append((str(account), symbol))
    return out


class TokenGuard:
    def __init__(self, view: ContractView, sender: Sender, metrics: Metrics) -> None:
        self.view = view
        self.sender = sender
        self.metrics = metrics

    def handle(self, err: TransactionError) -> bool:
        """Suspend the tokens whose own transfer failed in ``err``; True when there were any
        (the failure is explained: no recipient is to blame)."""
        tokens = failing_token_transfers(err, self.view.contract)
        if not tokens:
            return False
        for tkcontract, symbol in tokens:
            token = f"{tkcontract}:{symbol}"
            try:
                res = self.sender.send("denytoken", {"tkcontract": tkcontract, "currency": symbol})
            except TransactionError as e:
                if e.message != Msg.TOKEN_NOT_ALLOWED:  # not allowed: already suspended, fine
                    # Still the token's fault: nobody is unapproved for it. Payouts that reach
                    # its schedules keep failing until the admin runs denytoken.
                    log.error(
                        "a token's own transfer fails and it could not be suspended: run "
                        "denytoken, and link the daemon's permission to it "
                        "(docs/operations.md, A dedicated permission)",
                        extra={"token": token, "error": e.message},
                    )
                continue
            self.metrics.tokens_suspended.labels(token).inc()
            log.error(
                "token suspended: its own transfer fails; its schedules are passed over until "
                "the admin allows it again",
                extra={"token": token, "tx_id": res.tx_id, "error": err.message},
            )
        return True
