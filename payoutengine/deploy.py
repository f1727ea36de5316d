"""Deploying the payoutengine contract to a real chain: ``setcode`` + ``setabi``, adding
``<account>@eosio.code`` to its active permission (keeping the existing keys and accounts),
and optionally ``setadmin`` / ``setfee``; the admin daemon's dedicated permission, and the web
server's sponsor permission (linked to ``claim`` only)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import contract as pc
from .abi import pack_abi
from .amounts import Symbol
from .client import ChainClient
from .errors import ChainError, ConfigError
from .keys import PrivateKey
from .transactions import Action

__all__ = [
    "DeployResult",
    "SYSTEM_RESOURCE_ACTIONS",
    "add_code_permission",
    "daemon_permission_actions",
    "deploy_contract",
    "linked_permission_actions",
    "positional_args",
    "sponsor_permission_actions",
]

log = logging.getLogger(__name__)

DeployResult = dict[str, Any]

#: the eosio actions a daemon that keeps its own CPU/NET signs (docs/operations.md,
#: "Resources: CPU, NET and RAM").
SYSTEM_RESOURCE_ACTIONS = ("powerup",)


def linked_permission_actions(
    account: str, permission: str, public_key: str, *, contract: str, actions: Sequence[str]
) -> list[Action]:
    """``updateauth`` creating ``account@permission`` (child of active, one key) and a
    ``linkauth`` of it to each of ``actions`` of ``contract``: a key that can sign those actions
    and nothing else. Signed by ``account@active``."""
    auth = [f"{account}@active"]
    key_auth = {
        "threshold": 1,
        "keys": [{"key": public_key, "weight": 1}],
        "accounts": [],
        "waits": [],
    }
    out = [
        Action(
            "eosio",
            "updateauth",
            auth,
            {"account": account, "permission": permission, "parent": "active", "auth": key_auth},
        )
    ]
    out += [
        Action(
            "eosio",
            "linkauth",
            auth,
            {"account": account, "code": contract, "type": action, "requirement": permission},
        )
        for action in actions
    ]
    return out


def daemon_permission_actions(
    admin: str, permission: str, public_key: str, *, contract: str, powerup: bool = False
) -> list[Action]:
    """The admin daemon's permission, linked to :data:`payoutengine.contract.ADMIN_ACTIONS`.
    With ``powerup`` (EOS, ``[resources] max_powerup_fee_per_day`` set) also to
    ``eosio::powerup``, so the daemon rents its own CPU/NET."""
    actions = linked_permission_actions(
        admin, permission, public_key, contract=contract, actions=pc.ADMIN_ACTIONS
    )
    if powerup:
        actions += [
            Action(
                "eosio",
                "linkauth",
                [f"{admin}@active"],
                {"account": admin, "code": "eosio", "type": action, "requirement": permission},
            )
            for action in SYSTEM_RESOURCE_ACTIONS
        ]
    return actions


def sponsor_permission_actions(
    account: str, permission: str, public_key: str, *, contract: str
) -> list[Action]:
    """The web server's sponsor permission (``payoutengine web``), linked to ``claim`` only:
    its key can push recipients' claims, paying their CPU, and do nothing else."""
    return linked_permission_actions(
        account, permission, public_key, contract=contract, actions=["claim"]
    )


def positional_args(abi: Mapping[str, Any], action: str, values: Sequence[Any]) -> dict[str, Any]:
    """Action data from positional values, named by the ABI's struct fields."""
    try:
        type_name = next(a["type"] for a in abi["actions"] if a["name"] == action)
        fields = next(s["fields"] for s in abi["structs"] if s["name"] == type_name)
    except StopIteration:
        raise ChainError(f"The contract's ABI has no action {action}.") from None
    names = [f["name"] for f in fields]
    if len(names) != len(values):
        raise ChainError(
            f"The contract's {action} takes {len(names)} arguments ({', '.join(names)}), "
            f"not {len(values)}."
        )
    return dict(zip(names, values, strict=True))


