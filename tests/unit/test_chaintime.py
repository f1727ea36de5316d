"""Chain time and naive-UTC helpers shared by both programs."""

from __future__ import annotations

import datetime as dt

import pytest

from payoutengine.chaintime import naive_utc, parse_chain_time, utcnow
from payoutengine.errors import ChainError

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "2026-11-22T01:53:38", dt.datetime(2026, 11, 22, 1, 53, 38, tzinfo=UTC), id="s"
        ),
        pytest.param(
            "2026-11-22T01:53:38.500",
            dt.datetime(2026, 11, 22, 1, 53, 38, 500_000, tzinfo=UTC),
            id="ms",
        ),
        pytest.param(
            "2026-11-22T01:53:38.000001Z",
            dt.datetime(2026, 11, 22, 1, 53, 38, 1, tzinfo=UTC),
            id="us-Z",
        ),
    ],
)
def test_parse_chain_time(text: str, expected: dt.datetime) -> None:
    assert parse_chain_time(text) == expected


@pytest.mark.parametrize("text", ["", "2026-11-22", "2026-11-22 01:53:38", "yesterday"])
def test_parse_chain_time_rejects(text: str) -> None:
    with pytest.raises(ChainError, match="not of the form"):
        parse_chain_time(text)


def test_naive_utc() -> None:
    aware = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert naive_utc(aware) == dt.datetime(2026, 1, 1, 10)
    assert naive_utc(dt.datetime(2026, 1, 1, 10)) == dt.datetime(2026, 1, 1, 10)
    now = utcnow()
    assert now.tzinfo is None
    assert abs(dt.datetime.now(UTC).replace(tzinfo=None) - now) < dt.timedelta(seconds=5)
