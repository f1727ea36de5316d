"""Exact conversion of a source row's total into an integer of the token's smallest units.

The unit is configured, never guessed (``[source] total_unit``):

- ``"smallest"``: the value is an integer of smallest units — a Python ``int``, a ``Decimal``
  without a fractional part (PostgreSQL's ``SUM(bigint)`` is ``numeric``), or a string of
  digits;
- ``"token"``: the value is a token amount — a decimal string or ``Decimal`` with at most the
  token's precision in decimals (``'1.25'`` is 12500 for a 4-decimal token), or an ``int`` of
  whole tokens.

A ``float`` is always rejected (it cannot carry an exact amount: cast the column to NUMERIC or
TEXT in the query), as are booleans, negative amounts, more decimals than the token has, and
anything above the largest asset amount.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from payoutengine.amounts import MAX_AMOUNT, parse_amount
from payoutengine.errors import AmountError

__all__ = ["RowRejected", "total_to_units"]

_PLAIN_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


class RowRejected(ValueError):
    """A source row cannot be used; ``reason`` is a sentence fragment for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise RowRejected(f"the total {value} is not a number")
    # format without exponent, keeping the written decimals ('1.2500' stays '1.2500')
    return format(value, "f")


def _too_large(text: str, precision: int) -> int | None:
    """The exact value of a plain decimal that :func:`parse_amount` refused only for being
    above the largest asset amount; None when something else is wrong with it."""
    m = _PLAIN_RE.fullmatch(text)
    if m is None or len(m.group(2) or "") > precision:
        return None
    value = int(m.group(1)) * 10**precision + int((m.group(2) or "").ljust(precision, "0") or "0")
    return value if value > MAX_AMOUNT else None


def total_to_units(value: object, precision: int, unit: Literal["smallest", "token"]) -> int:
    """The exact integer amount of ``value``, or :class:`RowRejected`."""
    amount: int | None
    if value is None:
        raise RowRejected("the total is NULL")
    if isinstance(value, bool):
        raise RowRejected(f"the total {value!r} is a boolean, not an amount")
    if isinstance(value, float):
        raise RowRejected(
            f"the total {value!r} is a floating-point number, which cannot hold an exact amount "
            f"(return an integer, NUMERIC or text column)"
        )
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise RowRejected("the total is binary data, not an amount") from None
    if isinstance(value, int):
        amount = value if unit == "smallest" else value * 10**precision
    elif isinstance(value, Decimal | str):
        if isinstance(value, Decimal) and unit == "smallest" and value.is_finite():
            if value != value.to_integral_value():
                raise RowRejected(f"the total {value} is not a whole number of smallest units")
            value = value.to_integral_value()
        text = _decimal_text(value) if isinstance(value, Decimal) else value.strip()
        if text.startswith("-"):
            raise RowRejected(f"the total {text} is negative")
        try:
            amount = parse_amount(text, 0 if unit == "smallest" else precision)
        except AmountError:
            amount = _too_large(text, 0 if unit == "smallest" else precision)
        if amount is None:
            if unit == "smallest":
                raise RowRejected(f"the total {text!r} is not a whole number of smallest units")
            _, _, frac = text.partition(".")
            if frac.isdigit() and len(frac) > precision:
                raise RowRejected(
                    f"the total {text!r} has {len(frac)} decimals but the token has {precision}"
                )
            raise RowRejected(f"the total {text!r} is not a plain decimal amount")
    else:
        raise RowRejected(f"the total {value!r} is a {type(value).__name__}, not an amount")
    if amount < 0:
        raise RowRejected(f"the total {value} is negative")
    if amount > MAX_AMOUNT:
        raise RowRejected(f"the total {value} exceeds the largest asset amount (2^62 - 1)")
    return amount
