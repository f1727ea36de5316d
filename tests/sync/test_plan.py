"""The pure core: exact diff, oldest-dues-first allocation, batching."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payer_sync.plan import (
    Discrepancy,
    Increase,
    Piece,
    SourceTotal,
    allocate,
    diff,
    diff_stream,
    make_batches,
)

T0 = dt.datetime(2026, 1, 1)


def totals(**kw: int) -> dict[str, SourceTotal]:
    return {k: SourceTotal(k, v, f"memo {k}") for k, v in kw.items()}


def test_diff_books_only_increases_and_reports_lower_totals() -> None:
    incs, disc = diff(
        totals(alice=100, bob=50, carol=7, dave=0),
        {"alice": 60, "bob": 50, "carol": 9, "erin": 3},
    )
    assert incs == [
        Increase("alice", 60, 100, "memo alice", new_recipient=False),
    ]
    assert disc == [Discrepancy("carol", 7, 9), Discrepancy("erin", 0, 3)]


def test_diff_marks_new_recipients_and_ignores_zero_totals() -> None:
    incs, disc = diff(totals(newbie=1, zero=0), {})
    assert incs == [Increase("newbie", 0, 1, "memo newbie", new_recipient=True)]
    assert disc == []


def test_diff_limited_to_given_recipients() -> None:
    incs, disc = diff(totals(a=5, b=6), {"c": 10}, recipients=["b"])
    assert [i.recipient for i in incs] == ["b"]
    assert disc == []


names = st.sampled_from(["alice", "bob", "carol", "dave", "erin", "frank", "gina"])


@given(
    st.dictionaries(names, st.integers(0, 50)),
    st.dictionaries(names, st.integers(0, 50)),
    st.sets(names),
)
def test_diff_stream_equals_diff_reading_the_chain_rows_once(
    db: dict[str, int], chain: dict[str, int], excluded: set[str]
) -> None:
    rows = iter(sorted(chain.items()))
    src = {k: SourceTotal(k, v, f"memo {k}") for k, v in db.items()}
    incs, disc, compared = diff_stream(dict(src), rows, exclude=excluded)
    everyone = (set(db) | set(chain)) - excluded
    assert (incs, disc) == diff(src, chain, recipients=everyone)
    assert compared == len(everyone)
    assert next(rows, None) is None  # read to the end, once


def test_allocate_everything_when_funds_cover() -> None:
    incs = [Increase("a", 0, 10), Increase("b", 5, 8)]
    chosen, shortfall = allocate(incs, [], 13)
    assert chosen == incs and shortfall == 0


def test_allocate_oldest_dues_first_with_partial_last_piece() -> None:
    incs = [Increase("a", 0, 10), Increase("b", 0, 10), Increase("c", 0, 10)]
    pieces = [
        Piece("a", T0 + dt.timedelta(days=3), 10),
        Piece("b", T0 + dt.timedelta(days=1), 4),
        Piece("b", T0 + dt.timedelta(days=5), 6),
        Piece("c", T0 + dt.timedelta(days=2), 10),
    ]
    chosen, shortfall = allocate(incs, pieces, 20)
    # b's first 4 (day 1), c's 10 (day 2), then 6 of a's 10 (day 3)
    assert {i.recipient: i.new_total for i in chosen} == {"a": 6, "b": 4, "c": 10}
    assert shortfall == 10


def test_allocate_with_pieces_that_do_not_add_up_uses_one_piece() -> None:
    incs = [Increase("a", 0, 10), Increase("b", 0, 10)]
    pieces = [Piece("a", T0 + dt.timedelta(days=9), 3), Piece("b", T0, 10)]
    chosen, shortfall = allocate(incs, pieces, 15)
    assert {i.recipient: i.new_total for i in chosen} == {"b": 10, "a": 5}
    assert shortfall == 5


def test_allocate_nothing_when_no_free_funds() -> None:
    chosen, shortfall = allocate([Increase("a", 3, 10)], [], 0)
    assert chosen == [] and shortfall == 7


@given(
    st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=10**7),
)
def test_allocate_never_exceeds_free_funds_and_never_exceeds_totals(
    amounts: list[int], free: int
) -> None:
    incs = [Increase(f"r{i}", i, i + a) for i, a in enumerate(amounts)]
    pieces = [Piece(f"r{i}", T0 + dt.timedelta(seconds=-i), a) for i, a in enumerate(amounts)]
    chosen, shortfall = allocate(incs, pieces, free)
    booked = sum(c.amount for c in chosen)
    need = sum(amounts)
    assert booked == min(need, free)
    assert shortfall == max(0, need - free)
    by = {i.recipient: i for i in incs}
    for c in chosen:
        assert by[c.recipient].booked < c.new_total <= by[c.recipient].new_total


@pytest.mark.parametrize(("n", "size", "expected"), [(0, 3, []), (7, 3, [3, 3, 1]), (3, 3, [3])])
def test_make_batches(n: int, size: int, expected: list[int]) -> None:
    incs = [Increase(f"r{i}", 0, 1) for i in range(n)]
    batches = make_batches(incs, size)
    assert [len(b) for b in batches] == expected
    assert [i for b in batches for i in b] == incs
