"""Exact token amounts: integers in the token's smallest unit, parsed from and formatted to
decimal strings without ever touching a float or a Decimal.

- :class:`Symbol` — ``4,TST``: a precision and a code of 1–7 upper-case letters.
- :class:`Asset` — ``1.2345 TST``: an ``int64`` amount and a symbol.
- :func:`parse_amount` / :func:`format_amount` — a decimal string in a known precision.
- :func:`gross_up` — a deposit that leaves a given amount once the contract took its fee.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .errors import AmountError

__all__ = [
    "MAX_AMOUNT",
    "Asset",
    "Symbol",
    "format_amount",
    "gross_up",
    "parse_amount",
    "symbol_code_from_raw",
    "symbol_code_to_raw",
]

#: the largest amount an eosio asset may hold: 2^62 - 1.
MAX_AMOUNT = (1 << 62) - 1
#: a symbol's precision is one byte on chain, but the chain limits it to 18.
MAX_PRECISION = 18

_CODE_RE = re.compile(r"[A-Z]{1,7}")
_AMOUNT_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")


@functools.lru_cache(maxsize=256)
def symbol_code_to_raw(code: str) -> int:
    """The uint64 encoding of a symbol code (``"TST"``): letters from the low byte up."""
    if not _CODE_RE.fullmatch(code):
        raise AmountError(f"The symbol code {code!r} is not 1 to 7 upper-case letters A-Z.")
    raw = 0
    for i, ch in enumerate(code):
        raw |= ord(ch) << (8 * i)
    return raw


def symbol_code_from_raw(raw: int) -> str:
    """The symbol code whose uint64 encoding is ``raw``."""
    chars = []
    while raw:
        chars.append(chr(raw & 0xFF))
        raw >>= 8
    code = "".join(chars)
    if not _CODE_RE.fullmatch(code):
        raise AmountError(f"The value {raw:#x} does not encode a valid symbol code.")
    return code


@dataclass(frozen=True, slots=True)
class Symbol:
    """A token symbol: a code of 1–7 upper-case letters and a precision (decimals)."""

    code: str
    precision: int

    def __post_init__(self) -> None:
        symbol_code_to_raw(self.code)  # validates
        if not 0 <= self.precision <= MAX_PRECISION:
            raise AmountError(
                f"The precision {self.precision} of symbol {self.code} is not between 0 and "
                f"{MAX_PRECISION}."
            )

    @property
    def raw(self) -> int:
        """The uint64 encoding: precision in the low byte, the code above it."""
        return (symbol_code_to_raw(self.code) << 8) | self.precision

    @classmethod
    def from_raw(cls, raw: int) -> Symbol:
        return cls(symbol_code_from_raw(raw >> 8), raw & 0xFF)

    @classmethod
    def parse(cls, text: str) -> Symbol:
        """Parse ``"4,TST"``."""
        prec, sep, code = text.strip().partition(",")
        if not sep or not prec.isdigit() or not prec.isascii():
            raise AmountError(f"The symbol {text!r} is not of the form '4,TST'.")
        return cls(code, int(prec))

    def __str__(self) -> str:
        return f"{self.precision},{self.code}"


def parse_amount(text: str, precision: int, *, allow_negative: bool = False) -> int:
    """Parse a decimal string in a token's precision into an integer of smallest units.

    ``parse_amount("1.5", 4) == 15000``. Fewer decimals than ``precision`` are fine; more are
    an error, as are exponents, NaN/inf, signs other than a leading ``-`` (only with
    ``allow_negative``), thousands separators and anything beyond ``MAX_AMOUNT``.
    """
    if not isinstance(text, str):
        raise AmountError(
            f"An amount must be given as a decimal string, not {type(text).__name__}."
        )
    m = _AMOUNT_RE.fullmatch(text.strip())
    if not m or not text.strip().isascii():
        raise AmountError(f"The amount {text!r} is not a plain decimal number like '12.3400'.")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if sign and not allow_negative:
        raise AmountError(f"The amount {text!r} is negative; only positive amounts are allowed.")
    if len(frac) > precision:
        raise AmountError(
            f"The amount {text!r} has {len(frac)} decimals but the token has only {precision}."
        )
    value = int(whole) * 10**precision + int(frac.ljust(precision, "0") or "0")
    if value > MAX_AMOUNT:
        raise AmountError(f"The amount {text!r} exceeds the largest asset amount (2^62 - 1).")
    return -value if sign else value


def format_amount(amount: int, precision: int) -> str:
    """Format an integer of smallest units as a decimal string with exactly ``precision``
    decimals: ``format_amount(15000, 4) == "1.5000"``."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise AmountError(f"An amount must be an integer, not {type(amount).__name__}.")
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount)).rjust(precision + 1, "0")
    if precision == 0:
        return sign + digits
    return f"{sign}{digits[:-precision]}.{digits[-precision:]}"


def gross_up(net: int, fee_permille: int) -> int:
    """The smallest deposit that leaves at least ``net`` after a deposit fee of
    ``fee_permille`` rounded up (``ceil(deposit * fee_permille / 1000)``); it leaves at least
    ``net`` when the fee is rounded down too."""
    if not 0 <= fee_permille < 1000:
        raise AmountError(f"A fee of {fee_permille} permille is not below 1000.")
    deposit = -(-net * 1000 // (1000 - fee_permille))
    while deposit - -(-deposit * fee_permille // 1000) < net:
        deposit += 1
    return deposit


@dataclass(frozen=True, slots=True)
class Asset:
    """An eosio asset: ``amount`` in smallest units and its :class:`Symbol`."""

    amount: int
    symbol: Symbol

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise AmountError(
                f"An asset amount must be an integer, not {type(self.amount).__name__}."
            )
        if abs(self.amount) > MAX_AMOUNT:
            raise AmountError(f"The amount {self.amount} exceeds the largest asset amount.")

    @classmethod
    def parse(
        cls, text: str, *, allow_negative: bool = False, symbol: Symbol | None = None
    ) -> Asset:
        """Parse ``"1.2345 TST"`` exactly. The number of decimals *is* the precision and must
        match ``symbol`` when one is given."""
        if not isinstance(text, str):
            raise AmountError(f"An asset must be a string like '1.0000 TST', not {text!r}.")
        number, sep, code = text.strip().partition(" ")
        if not sep or " " in code:
            raise AmountError(f"The asset {text!r} is not of the form '1.0000 TST'.")
        _, _, frac = number.partition(".")
        precision = len(frac)
        if "." in number and precision == 0:
            raise AmountError(f"The asset {text!r} has a decimal point but no decimals.")
        sym = Symbol(code, precision)
        if symbol is not None and sym != symbol:
            raise AmountError(
                f"The asset {text!r} does not match the symbol {symbol}: expected "
                f"{symbol.precision} decimals of {symbol.code}."
            )
        return cls(parse_amount(number, precision, allow_negative=allow_negative), sym)

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.symbol.precision)} {self.symbol.code}"

    def __add__(self, other: Asset) -> Asset:
        self._same(other)
        return Asset(self.amount + other.amount, self.symbol)

    def __sub__(self, other: Asset) -> Asset:
        self._same(other)
        return Asset(self.amount - other.amount, self.symbol)

    def _same(self, other: Asset) -> None:
        if other.symbol != self.symbol:
            raise AmountError(f"Cannot combine {self.symbol} with {other.symbol}.")
