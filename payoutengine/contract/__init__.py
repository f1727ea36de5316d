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

from .actions import (
    ADMIN_ACTIONS,
    BookRecord,
    allowtoken,
    approveacc,
    book,
    bookm,
    claim,
    denytoken,
    newschedule,
    runpayouts,
    setadmin,
    setfee,
    token_open,
    token_transfer,
    unapproveacc,
    wake,
    withdraw,
)
from .messages import Msg
from .rows import Active, Approval, Due, Funds, Recipient, Schedule, Settings, Token
from .tables import ZERO_CODE_HASH, ContractTables

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
