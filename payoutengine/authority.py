"""Checking a signing key against the chain before a program uses it: the key must satisfy
the permission it signs for, and must not control the account's ``owner`` permission (a
leaked key of a running program must not be able to take the account over)."""

from __future__ import annotations

from typing import Any

from .client import ChainClient
from .errors import ConfigError, KeyFileError
from .keys import PrivateKey

__all__ = ["check_signing_key"]


def _permission(account: dict[str, Any], name: str) -> dict[str, Any] | None:
    for p in account.get("permissions") or []:
        if p.get("perm_name") == name:
            return dict(p)
    return None


def _weight(permission: dict[str, Any], key: PrivateKey) -> tuple[int, int]:
    """(weight of ``key`` alone, threshold) of a permission."""
    auth = permission.get("required_auth") or {}
    mine = {key.public_key, key.public_key_k1}
    weight = sum(int(k.get("weight", 0)) for k in auth.get("keys") or [] if k.get("key") in mine)
    return weight, int(auth.get("threshold", 1))


def check_signing_key(
    client: ChainClient, account: str, permission: str, key: PrivateKey, *, advice: str
) -> None:
    """Raise KeyFileError when ``key`` controls ``account@owner`` (``advice`` says what to use
    instead) or cannot sign for ``account@permission``; ConfigError when the account or the
    permission does not exist."""
    data = client.get_account(account)
    if data is None:
        raise ConfigError(f"The account {account!r} does not exist on this chain.")
    owner = _permission(data, "owner")
    if owner is not None:
        weight, threshold = _weight(owner, key)
        if weight >= threshold:
            raise KeyFileError(
                f"The key {key.public_key} controls the owner permission of {account}; {advice}"
            )
    perm = _permission(data, permission)
    if perm is None:
        raise ConfigError(
            f"The account {account} has no permission {permission!r}; create it with updateauth "
            "and linkauth, or fix the configured permission."
        )
    weight, threshold = _weight(perm, key)
    if weight < threshold:
        raise KeyFileError(
            f"The key {key.public_key} cannot sign for {account}@{permission} "
            f"(weight {weight} of threshold {threshold})."
        )
