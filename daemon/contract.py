"""The names the daemon's modules import from here; they live in the core
(:mod:`payoutengine.contract`, :mod:`payoutengine.traces`), where new code imports them."""

from __future__ import annotations

from payoutengine.contract import ContractTables, Msg
from payoutengine.traces import (
    TransferMade,
    receivers_in_error,
    trace_block_num,
    trace_cpu_us,
    transfers_in_trace,
)

__all__ = [
    "NOTHING_TO_PAY",
    "ContractView",
    "TransferMade",
    "receivers_in_error",
    "trace_block_num",
    "trace_cpu_us",
    "transfers_in_trace",
]

ContractView = ContractTables
NOTHING_TO_PAY = Msg.NOTHING_TO_PAY
