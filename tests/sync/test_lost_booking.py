"""A booking the node accepted but never put in a block is not confirmed.

The node executes the booking, then stops before producing the block holding it, and comes
back on the same data directory: the transaction is gone, blocks go on without it. A sync
must not report it booked and move its watermark past it; the tracker finds it in no block
until it expires, and the sync reads the chain again and books it anew.

This module runs a node of its own (it stops and restarts it): the ``local_chain`` fixture is
overridden here, so ``payer`` and ``accounts`` live on that node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from payer_sync.config import BatchConfig
from payer_sync.engine import BOOKING_KIND
from payoutengine.journal import EXPIRED, IRREVERSIBLE, JournalTx
from payoutengine.localchain import LocalChain, process_group_alive
from payoutengine.transactions import SignedTransaction
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM

from .conftest import Payer, ledger, syncer


@pytest.fixture(scope="module")
def local_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    chain = LocalChain(tmp_path_factory.mktemp("restarted") / "node")
    chain.start()
    pid = chain.pid
    assert pid is not None
    try:
        chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
        yield chain
    finally:
        chain.stop()
    assert not process_group_alive(pid), "the local node survived stop()"


def test_a_booking_lost_with_its_block_is_booked_again_not_confirmed(
    payer: Payer,
    accounts: Callable[[int], list[str]],
    tmp_path: Path,
    state_url: str,
) -> None:
    payer.deposit("100.0000 TST")
    early, late = accounts(2)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    credit = ledger(url)
    credit((early, 100))
    cfg = payer.config(url, state_url)
    cfg = replace(cfg, batch=BatchConfig(expiration_s=10, confirm_timeout_s=90.0))
    s = syncer(cfg)
    assert s.sync().ok  # the watermark is set
    assert payer.booked() == {early: 100}

    # The node stops right after executing the next booking, before producing its block,
    # and starts again on the same data directory.
    credit((late, 1234))
    client = s.chain.client
    real_send = client.send
    lost: list[str] = []

    def send_then_restart_the_node(signed: SignedTransaction, **kw: Any) -> dict[str, Any]:
        if lost:
            return real_send(signed, **kw)
        # Production paused first, so the node executes the booking but no block can take it
        # before the stop, however loaded the machine (a restart produces again).
        payer.chain.client.call("/v1/producer/pause", {})
        answer = real_send(signed, **kw)
        lost.append(signed.id)
        payer.chain.stop()
        payer.chain.start(fresh=False)
        return answer

    client.send = send_then_restart_the_node  # type: ignore[method-assign]
    report = s.sync(full=False)

    assert lost, "the booking was never sent"
    with s.journal.session() as db:
        rows = db.scalars(select(JournalTx).where(JournalTx.kind == BOOKING_KIND))
        bookings = {r.tx_id: r.status for r in rows}
    # the lost transaction was found in no block; a new one carried the booking
    assert bookings[lost[0]] == EXPIRED, "the node kept the booking: the fault did not happen"
    others = [st for tx, st in bookings.items() if tx != lost[0]]
    assert IRREVERSIBLE in others
    assert report.ok, report.problems()
    assert [i.recipient for i in report.booked] == [late]
    assert payer.booked() == {early: 100, late: 1234}

    # the next incremental syncs find nothing missing
    again = s.sync(full=False)
    assert again.ok and again.booked == [] and again.transactions == 0
    assert payer.booked() == {early: 100, late: 1234}
