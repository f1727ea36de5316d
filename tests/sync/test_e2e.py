"""Payer sync against the real nodeos fixture and real SQLite / PostgreSQL / MariaDB ledgers."""

from __future__ import annotations

from collections.abc import Callable

from payer_sync.report import SyncReport

from .conftest import Payer, ledger, syncer


def totals_of(rows: list[tuple]) -> dict[str, int]:  # type: ignore[type-arg]
    out: dict[str, int] = {}
    for r in rows:
        out[r[0]] = out.get(r[0], 0) + r[1]
    return out


def test_first_sync_books_everything_second_nothing_then_incremental(
    payer: Payer, accounts: Callable[[int], list[str]], db_url: str, state_url: str
) -> None:
    payer.deposit("1000.0000 TST")
    names = accounts(250)
    credit = ledger(db_url)
    rows: list[tuple] = [(n, 10_000 + i, f"salary {i}") for i, n in enumerate(names)]  # type: ignore[type-arg]
    rows += [(names[0], 5), (names[1], 1)]
    credit(*rows)
    expected = totals_of(rows)

    s = syncer(payer.config(db_url, state_url, records_per_tx=60))
    free0 = payer.free()
    r1 = s.sync()
    assert r1.ok, r1.problems()
    assert len(r1.booked) == 250
    assert r1.transactions == 5  # 250 records in batches of 60
    assert payer.booked() == expected
    assert payer.free() == free0 - sum(expected.values())
    # the payer opened a balance row for every new recipient
    assert all(payer.has_balance_row(n) for n in names[:5])

    r2 = syncer(payer.config(db_url, state_url)).sync()
    assert r2.ok and r2.booked == [] and r2.transactions == 0 and r2.compared == 250

    credit((names[7], 3, "bonus"), (names[200], 40))
    r3 = s.sync(full=False)
    assert r3.mode == "incremental" and r3.ok
    assert r3.compared == 2
    assert {(i.recipient, i.booked, i.new_total, i.memo) for i in r3.booked} == {
        (names[7], expected[names[7]], expected[names[7]] + 3, "bonus"),
        (names[200], expected[names[200]], expected[names[200]] + 40, "salary 200"),
    }
    expected[names[7]] += 3
    expected[names[200]] += 40
    assert payer.booked() == expected
    r4 = s.sync(full=False)
    assert r4.compared == 0 and r4.booked == []


def test_dry_run_sends_nothing(
    payer: Payer, accounts: Callable[[int], list[str]], state_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    payer.deposit("10.0000 TST")
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    names = accounts(3)
    ledger(url)(*[(n, 100) for n in names])
    r = syncer(payer.config(url, state_url)).sync(dry_run=True)
    assert sorted(i.recipient for i in r.booked) == sorted(names)
    assert r.transactions == 0
    assert payer.booked() == {}


def report_lines(r: SyncReport) -> list[tuple[str, str, str]]:
    return r.problems()


def test_a_credit_committed_late_below_the_watermark_is_still_booked(
    payer: Payer, accounts: Callable[[int], list[str]], server_db_url: str, state_url: str
) -> None:
    """Two writers: the first takes an id, the second commits a higher one; an incremental
    sync passes both ids; then the first commits. The next incremental sync books it."""
    from sqlalchemy.orm import Session

    from payer_sync.ledger import add_credits, make_engine

    payer.deposit("100.0000 TST")
    early, late, other = accounts(3)
    credit = ledger(server_db_url)
    credit((early, 1))
    s = syncer(payer.config(server_db_url, state_url))
    assert s.sync().ok  # full sync: sets the watermark

    engine = make_engine(server_db_url)
    slow = Session(engine)
    slow.begin()
    add_credits(slow, [(late, 700)])
    slow.flush()  # the row has its id now, but nobody else sees it yet
    credit((other, 5))  # a higher id, committed at once
    r1 = s.sync(full=False)
    assert [i.recipient for i in r1.booked] == [other]

    slow.commit()  # the late row appears below the watermark
    slow.close()
    r2 = s.sync(full=False)
    assert r2.mode == "incremental"
    assert [(i.recipient, i.new_total) for i in r2.booked] == [(late, 700)]
    assert payer.booked() == {early: 1, late: 700, other: 5}
    r3 = s.sync(full=False)
    assert r3.compared == 0 and r3.booked == []
    engine.dispose()
