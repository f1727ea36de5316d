"""The tracker's state machine.

The first test replaces the chain (a node without the transaction status API) because it is
about the journal's state machine; the microfork test drives the tracker with a real node and
a fork recorded from that node's blocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from payoutengine.client import ChainClient
from payoutengine.journal import Journal, utcnow
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT
from payoutengine.sending import Sender, Tracker
from payoutengine.transactions import Action

from .conftest import PE, unique_name, wait_for


class FakeChain:
    def __init__(self) -> None:
        self.head = 100
        self.lib = 90
        self.time = utcnow()
        self.blocks: dict[int, list[str]] = {}
        self.resent: list[str] = []

    def get_info(self) -> dict[str, Any]:
        return {
            "head_block_num": self.head,
            "last_irreversible_block_num": self.lib,
            "head_block_time": self.time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        }

    def get_block(self, num: int) -> dict[str, Any]:
        return {"transactions": [{"trx": {"id": t}} for t in self.blocks.get(num, [])]}

    def transaction_status(self, tx_id: str) -> None:
        return None  # the node does not track finality


class FakeSender:
    #: a node without the trace API: nothing to compare at irreversibility
    on_final_trace = None

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain

    def resend(self, row: Any) -> None:
        self.chain.resent.append(row.tx_id)

    def read_trace_from_chain(self, row: Any, block_num: int) -> bool:
        return False  # a node without the trace API


def _journal(tmp: Path) -> Journal:
    return Journal(f"sqlite:///{tmp / 'j.sqlite'}")


def _add(
    j: Journal,
    tx: str,
    status: str,
    *,
    block: int | None,
    search_from: int,
    expires_in: float,
    created_ago: float = 60.0,
) -> None:
    now = utcnow()
    with j.session() as s:
        row = Journal.record_signed(
            s,
            tx_id=tx,
            kind="runpayouts",
            data={"count": 1},
            signed_json="{}",
            expiration=now + dt.timedelta(seconds=expires_in),
            search_from=search_from,
        )
        row.created_at = now - dt.timedelta(seconds=created_ago)
        row.status = status
        row.block_num = block
        row.trace_read = status == "sent"  # its send was answered
    if status == "sent":
        with j.session() as s:
            Journal.add_payments(
                s,
                tx,
                [
                    {
                        "token": "eosio.token",
                        "recipient": "alice",
                        "amount": 1,
                        "symbol": "TST",
                        "precision": 4,
                        "memo": "",
                    }
                ],
            )


def _status(j: Journal) -> dict[str, tuple[str, int | None]]:
    from sqlalchemy import select

    from payoutengine.journal import JournalTx

    with j.session() as s:
        return {r.tx_id: (r.status, r.block_num) for r in s.scalars(select(JournalTx))}


def test_blocks_only_state_machine(tmp_path: Path) -> None:
    chain = FakeChain()
    j = _journal(tmp_path)
    tracker = Tracker(chain, j, FakeSender(chain))  # type: ignore[arg-type]
    # sent in block 99, included there; sent in 100, landed in 101 (block full); dropped one.
    _add(j, "a" * 64, "sent", block=99, search_from=98, expires_in=30)
    _add(j, "b" * 64, "sent", block=100, search_from=99, expires_in=30)
    _add(j, "c" * 64, "sent", block=100, search_from=99, expires_in=30)
    # outcome unknown, from an earlier run: re-sent as is; another that is in block 97 already.
    _add(j, "d" * 64, "signed", block=None, search_from=95, expires_in=30)
    _add(j, "e" * 64, "signed", block=None, search_from=95, expires_in=-5)
    chain.blocks = {99: ["a" * 64], 97: ["e" * 64]}

    tracker.run_once()
    st = _status(j)
    assert st["a" * 64] == ("included", 99)
    assert st["b" * 64][0] == "sent"  # not in 100 (not produced yet): wait
    assert chain.resent == ["d" * 64]  # identical bytes, never re-signed
    assert st["e" * 64] == ("included", 97)  # expired but found by the blind search

    chain.head, chain.lib = 103, 99
    chain.blocks[101] = ["b" * 64]
    chain.time += dt.timedelta(seconds=60)  # everything still open is past its expiration
    tracker.run_once()
    st = _status(j)
    assert st["a" * 64] == ("irreversible", 99)
    assert st["b" * 64] == ("included", 101)
    assert st["c" * 64][0] == "expired"  # never in a block: expired, its payments forgotten
    assert st["d" * 64][0] == "expired"
    with j.session() as s:
        from sqlalchemy import func, select

        from payoutengine.journal import Payment

        assert (
            s.scalar(select(func.count()).select_from(Payment).where(Payment.tx_id == "c" * 64))
            == 0
        )
        assert (
            s.scalar(select(func.count()).select_from(Payment).where(Payment.tx_id == "a" * 64))
            == 1
        )

    # A fork takes b out of block 101; it shows up again in 102 and becomes irreversible there.
    chain.blocks[101] = []
    chain.blocks[102] = ["b" * 64]
    chain.lib = 102
    tracker.run_once()
    assert _status(j)["b" * 64] == ("irreversible", 102)
    j.close()


class ForkReplay:
    """A real node's client whose view, until :meth:`resolve`, is a losing fork recorded from
    that node's own blocks: block ``at`` also holds ``tx_id``, its canonical block does not,
    the status API (when offered) says IN_BLOCK at ``at``, and LIB stays below ``at``. The local
    chain has one producer and cannot fork by itself; the fork is replayed to the tracker."""

    def __init__(self, real: ChainClient, *, tx_id: str, at: int, status_api: bool) -> None:
        self.real = real
        self.tx_id = tx_id
        self.at = at
        self.status_api = status_api
        self.forked = True

    def resolve(self) -> None:
        """The node switches to the winning fork: from now on, the real chain."""
        self.forked = False

    def get_info(self) -> dict[str, Any]:
        info = self.real.get_info()
        if self.forked:
            info["last_irreversible_block_num"] = self.at - 1
        return info

    def get_block(self, num: int) -> dict[str, Any]:
        blk = dict(self.real.get_block(num))
        if not self.forked:
            return blk
        txs = [t for t in blk.get("transactions") or [] if _trx_id(t) != self.tx_id]
        if num == self.at:
            txs.append({"trx": {"id": self.tx_id}})
        blk["transactions"] = txs
        return blk

    def transaction_status(self, tx_id: str) -> dict[str, Any] | None:
        if not self.status_api:
            return None
        if self.forked and tx_id == self.tx_id:
            return {"state": "IN_BLOCK", "block_number": self.at}
        return self.real.transaction_status(tx_id)


def _trx_id(t: Mapping[str, Any]) -> str:
    trx = t.get("trx")
    return str(trx.get("id")) if isinstance(trx, Mapping) else str(trx)


@pytest.mark.parametrize("status_api", [True, False], ids=["status-api", "blocks-only"])
def test_a_microfork_moves_a_transaction_to_its_canonical_block(
    pe: PE, tmp_path: Path, status_api: bool
) -> None:
    """A transaction executed in block N is first seen in block N + 1 of a fork that later
    disappears: the tracker says ``included`` there, never ``irreversible``, and follows the
    transaction to block N once the fork resolves."""
    journal = _journal(tmp_path)
    client = ChainClient([pe.url])
    sender = Sender(client, journal, [pe.daemon_key], expiration_s=120)
    account = pe.accounts("rmf", 1)[0]
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    sched = pe.schedule(payer, unique_name("s"), "microfork")
    pe.book(sched, payer, {account: "1.0000 TST"})  # approveacc takes known recipients
    approve = Action(
        CONTRACT_ACCOUNT, "approveacc", [f"{ADMIN_ACCOUNT}@payout"], {"accounts": [account]}
    )
    res = sender.send_new([approve], kind="approveacc", data={"accounts": [account]})
    assert res.block_num is not None
    n = res.block_num
    wait_for(
        lambda: int(client.get_info()["last_irreversible_block_num"]) > n + 1,
        timeout=20,
        what="the transaction's block and the next irreversible",
    )
    view = ForkReplay(client, tx_id=res.tx_id, at=n + 1, status_api=status_api)
    tracker = Tracker(view, journal, sender)  # type: ignore[arg-type]

    for _ in range(3):
        tracker.run_once()
        assert _status(j=journal)[res.tx_id] == ("included", n + 1)

    view.resolve()
    tracker.run_once()
    assert _status(j=journal)[res.tx_id] == ("irreversible", n)
    journal.close()
    client.close()