def add_code_permission(
    client: ChainClient, account: str, keys: Sequence[PrivateKey], *, permission: str = "active"
) -> bool:
    """Add ``account@eosio.code`` to ``account@active``, keeping what is there. Returns False
    when it is already present."""
    info = client.get_account(account)
    if info is None:
        raise ChainError(f"The account {account} does not exist on this chain.")
    perm = next((p for p in info["permissions"] if p["perm_name"] == "active"), None)
    if perm is None:
        raise ChainError(f"The account {account} has no active permission.")
    auth = perm["required_auth"]
    accounts = list(auth.get("accounts", []))
    code_level = {"actor": account, "permission": "eosio.code"}
    if any(a["permission"] == code_level for a in accounts):
        return False
    accounts.append({"permission": code_level, "weight": int(auth["threshold"])})
    accounts.sort(key=lambda a: (a["permission"]["actor"], a["permission"]["permission"]))
    new_auth = {
        "threshold": int(auth["threshold"]),
        "keys": [{"key": k["key"], "weight": int(k["weight"])} for k in auth.get("keys", [])],
        "accounts": [{"permission": a["permission"], "weight": int(a["weight"])} for a in accounts],
        "waits": [
            {"wait_sec": int(w["wait_sec"]), "weight": int(w["weight"])}
            for w in auth.get("waits", [])
        ],
    }
    client.push(
        [
            Action(
                "eosio",
                "updateauth",
                [(account, permission)],
                {"account": account, "permission": "active", "parent": "owner", "auth": new_auth},
            )
        ],
        keys,
    )
    return True


def deploy_contract(
    client: ChainClient,
    account: str,
    wasm: Path,
    abi: Path,
    keys: Sequence[PrivateKey],
    *,
    permission: str = "active",
    admin: str | None = None,
    fee_account: str | None = None,
    fee_permille: int | None = None,
    allow_tokens: Sequence[tuple[str, str]] = (),
    admin_keys: Sequence[PrivateKey] = (),
) -> DeployResult:
    """Deploy (skipping ``setcode`` when the chain already runs this exact wasm), add
    eosio.code, then ``setadmin(admin)``, ``setfee(fee_account, fee_permille)`` and
    ``allowtoken(contract, symbol)`` for each of ``allow_tokens`` (``("eosio.token", "4,EOS")``)
    when given. ``setfee`` and ``allowtoken`` are signed by ``admin_keys`` (default: ``keys``) as
    ``admin@active``."""
    try:
        code = wasm.read_bytes()
        abi_json = json.loads(abi.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"The contract files cannot be read: {exc}.") from exc
    if (fee_account is None) != (fee_permille is None):
        raise ConfigError("Give both the fee account and the fee permille, or neither.")
    result: DeployResult = {"account": account}
    code_hash = hashlib.sha256(code).hexdigest()
    auth = [(account, permission)]
    actions: list[Action] = []
    if client.get_code_hash(account) != code_hash:
        actions.append(
            Action(
                "eosio",
                "setcode",
                auth,
                {"account": account, "vmtype": 0, "vmversion": 0, "code": code},
            )
        )
    actions.append(Action("eosio", "setabi", auth, {"account": account, "abi": pack_abi(abi_json)}))
    trace = client.push(actions, keys)
    result["transaction_id"] = trace.get("transaction_id")
    result["code_hash"] = code_hash
    client.invalidate_abi(account)
    result["eosio_code_added"] = add_code_permission(client, account, keys, permission=permission)
    if admin is not None:
        client.push([pc.setadmin(account, admin, authority=auth)], keys)
        result["admin"] = admin
    if fee_account is not None and fee_permille is not None:
        if admin is None:
            raise ConfigError("Setting the fee needs the admin account (--admin).")
        setfee = pc.setfee(account, fee_account, fee_permille, authority=[(admin, "active")])
        client.push([setfee], list(admin_keys) or keys)
        result["fee"] = {"account": fee_account, "permille": fee_permille}
    if allow_tokens:
        if admin is None:
            raise ConfigError("Allowing tokens needs the admin account (--admin).")
        have = {(t.tkcontract, str(t.symbol)) for t in pc.ContractTables(client, account).tokens()}
        for tkcontract, symbol in allow_tokens:
            if (tkcontract, symbol) in have:
                continue  # deploying again: already allowed
            allow = pc.allowtoken(
                account, tkcontract, Symbol.parse(symbol), authority=[(admin, "active")]
            )
            client.push([allow], list(admin_keys) or keys)
        result["tokens"] = [f"{c}:{s}" for c, s in allow_tokens]
    log.info("deployed %s (code hash %s)", account, code_hash)
    return result
