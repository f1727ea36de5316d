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

from payoutengine.contract import Msg
from payoutengine.errors import TransactionError
from payoutengine.traces import failed_token_transfers

from .contract import ContractView
from .metrics import Metrics
from .sender import Sender

__all__ = ["TokenGuard"]

log = logging.getLogger(__name__)


class TokenGuard:
    def __init__(self, view: ContractView, sender: Sender, metrics: Metrics) -> None:
        self.view = view
        self.sender = sender
        self.metrics = metrics

    def handle(self, err: TransactionError) -> bool:
        """Suspend the tokens whose own transfer failed in ``err``; True when there were any
        (the failure is explained: no recipient is to blame)."""
        tokens = failed_token_transfers(err.trace or {}, err.failed_actions, self.view.contract)
        if not tokens:
            return False
        for tkcontract, symbol in tokens:
            token = f"{tkcontract}:{symbol}"
            try:
                res = self.sender.send(
                    "denytoken", {"tkcontract": tkcontract, "currency": str(symbol)}
                )
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
