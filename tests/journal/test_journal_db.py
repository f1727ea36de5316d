"""The engine journal's schema and data functions on SQLite and PostgreSQL: migrations that match
the models, databases of the previous version that still open, and concurrent writers."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from payer_sync import state
from payer_sync.models import StateBase
from payer_sync.state import open_state
from payoutengine.journal import (
    IRREVERSIBLE,
    SENT,
    SIGNED,
    VERSION_TABLE,
    Journal,
    JournalBase,
)

from .conftest import DATA


def _run_sql(url: str, path: Path, *inserts: str) -> None:
    engine = create_engine(url)
    body = "\n".join(ln for ln in path.read_text().splitlines() if not ln.startswith("--"))
    with engine.begin() as conn:
        for stmt in [*body.split(";"), *inserts]:
            if stmt.strip():
                conn.execute(text(stmt))
    engine.dispose()


def _dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def test_concurrent_writers_of_one_state_key_do_not_collide(journal_url: str) -> None:
    """The payouts job's sender threads all record ``last_payout``: the first writes of the
    key race to insert the same row."""
    journal = Journal(journal_url)
    threads, rounds = 8, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        start.wait()
        try:
            for i in range(rounds):
                with journal.session() as s:
                    Journal.set_state(s, "last_payout", f"{n}.{i}")
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert errors == []
    with journal.session() as s:
        last = Journal.get_state(s, "last_payout")
    assert last is not None and last.endswith(f".{rounds - 1}")
    journal.close()


def test_the_migrations_build_exactly_the_models(journal_url: str) -> None:
    journal = open_state(journal_url)
    with journal.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        # each schema is compared on its own; the other's tables (and the version tables)
        # are the only thing the database has beyond it
        for metadata in (JournalBase.metadata, StateBase.metadata):
            ours = set(metadata.tables)
            diffs = [
                d
                for d in compare_metadata(ctx, metadata)
                if not (d[0] == "remove_table" and d[1].name not in ours)
                and not (d[0] == "remove_index" and d[1].table.name not in ours)
            ]
            assert diffs == []
    journal.close()


def test_a_daemon_journal_made_by_the_previous_version_opens_and_keeps_its_rows(
    journal_url: str,
) -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, 0)
    row = (
        "INSERT INTO transactions (tx_id, kind, data, signed_json, status, created_at, "
        "updated_at, expiration, block_num, payments, send_attempts) VALUES "
        "('{tx}', 'runpayouts', '{{}}', '{{}}', '{status}', '{t}', '{t}', '{t}', {block}, 0, 1)"
    )
    _run_sql(
        journal_url,
        DATA / f"main_journal.{_dialect(journal_url)}.sql",
        row.format(tx="a" * 64, status=IRREVERSIBLE, t=now, block=10),
        row.format(tx="b" * 64, status=SENT, t=now, block="NULL"),
        "INSERT INTO state (key, value) VALUES ('last_payout', '1764000000.0')",
        "INSERT INTO poison (account, detected_at, tx_id, reason) "
        f"VALUES ('bad', '{now}', NULL, 'rejected')",
    )
    journal = Journal(journal_url)
    with journal.session() as s:
        a, b = Journal.get(s, "a" * 64), Journal.get(s, "b" * 64)
        assert a is not None and a.status == IRREVERSIBLE and a.trace_read is True
        # a duplicate answer: its trace was never read, the tracker reads it once found
        assert b is not None and b.status == SENT and b.trace_read is False
        assert Journal.get_state(s, "last_payout") == "1764000000.0"
        assert [p.account for p in Journal.poison_list(s)] == ["bad"]
        Journal.set_state(s, "last_payout", "1764000001.0")
    with journal.engine.connect() as conn:
        assert VERSION_TABLE in inspect(conn).get_table_names()
    journal.close()
    Journal(journal_url).close()  # and again, now that it is versioned


def test_a_payer_sync_state_of_the_previous_version_opens_and_its_journal_moves(
    journal_url: str,
) -> None:
    expires = dt.datetime(2026, 11, 25, 12, 2, 0)
    signed = json.dumps({"packed_trx": "00", "signatures": [], "expiration": "x"})
    _run_sql(
        journal_url,
        DATA / f"main_state.{_dialect(journal_url)}.sql",
        "INSERT INTO sync_state (key, value) VALUES ('ledger_watermark', '42')",
        "INSERT INTO sync_invalid_names (recipient, reason, permanent, checked_at) VALUES "
        f"('Bad.Name', 'malformed', true, '{expires}')",
        "INSERT INTO sync_journal (tx_id, signed, expiration, status, block_num, recipients) "
        f"VALUES ('{'c' * 64}', '{signed}', '{expires}', 'signed', NULL, 'alice,bob')",
    )
    journal = open_state(journal_url)
    with journal.session() as s:
        assert state.get_value(s, "ledger_watermark") == "42"
        assert state.invalid_names(s, recheck_after_s=0) == {"Bad.Name": "malformed"}
        moved = Journal.get(s, "c" * 64)
        assert moved is not None and moved.kind == "bookm" and moved.status == SIGNED
        assert json.loads(moved.data) == {"recipients": ["alice", "bob"]}
        assert moved.signed_json == signed and moved.expiration == expires
    with journal.engine.connect() as conn:
        assert "sync_journal" not in inspect(conn).get_table_names()
    journal.close()
    open_state(journal_url).close()  # and again, now that it is versioned
