from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payoutengine.amounts import (
    MAX_AMOUNT,
    Asset,
    Symbol,
    format_amount,
    gross_up,
    parse_amount,
    symbol_code_from_raw,
    symbol_code_to_raw,
)
from payoutengine.errors import AmountError, PayoutEngineError


@pytest.mark.parametrize(
    ("text", "precision", "expected"),
    [
        pytest.param("1", 4, 10000, id="integer"),
        pytest.param("1.5", 4, 15000, id="fewer-decimals"),
        pytest.param("1.2345", 4, 12345, id="exact-decimals"),
        pytest.param("0.0001", 4, 1, id="smallest-unit"),
        pytest.param("0", 0, 0, id="zero-precision"),
        pytest.param(" 12.30 ", 2, 1230, id="surrounding-space"),
        pytest.param("4611686018427387903", 0, MAX_AMOUNT, id="max"),
        pytest.param("0.12345678", 8, 12345678, id="eight-decimals"),
    ],
)
def test_parse_amount(text: str, precision: int, expected: int) -> None:
    assert parse_amount(text, precision) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1.23456", id="too-many-decimals"),
        pytest.param("1e3", id="exponent"),
        pytest.param("NaN", id="nan"),
        pytest.param("inf", id="inf"),
        pytest.param("-1", id="negative"),
        pytest.param("+1", id="plus-sign"),
        pytest.param("1,000", id="thousands"),
        pytest.param("1.", id="trailing-dot"),
        pytest.param(".5", id="leading-dot"),
        pytest.param("", id="empty"),
        pytest.param("١٢", id="non-ascii-digits"),
        pytest.param("4611686018427387904", id="over-max"),
    ],
)
def test_parse_amount_rejects(text: str) -> None:
    with pytest.raises(AmountError) as exc:
        parse_amount(text, 4 if "46116" not in text else 0)
    assert str(exc.value).endswith(".")
    assert isinstance(exc.value, PayoutEngineError)


def test_parse_amount_negative_when_allowed() -> None:
    assert parse_amount("-1.5", 2, allow_negative=True) == -150


def test_parse_amount_rejects_float() -> None:
    with pytest.raises(AmountError):
        parse_amount(1.5, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "precision", "text"),
    [(15000, 4, "1.5000"), (1, 4, "0.0001"), (0, 4, "0.0000"), (7, 0, "7"), (-5, 2, "-0.05")],
)
def test_format_amount(amount: int, precision: int, text: str) -> None:
    assert format_amount(amount, precision) == text


def test_format_amount_rejects_float() -> None:
    with pytest.raises(AmountError):
        format_amount(1.0, 4)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=MAX_AMOUNT), st.integers(min_value=0, max_value=18))
def test_format_parse_round_trip(amount: int, precision: int) -> None:
    assert parse_amount(format_amount(amount, precision), precision) == amount


def test_symbol_raw_encoding() -> None:
    # eosio's symbol: precision in the low byte, the code's letters from byte 1 upward.
    sym = Symbol("TST", 4)
    assert sym.raw == 0x54535404
    assert symbol_code_to_raw("TST") == 0x545354
    assert symbol_code_from_raw(0x545354) == "TST"
    assert Symbol.from_raw(sym.raw) == sym
    assert Symbol.parse("4,TST") == sym
    assert str(sym) == "4,TST"


@pytest.mark.parametrize("text", ["TST", "4,tst", "4,", "x,TST", "19,TST", "4,TOOLONGX"])
def test_symbol_parse_rejects(text: str) -> None:
    with pytest.raises(AmountError):
        Symbol.parse(text)


def test_asset_parse_and_format() -> None:
    a = Asset.parse("1.2345 TST")
    assert a == Asset(12345, Symbol("TST", 4))
    assert str(a) == "1.2345 TST"
    assert str(Asset.parse("10 NOD")) == "10 NOD"
    assert Asset.parse("0.00000001 PAY").amount == 1
    assert str(Asset.parse("1.0000 TST") + Asset.parse("0.5000 TST")) == "1.5000 TST"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1.2345TST", id="no-space"),
        pytest.param("-1.0000 TST", id="negative"),
        pytest.param("1.0000 tst", id="lower-case"),
        pytest.param("1. TST", id="dot-no-decimals"),
        pytest.param("1e2 TST", id="exponent"),
        pytest.param("1.0000  TST", id="two-spaces"),
    ],
)
def test_asset_parse_rejects(text: str) -> None:
    with pytest.raises(AmountError):
        Asset.parse(text)


def test_asset_parse_checks_expected_symbol() -> None:
    with pytest.raises(AmountError, match="expected 4 decimals"):
        Asset.parse("1.00 TST", symbol=Symbol("TST", 4))
    assert Asset.parse("1.0000 TST", symbol=Symbol("TST", 4)).amount == 10000


def test_asset_rejects_float_and_mixing() -> None:
    with pytest.raises(AmountError):
        Asset(1.5, Symbol("TST", 4))  # type: ignore[arg-type]
    with pytest.raises(AmountError):
        Asset.parse("1.0000 TST") + Asset.parse("1.00000000 PAY")


@pytest.mark.parametrize("fee_permille", [0, 1, 5, 123, 999])
@pytest.mark.parametrize("net", [0, 1, 7, 995, 1_000_000, 4_611_686_018_427_387_903])
def test_gross_up_leaves_net_after_the_fee(net: int, fee_permille: int) -> None:
    def left(deposit: int, *, fee_rounded_up: bool = True) -> int:
        """What stays with the contract after the fee."""
        if fee_rounded_up:
            return deposit - -(-deposit * fee_permille // 1000)
        return deposit - deposit * fee_permille // 1000

    gross = gross_up(net, fee_permille)
    assert left(gross) >= net and left(gross, fee_rounded_up=False) >= net
    assert gross == 0 or left(gross - 1) < net  # the smallest such deposit
