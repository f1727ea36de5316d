"""Account names: what the chain accepts as an existing account's name.

(Names in general — actions, tables, permissions — may have a 13th character; an account's
may not. :func:`payoutengine.abi.name_to_int` encodes either kind.)"""

from __future__ import annotations

import re

__all__ = ["name_problem"]

_CHARS_RE = re.compile(r"[a-z1-5.]+")


def name_problem(value: object) -> str | None:
    """Why ``value`` cannot be an account name, or None when it can.

    An account name has 1 to 12 characters from ``a-z``, ``1-5`` and ``.``, and does not end
    with a dot (a trailing dot would make it a different name on chain).
    """
    if not isinstance(value, str):
        return f"it is not text but {type(value).__name__}"
    if value == "":
        return "it is empty"
    if len(value) > 12:
        return f"it has {len(value)} characters, at most 12 are allowed"
    if not _CHARS_RE.fullmatch(value):
        return "only a-z, 1-5 and '.' are allowed"
    if value.endswith("."):
        return "it ends with '.'"
    return None
