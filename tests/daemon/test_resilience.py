"""The daemon survives SIGKILL (journal resume, exactly once) and node outages (failover)."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from daemon.journal import Journal
from payoutengine.localchain import LocalChain
from payoutengine.transactions import Action, SignedTransaction

from .conftest import (
    PE,
    bootstrapped,
    free_port,
    run_status,
    unique_name,
    wait_for,
    write_config,
)


def _chain_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _status(cfg: Path) -> dict:
    res = run_status(cfg)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_sigkill_mid_run_and_restart_pays_everything_exactly_once(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rck", 60)
    scheds = [pe.schedule(payer, unique_name("s"), f"kill test {i}") for i in range(2)]
    start_block = int(pe.client.get_info()["head_block_num"])
    expected: Counter[tuple[str, str]] = Counter()
    for i, sched in enumerate(scheds):
        pe.book(sched, payer, {r: f"{i + 1}.{j:04d} TST" for j, r in enumerate(recipients)})
        for j, r in enumerate(recipients):
            expected[(r, f"{i + 1}.{j:04d} TST")] += 1
    before = {r: pe.balance_units(r) for r in recipients}
    total = len(recipients) * len(scheds)

    def paid_count() -> int:
        return sum(1 for s in scheds for r in recipients if pe.paid(s, r) > 0)

    # Small transactions, one in flight: the run takes many blocks, so the kill lands mid-run.
    cfg = write_config(
        tmp_path / "admin.toml",
        [pe.url],
        journal=tmp_path / "journal.sqlite",
        payouts={"start_count": 2, "max_count": 4, "max_in_flight": 1, "expiration_s": 8},
    )
    d1 = run_daemon(cfg, pe.daemon_key, name="first")
    wait_for(lambda: paid_count() >= 10, timeout=60, what="the run under way", daemon=d1)
    d1.stop(signal.SIGKILL)
    done_at_kill = paid_count()
    assert 0 < done_at_kill < total, "the kill must land in the middle of the run"

    d2 = run_daemon(cfg, pe.daemon_key, name="second")
    wait_for(lambda: paid_count() == total, timeout=120, what="everything paid", daemon=d2)

    # Exactly once: balances grew by exactly the booked totals, and the chain shows one transfer
    # per due (read back through the trace API).
    for r in recipients:
        want = sum(pe.paid(s, r) for s in scheds)
        assert pe.balance_units(r) - before[r] == want
    last = int(pe.client.get_info()["head_block_num"]) + 1
    wait_for(lambda: int(pe.client.get_info()["head_block_num"]) > last, timeout=10, what="a block")

    def seen() -> Counter[tuple[str, str]]:
        return Counter(
            (t["to"], t["quantity"])
            for t in pe.transfers_from_contract(start_block, last)
            if t["to"] in recipients
        )

    wait_for(lambda: seen() == expected, timeout=30, what="one transfer per due on chain")

    # The journal resumed: every transaction of both runs ends irreversible, failed or expired.
    def settled() -> dict | None:
        st = _status(cfg)
        tx = st["transactions"]
        return st if tx["signed"] == tx["sent"] == tx["included"] == 0 else None

    st = wait_for(settled, timeout=60, what="journal settled", daemon=d2)
    assert st["transactions"]["irreversible"] >= 2
    assert d2.stop() == 0


@pytest.fixture
def own_chain(tmp_path: Path) -> Iterator[PE]:
    """A node of its own (this test stops and restarts it), on a fixed port."""
    yield from bootstrapped(tmp_path / "node", port=free_port())


def test_node_restart_with_a_dead_second_endpoint_waits_fails_over_and_recovers(
    own_chain: PE, tmp_path: Path, run_daemon
) -> None:
    pe = own_chain
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rcf", 4)
    sched = pe.schedule(payer, unique_name("s"), "failover")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    cfg = write_config(
        tmp_path / "admin.toml",
        [dead, pe.url],  # the first endpoint is down from the start: fail over at once
        journal=tmp_path / "journal.sqlite",
    )
    d = run_daemon(cfg, pe.daemon_key)
    pe.book(sched, payer, {r: "1.0000 TST" for r in recipients})
    wait_for(
        lambda: all(pe.paid(sched, r) == 10_000 for r in recipients),
        timeout=60,
        what="first round paid",
        daemon=d,
    )

    chain: LocalChain = pe.chain
    chain.stop()
    wait_for(
        lambda: "no healthy chain endpoint" in d.log_text(),
        timeout=30,
        what="the daemon noticing the outage",
        daemon=d,
    )
    assert d.proc.poll() is None, "the daemon must wait, not exit"

    chain.start(fresh=False)
    pe.book(sched, payer, {r: "2.5000 TST" for r in recipients})
    wait_for(
        lambda: all(pe.paid(sched, r) == 25_000 for r in recipients),
        timeout=90,
        what="second round paid after the node came back",
        daemon=d,
    )
    logs = d.logs()
    healthy = [i for i, e in enumerate(logs) if e.get("msg") == "chain endpoint healthy; sending"]
    unhealthy = [i for i, e in enumerate(logs) if e.get("msg", "").startswith("no healthy chain")]
    assert healthy and unhealthy and healthy[-1] > unhealthy[0]
    assert all(e["endpoint"] == pe.url for e in (logs[i] for i in healthy))
    assert d.stop() == 0


def test_journaled_but_unsent_transactions_resume_and_expired_ones_are_not_resigned(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    """A crash between the journal write and the send: on restart the tracker sends the very
    same signed bytes; a journaled transaction that expired meanwhile is marked expired and never
    signed again. (approveacc of accounts with code: the daemon itself never signs those.)"""
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    resent, stale = pe.accounts("rcj", 2)
    for a in (resent, stale):
        pe.deploy_rejector(a)
    sched = pe.schedule(payer, unique_name("s"), "journal")
    pe.book(sched, payer, {resent: "1.0000 TST", stale: "1.0000 TST"})

    journal_path = tmp_path / "journal.sqlite"
    journal = Journal(f"sqlite:///{journal_path}")
    client = pe.client

    def journal_only(account: str, expiration_s: int) -> SignedTransaction:
        action = Action("payoutengine", "approveacc", ["pe.admin@payout"], {"accounts": [account]})
        signed = client.build([action], [pe.daemon_key], expiration_s=expiration_s)
        with journal.session() as s:
            Journal.record_signed(
                s,
                tx_id=signed.id,
                kind="approveacc",
                data={"accounts": [account]},
                signed_json=json.dumps(signed.to_json()),
                expiration=signed.expiration,
            )
        return signed

    stale_tx = journal_only(stale, 1)
    stale_id, resent_id = stale_tx.id, journal_only(resent, 300).id
    journal.close()
    # Let the chain's clock pass the stale transaction's expiration.
    wait_for(
        lambda: (
            _chain_time(client.get_info()["head_block_time"])
            > stale_tx.expiration + timedelta(seconds=1)
        ),
        timeout=10,
        what="the stale transaction to expire",
    )

    cfg = write_config(
        tmp_path / "admin.toml",
        [pe.url],
        journal=journal_path,
        approvals={"recheck_interval_s": 3600.0},
    )
    d = run_daemon(cfg, pe.daemon_key)

    def rows() -> dict[str, str]:
        con = sqlite3.connect(journal_path)
        try:
            return dict(con.execute("select tx_id, status from transactions").fetchall())
        finally:
            con.close()

    wait_for(
        lambda: rows().get(resent_id) == "irreversible" and rows().get(stale_id) == "expired",
        timeout=60,
        what="the journal resolved",
        daemon=d,
    )
    # The identical bytes were sent and are in a block: the same transaction id is irreversible
    # (its effect, approving an account with code, was then undone by the daemon's own re-check).
    status = client.transaction_status(resent_id)
    assert status is not None and status["state"] in {"IN_BLOCK", "IRREVERSIBLE"}
    assert pe.approved(stale) is False
    con = sqlite3.connect(journal_path)
    try:
        approvals_signed = [
            json.loads(r[0])["accounts"]
            for r in con.execute("select data from transactions where kind = 'approveacc'")
        ]
    finally:
        con.close()
    assert approvals_signed.count([stale]) == 1  # the stale one was never signed again
    assert d.stop() == 0
