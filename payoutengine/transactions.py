"""Transaction value objects: actions, permission levels, and signed transactions that can be
journaled (``to_json``) before sending and re-sent byte for byte later (``from_json``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .abi import NATIVE_ABI, Abi
from .chaintime import parse_chain_time
from .errors import AbiError
from .keys import PrivateKey

__all__ = ["Action", "PermissionLevel", "SignedTransaction", "pack_transaction", "sign"]

_NATIVE = Abi(NATIVE_ABI)


@dataclass(frozen=True, slots=True)
class PermissionLevel:
    """``actor@permission``."""

    actor: str
    permission: str = "active"

    @classmethod
    def parse(cls, text: str) -> PermissionLevel:
        actor, _, perm = text.partition("@")
        return cls(actor, perm or "active")

    def __str__(self) -> str:
        return f"{self.actor}@{self.permission}"


def _level(value: PermissionLevel | tuple[str, str] | str) -> PermissionLevel:
    if isinstance(value, PermissionLevel):
        return value
    if isinstance(value, str):
        return PermissionLevel.parse(value)
    return PermissionLevel(value[0], value[1])


@dataclass(frozen=True)
class Action:
    """One action. ``data`` is either the action's fields (packed with the contract's ABI) or
    already-packed bytes. ``authorization`` takes ``PermissionLevel``s, ``(actor, permission)``
    tuples or ``"actor@permission"`` strings."""

    account: str
    name: str
    authorization: Sequence[PermissionLevel | tuple[str, str] | str]
    data: Mapping[str, Any] | bytes = field(default_factory=dict)

    @property
    def levels(self) -> list[PermissionLevel]:
        return [_level(a) for a in self.authorization]

    def packed(self, abi: Abi | None) -> dict[str, Any]:
        """The action in the transaction layout, with ``data`` as packed bytes."""
        if isinstance(self.data, (bytes, bytearray)):
            data = bytes(self.data)
        else:
            if abi is None:
                raise AbiError(f"No ABI is known for {self.account}; pass the data packed.")
            data = abi.encode_action(self.name, self.data)
        return {
            "account": self.account,
            "name": self.name,
            "authorization": [
                {"actor": lv.actor, "permission": lv.permission} for lv in self.levels
            ],
            "data": data,
        }


def pack_transaction(
    actions: Sequence[Mapping[str, Any]],
    *,
    expiration: datetime,
    ref_block_num: int,
    ref_block_prefix: int,
    max_cpu_usage_ms: int = 0,
    max_net_usage_words: int = 0,
    delay_sec: int = 0,
) -> bytes:
    """Serialize a transaction whose actions are already in the packed layout."""
    return _NATIVE.encode(
        "transaction",
        {
            "expiration": expiration,
            "ref_block_num": ref_block_num,
            "ref_block_prefix": ref_block_prefix,
            "max_net_usage_words": max_net_usage_words,
            "max_cpu_usage_ms": max_cpu_usage_ms,
            "delay_sec": delay_sec,
            "context_free_actions": [],
            "actions": list(actions),
            "transaction_extensions": [],
        },
    )


def sign(chain_id: str, packed_trx: bytes, keys: Sequence[PrivateKey]) -> list[str]:
    """Signatures over ``sha256(chain_id || packed_trx || 32 zero bytes)`` (no context-free
    data)."""
    preimage = bytes.fromhex(chain_id) + packed_trx + bytes(32)
    return [k.sign_digest_preimage(preimage) for k in keys]


@dataclass(frozen=True)
class SignedTransaction:
    """A signed, packed transaction. ``id`` is ``sha256(packed_trx)`` in hex."""

    packed_trx: str
    signatures: list[str]
    expiration: datetime
    chain_id: str = ""

    @property
    def id(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.packed_trx)).hexdigest()

    def request(self) -> dict[str, Any]:
        """The ``packed_transaction`` JSON the chain API takes."""
        return {
            "signatures": list(self.signatures),
            "compression": "none",
            "packed_context_free_data": "",
            "packed_trx": self.packed_trx,
        }

    def decode(self) -> dict[str, Any]:
        """The transaction's header and actions (action data stays packed hex)."""
        result: dict[str, Any] = _NATIVE.decode("transaction", bytes.fromhex(self.packed_trx))
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chain_id": self.chain_id,
            "expiration": self.expiration.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
            "packed_trx": self.packed_trx,
            "signatures": list(self.signatures),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedTransaction:
        exp = parse_chain_time(str(data["expiration"]))
        trx = cls(
            packed_trx=str(data["packed_trx"]),
            signatures=[str(s) for s in data["signatures"]],
            expiration=exp,
            chain_id=str(data.get("chain_id", "")),
        )
        if "id" in data and data["id"] != trx.id:
            raise AbiError("The journaled transaction's id does not match its packed bytes.")
        return trx
