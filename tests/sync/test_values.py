"""Exact conversion of source totals: every accepted form, every rejected one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payer_sync.values import RowRejected, total_to_units
from payoutengine.amounts import MAX_AMOUNT, format_amount


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        pytest.param(12345, "smallest", 12345, id="int-smallest"),
        pytest.param("12345", "smallest", 12345, id="digits-smallest"),
        pytest.param(Decimal("12345"), "smallest", 12345, id="pg-sum-numeric"),
        pytest.param(Decimal("12345.000"), "smallest", 12345, id="integral-decimal"),
        pytest.param(0, "smallest", 0, id="zero"),
        pytest.param("1.2345", "token", 12345, id="token-text"),
        pytest.param("1.2", "token", 12000, id="fewer-decimals"),
        pytest.param(" 7 ", "token", 70000, id="whole-tokens-text"),
        pytest.param(Decimal("0.0001"), "token", 1, id="token-decimal"),
        pytest.param(3, "token", 30000, id="int-whole-tokens"),
        pytest.param(MAX_AMOUNT, "smallest", MAX_AMOUNT, id="max"),
    ],
)
def test_accepted(value: object, unit: str, expected: int) -> None:
    assert total_to_units(value, 4, unit) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "unit", "reason"),
    [
        pytest.param(
            1.5,
            "token",
            "the total 1.5 is a floating-point number, which cannot hold an exact amount "
            "(return an integer, NUMERIC or text column)",
            id="float",
        ),
        pytest.param(
            100.0,
            "smallest",
            "the total 100.0 is a floating-point number, which cannot hold an exact amount "
            "(return an integer, NUMERIC or text column)",
            id="integral-float",
        ),
        pytest.param(-5, "smallest", "the total -5 is negative", id="negative-int"),
        pytest.param("-1.0000", "token", "the total -1.0000 is negative", id="negative-text"),
        pytest.param(Decimal("-2"), "smallest", "the total -2 is negative", id="negative-decimal"),
        pytest.param(
            "1.23456",
            "token",
            "the total '1.23456' has 5 decimals but the token has 4",
            id="too-many-decimals",
        ),
        pytest.param(
            Decimal("0.00001"),
            "token",
            "the total '0.00001' has 5 decimals but the token has 4",
            id="too-many-decimals-decimal",
        ),
        pytest.param(
            "12.5",
            "smallest",
            "the total '12.5' is not a whole number of smallest units",
            id="fraction-of-unit-text",
        ),
        pytest.param(
            Decimal("12.5"),
            "smallest",
            "the total 12.5 is not a whole number of smallest units",
            id="fraction-of-unit-decimal",
        ),
        pytest.param("1e5", "token", "the total '1e5' is not a plain decimal amount", id="exp"),
        pytest.param("abc", "token", "the total 'abc' is not a plain decimal amount", id="text"),
        pytest.param(None, "smallest", "the total is NULL", id="null"),
        pytest.param(True, "smallest", "the total True is a boolean, not an amount", id="bool"),
        pytest.param(
            MAX_AMOUNT + 1,
            "smallest",
            f"the total {MAX_AMOUNT + 1} exceeds the largest asset amount (2^62 - 1)",
            id="too-big",
        ),
        pytest.param(Decimal("NaN"), "token", "the total NaN is not a number", id="nan"),
    ],
)
def test_rejected(value: object, unit: str, reason: str) -> None:
    with pytest.raises(RowRejected) as info:
        total_to_units(value, 4, unit)  # type: ignore[arg-type]
    assert info.value.reason == reason


@given(st.integers(min_value=0, max_value=MAX_AMOUNT), st.integers(min_value=0, max_value=18))
def test_token_text_roundtrip_is_exact(amount: int, precision: int) -> None:
    text = format_amount(amount, precision)
    if amount > MAX_AMOUNT:
        return
    assert total_to_units(text, precision, "token") == amount
    assert total_to_units(Decimal(text), precision, "token") == amount
