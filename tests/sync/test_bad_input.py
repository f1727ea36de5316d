"""Every bad input gives its exact report line, and nothing else in the batch is lost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, text

from payer_sync.config import RunConfig
from payer_sync.state import invalid_names, open_state
from payoutengine.localchain import CONTRACT_ACCOUNT

from .conftest import Payer, ledger, syncer, unique_name


def _cached_invalid(state_url: str) -> dict[str, str]:
    journal = open_state(state_url)
    try:
        with journal.session() as s:
            return invalid_names(s, recheck_after_s=3600)
    finally:
        journal.close()


def test_bad_ledger_rows_are_reported_and_the_rest_is_booked(
    payer: Payer, accounts: Callable[[int], list[str]], db_url: str, state_url: str
) -> None:
    payer.deposit("1000.0000 TST")
    good = accounts(12)
    ghost = unique_name("nx")  # a valid name without an account
    lowered = good[0]  # the database will say less than the chain
    credit = ledger(db_url)
    # the chain already holds 5.0000 TST for `lowered` (booked by someone, e.g. an old run)
    payer.chain.action(
        CONTRACT_ACCOUNT,
        "bookm",
        {
            "schedule_name": payer.schedule,
            "records": [{"recipient": lowered, "new_total": "5.0000 TST", "memo": ""}],
        },
        f"{payer.name}@active",
    )
    credit(*[(n, 20_000 + i) for i, n in enumerate(good)])
    credit(
        ("Bad.Name", 100),
        (ghost, 100),  # valid name, no such account: mixed into a good batch
        ("toolongname123", 100),
        (CONTRACT_ACCOUNT, 100),
        ("negative", 5),
        ("negative", -10),
        ("longmemo", 7, "x" * 300),
    )
    s = syncer(payer.config(db_url, state_url, records_per_tx=5))
    r = s.sync()
    assert not r.ok
    booked = payer.booked()
    # every good recipient but `lowered` is booked exactly; `lowered` keeps its chain total
    assert {n: booked[n] for n in good} == {
        n: (50_000 if n == lowered else 20_000 + i) for i, n in enumerate(good)
    }
    assert set(booked) == set(good)
    assert sorted(r.problems()) == sorted(
        [
            (
                "discrepancy",
                lowered,
                "database total 2.0000 TST is below the booked total 5.0000 TST; not changed "
                "on chain",
            ),
            (
                "invalid name",
                "Bad.Name",
                "not a valid account name: only a-z, 1-5 and '.' are allowed",
            ),
            ("invalid name", ghost, "the account does not exist"),
            (
                "invalid name",
                "toolongname123",
                "not a valid account name: it has 14 characters, at most 12 are allowed",
            ),
            ("invalid name", CONTRACT_ACCOUNT, "the payout contract itself cannot be a recipient"),
            ("rejected row", "recipient 'negative': sum of credits -5", "the total -5 is negative"),
            (
                "rejected row",
                "recipient 'longmemo': sum of credits 7",
                "the memo is 300 bytes long, at most 256 are allowed",
            ),
        ]
    )
    # invalid names are cached in the local state
    cached = _cached_invalid(state_url)
    assert set(cached) == {"Bad.Name", ghost, "toolongname123", CONTRACT_ACCOUNT}

    # a second run: nothing is sent, the same problems are listed (the nonexistent account
    # from the cache, without another refused transaction)
    r2 = s.sync()
    assert r2.transactions == 0 and r2.booked == [] and r2.failures == []
    assert sorted(r2.problems()) == sorted(r.problems())

    # once the account exists and its cache entry is due for a recheck, it is booked
    payer.chain.create_account(ghost)
    r3 = syncer(payer.config(db_url, state_url)).sync()
    assert ghost in r3.invalid  # still cached
    s.config = replace(s.config, run=RunConfig(invalid_recheck_s=0))
    r4 = s.sync()
    assert [i.recipient for i in r4.booked] == [ghost]
    assert payer.booked()[ghost] == 100
    assert ghost not in _cached_invalid(state_url)


def test_query_source_with_bad_rows(
    payer: Payer, accounts: Callable[[int], list[str]], db_url: str, state_url: str
) -> None:
    payer.deposit("1000.0000 TST")
    a, b, c, d = accounts(4)
    pg = db_url.startswith("postgresql")
    owed_type = "NUMERIC" if pg else "VARCHAR(40)"  # NUMERIC arrives as Decimal, TEXT as str
    eng = create_engine(db_url)
    with eng.begin() as conn:
        conn.execute(
            text(f"CREATE TABLE payouts (account VARCHAR(20), owed {owed_type}, note VARCHAR(300))")
        )
        conn.execute(
            text("INSERT INTO payouts VALUES (:a, :o, :n)"),
            [
                {"a": a, "o": "1.2500", "n": "thanks"},
                {"a": b, "o": "2", "n": None},
                {"a": c, "o": "1.23456", "n": None},  # wrong precision
                {"a": d, "o": "-1.0000", "n": None},  # negative
                {"a": "dup", "o": "1.0000", "n": None},
                {"a": "dup", "o": "2.0000", "n": None},
            ],
        )
    eng.dispose()

    def row(name: str, owed: str) -> str:
        return f"('{name}', Decimal('{owed}'), None)" if pg else f"('{name}', '{owed}', None)"

    # first a query that returns floating-point totals: every row is refused, nothing booked
    real = "DOUBLE PRECISION" if pg else "DOUBLE" if db_url.startswith("mysql") else "REAL"
    floats = payer.config(
        db_url,
        state_url,
        kind="query",
        query=f"SELECT account, CAST(owed AS {real}), note FROM payouts WHERE account = '{a}'",
        total_unit="token",
    )
    rf = syncer(floats).sync()
    assert rf.booked == [] and payer.booked() == {}
    assert rf.problems() == [
        (
            "rejected row",
            f"('{a}', 1.25, 'thanks')",
            "the total 1.25 is a floating-point number, which cannot hold an exact amount "
            "(return an integer, NUMERIC or text column)",
        )
    ]

    query = "SELECT account, owed, note FROM payouts"
    cfg = payer.config(db_url, state_url, kind="query", query=query, total_unit="token")
    r = syncer(cfg).sync()
    assert payer.booked() == {a: 12_500, b: 20_000}
    assert {(i.recipient, i.memo) for i in r.booked} == {(a, "thanks"), (b, "")}
    dup = "the recipient appears in 2 rows; the query must return one row per recipient"
    assert sorted(r.problems()) == sorted(
        [
            (
                "rejected row",
                row(c, "1.23456"),
                "the total '1.23456' has 5 decimals but the token has 4",
            ),
            ("rejected row", row(d, "-1.0000"), "the total -1.0000 is negative"),
            ("rejected row", row("dup", "1.0000"), dup),
            ("rejected row", row("dup", "2.0000"), dup),
        ]
    )
    # a second run books nothing and reports the same rows
    r2 = syncer(cfg).sync()
    assert r2.booked == [] and sorted(r2.problems()) == sorted(r.problems())


def test_shortfall_books_oldest_dues_first_then_the_rest_after_a_deposit(
    payer: Payer, accounts: Callable[[int], list[str]], tmp_path: Path, state_url: str
) -> None:
    import datetime as dt

    payer.deposit("10.0000 TST")  # 9.9500 TST after the 5 permille fee
    free = payer.free()
    assert free == 99_500
    old, mid, new = accounts(3)
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    credit = ledger(url)
    t0 = dt.datetime(2026, 1, 1)
    credit((new, 50_000), created_at=t0 + dt.timedelta(days=3))
    credit((old, 40_000), created_at=t0)
    credit((mid, 30_000), created_at=t0 + dt.timedelta(days=1))
    credit((old, 20_000), created_at=t0 + dt.timedelta(days=2))
    s = syncer(payer.config(url, state_url))
    r = s.sync()
    # old: 40000 (day 0); mid: 30000 (day 1); old: 20000 (day 2); new: 9500 of 50000 (day 3)
    assert payer.booked() == {old: 60_000, mid: 30_000, new: 9_500}
    assert payer.free() == 0
    assert r.shortfall == 140_000 - 99_500
    assert r.problems() == [
        (
            "shortfall",
            "1 recipients",
            "free funds 9.9500 TST do not cover the increases 14.0000 TST; missing 4.0500 TST "
            "(oldest dues were booked first)",
        )
    ]
    # incremental syncs keep re-checking the unfunded recipient; after a deposit it is done
    payer.deposit("5.0000 TST")
    r2 = s.sync(full=False)
    assert r2.ok and [(i.recipient, i.new_total) for i in r2.booked] == [(new, 50_000)]
    assert payer.booked() == {old: 60_000, mid: 30_000, new: 50_000}


def test_capped_topup_deposit(
    payer: Payer, accounts: Callable[[int], list[str]], tmp_path: Path, state_url: str
) -> None:
    a, b = accounts(2)
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    ledger(url)((a, 100_000), (b, 200_000))
    payer.deposit("1.0000 TST")  # 0.9950 free
    cfg = payer.config(url, state_url, topup="2.0000 TST")
    r = syncer(cfg).sync()
    # needed 30.0000 - 0.9950: the cap allows 2.0000 (1.9900 after fee)
    assert r.topup == 20_000
    assert r.shortfall == 300_000 - 9_950 - 19_900
    assert sum(payer.booked().values()) == 9_950 + 19_900
    # with a large enough cap the exact amount (grossed up for the fee) is deposited
    cfg2 = payer.config(url, state_url, topup="100.0000 TST")
    r2 = syncer(cfg2).sync()
    assert r2.ok, r2.problems()
    missing = 300_000 - 9_950 - 19_900
    assert r2.topup == -(-missing * 1000 // 995)
    assert payer.booked() == {a: 100_000, b: 200_000}
    assert 0 <= payer.free() < 10


def test_credits_summing_beyond_int64_reject_that_recipient_only(
    payer: Payer, accounts: Callable[[int], list[str]], db_url: str, state_url: str
) -> None:
    """Two credits of 2^62 each fit the ledger's BIGINT column, but their sum (2^63) does not
    fit a 64-bit integer: that recipient is reported, everyone else is booked — on SQLite as on
    PostgreSQL."""
    payer.deposit("10.0000 TST")
    good = accounts(3)
    credit = ledger(db_url)
    credit(*[(n, 1_000 + i) for i, n in enumerate(good)])
    credit(("big.spender", 1 << 62), ("big.spender", 1 << 62), (good[0], 5))
    r = syncer(payer.config(db_url, state_url)).sync()
    total = 1 << 63
    assert r.problems() == [
        (
            "rejected row",
            f"recipient 'big.spender': sum of credits {total}",
            f"the total {total} exceeds the largest asset amount (2^62 - 1)",
        )
    ]
    assert payer.booked() == {n: 1_000 + i + (5 if i == 0 else 0) for i, n in enumerate(good)}
