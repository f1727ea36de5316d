"""payoutengine: the shared package of the payout engine — exact amounts, an ABI serializer,
K1 keys, an HTTP chain client with endpoint failover, the journal and the one journaled send
path of the daemon and payer sync, and a local development chain.

The local chain (``payoutengine.localchain``) is not imported here: it holds the development
key and is only for local tooling and tests.
"""

from __future__ import annotations

from .abi import ABI_DEF_ABI, NATIVE_ABI, Abi, int_to_name, name_to_int, pack_abi, unpack_abi
from .amounts import MAX_AMOUNT, Asset, Symbol, format_amount, parse_amount
from .client import ApiNotAvailable, ChainClient, Health
from .errors import (
    AbiError,
    AmountError,
    ChainError,
    ConfigError,
    EndpointError,
    KeyFileError,
    PayoutEngineError,
    TransactionError,
)
from .journal import Journal
from .keys import PrivateKey, load_key
from .sending import Sender, SendResult, Tracker
from .transactions import Action, PermissionLevel, SignedTransaction

__all__ = [
    "ABI_DEF_ABI",
    "MAX_AMOUNT",
    "NATIVE_ABI",
    "Abi",
    "AbiError",
    "Action",
    "AmountError",
    "ApiNotAvailable",
    "Asset",
    "ChainClient",
    "ChainError",
    "ConfigError",
    "EndpointError",
    "Health",
    "Journal",
    "KeyFileError",
    "PayoutEngineError",
    "PermissionLevel",
    "PrivateKey",
    "SendResult",
    "Sender",
    "SignedTransaction",
    "Symbol",
    "TransactionError",
    "Tracker",
    "format_amount",
    "int_to_name",
    "load_key",
    "name_to_int",
    "pack_abi",
    "parse_amount",
    "unpack_abi",
]
