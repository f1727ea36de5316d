"""The daemon and payer sync on a real network of 4 producers (one network for the module):
a last irreversible block held back, and a microfork that drops a ``runpayouts`` and a
booking.

- LIB held back (two of the four producers paused): the daemon starts no payout while it
  lasts (the metric ``payoutengine_chain_anomaly{kind="lib_stalled"}`` is 1, one log line),
  payer sync refuses to book (exit 3, one sentence); once the producers are back both resume
  by themselves and every recipient is paid exactly its booked total.
- Microfork: the producer whose round has just begun is cut off; a ``runpayouts`` (the daemon's
  own Sender) and a payer sync booking are sent to it and land in its block. After healing,
  that block is replaced on every node. The daemon (its journal holding the dropped transaction)
  pays each recipient exactly once, and the dropped transaction's payments are not counted;
  payer sync books the dropped totals exactly once.

Invariant checked after each: balance received = ``paid_total`` = the journal's payments,
``booked_total`` = the payer database's total.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from daemon.metrics import Metrics
from daemon.sender import Sender as DaemonSender
from payer_sync.config import BatchConfig, ChainConfig, SyncConfig
from payer_sync.engine import BOOKING_KIND, Syncer
from payoutengine.chaintime import parse_chain_time
from payoutengine.client import ChainClient
from payoutengine.journal import EXPIRED, INCLUDED, IRREVERSIBLE, Journal, JournalTx, Payment
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT, DEV_KEY
from payoutengine.localnet import LocalNet, NetNode
from payoutengine.sending import Tracker
from tests.conftest import create_payer_account
from tests.node.conftest import local_net_factory  # noqa: F401
from tests.sync.conftest import KEY_ENV, Payer, ledger

from .conftest import (
    DAEMON_PERMISSION,
    PE,
    DaemonProc,
    daemon_env,
    free_port,
    payoutengine_cmd,
    setup_daemon_permission,
    unique_name,
    wait_for,
    write_config,
)

log = logging.getLogger(__name__)

PRODUCERS = 4
AUTHORITY = f"{ADMIN_ACCOUNT}@{DAEMON_PERMISSION}"
UNIT = 10_000  # 1.0000 TST
#: payer sync's limit in the held-LIB test: above the normal lag of 4 producers (6-12 s)
SYNC_MAX_LIB_LAG_S = 20


@pytest.fixture(scope="module")
def net(local_net_factory: Callable[..., LocalNet]) -> LocalNet:  # noqa: F811
    return local_net_factory(producers=PRODUCERS, profile="dev")


@pytest.fixture(scope="module")
def pe(net: LocalNet) -> PE:
    node = net.nodes[0]
    real_push = node.push

    def push_into_a_block(actions: Any, keys: Any = ()) -> dict[str, Any]:
        # Set-up steps wait for their block: a node outside its production slot executes a
        # transaction speculatively and may not show it to the next one until a producer
        # has put it in a block.
        res = real_push(actions, keys)
        _in_block(node, str(res["transaction_id"]))
        return res

    node.push = push_into_a_block  # type: ignore[method-assign]
    return PE(node, setup_daemon_permission(node))


def _in_block(node: NetNode, tx: str, *, final: bool = False) -> None:
    states = ("IRREVERSIBLE",) if final else ("IN_BLOCK", "IRREVERSIBLE")
    _until(
        f"set-up transaction {tx} {'final' if final else 'in a block'}",
        lambda: (node.client.transaction_status(tx) or {}).get("state") in states,
        60 if final else 20,
    )


@contextlib.contextmanager
def _paused_producers(net: LocalNet) -> Iterator[list[int]]:
    """Hold the last irreversible block back as ``LocalNet.hold_lib`` does, but by pausing
    production (``/v1/producer/pause``) on just enough nodes rather than stopping them: they
    stay connected and in sync, so the LIB advances again within a round of ``resume``."""
    count = len(net.nodes) - net.lib_quorum() + 1
    paused = [n.index for n in net.nodes[-count:]]
    for i in paused:
        net.nodes[i].client.call("/v1/producer/pause", {})
    try:
        yield paused
    finally:
        for i in paused:
            net.nodes[i].client.call("/v1/producer/resume", {})


def _info(node: NetNode) -> dict[str, Any]:
    return node.info()


def _until(what: str, cond: Callable[[], Any], timeout_s: float) -> Any:
    started = time.monotonic()
    value = wait_for(cond, timeout=timeout_s, what=what, every=0.2)
    log.info("%.1f s until %s", time.monotonic() - started, what)
    return value


def _anomaly(port: int, kind: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:  # not serving yet
        return None
    for line in text.splitlines():
        if line.startswith(f'payoutengine_chain_anomaly{{kind="{kind}"}}'):
            return float(line.split()[-1])
    return None


def _new_payer(pe: PE) -> Payer:
    """A payer with a TST schedule and a deposit, as payer sync's tests have it."""
    chain = pe.chain
    name, schedule = unique_name("py"), unique_name("sc")
    create_payer_account(chain, name)
    chain.fund(name, "1000.0000 TST")
    chain.action(
        CONTRACT_ACCOUNT,
        "newschedule",
        {
            "payer": name,
            "schedule_name": schedule,
            "tkcontract": "eosio.token",
            "currency": "0.0000 TST",
            "memo": "sync",
        },
        f"{name}@active",
    )
    payer = Payer(chain, name, schedule)
    payer.deposit("500.0000 TST")
    return payer


def _sync_config(
    payer: Payer, ledger_url: str, state_url: str, endpoints: list[str], **batch: Any
) -> SyncConfig:
    cfg = payer.config(ledger_url, state_url)
    return replace(cfg, chain=ChainConfig(endpoints=tuple(endpoints)), batch=BatchConfig(**batch))


def _paid_on(node: NetNode, sched: str, account: str) -> int:
    rows = node.client.get_table_rows(
        CONTRACT_ACCOUNT, sched, "recipients", lower_bound=account, upper_bound=account, limit=1
    )["rows"]
    return int(rows[0]["paid_total"]) if rows else 0


def _booked_on(node: NetNode, payer: Payer) -> dict[str, int]:
    return {
        str(r["account"]): int(r["booked_total"])
        for r in node.client.iter_table(CONTRACT_ACCOUNT, payer.schedule, "recipients")
    }


def _lib_lag_s(node: NetNode) -> float:
    """How far the node's last irreversible block is behind its head block, in seconds."""
    i = _info(node)
    head = parse_chain_time(i["head_block_time"])
    return (head - parse_chain_time(i["last_irreversible_block_time"])).total_seconds()


def _journal_paid(journal_path: Path, recipients: list[str]) -> dict[str, int]:
    """What the journal's irreversible transactions paid each recipient. (A node not producing
    at that moment answers each runpayouts as if run on its last block: several answer with
    the same payments, one lands, the others expire and their payments are deleted; the one
    that lands may pay other than its answer said, and the journal keeps what its block paid
    once it is irreversible.)"""
    journal = Journal(f"sqlite:///{journal_path}")
    try:
        with journal.session() as s:
            rows = s.execute(
                select(Payment.recipient, func.sum(Payment.amount))
                .join(JournalTx, JournalTx.tx_id == Payment.tx_id)
                .where(
                    JournalTx.status == IRREVERSIBLE,
                    Payment.recipient.in_(recipients),
                )
                .group_by(Payment.recipient)
            ).all()
    finally:
        journal.close()
    return {str(r): int(a) for r, a in rows}


def _payments_of(journal_path: Path, tx_id: str) -> int:
    journal = Journal(f"sqlite:///{journal_path}")
    try:
        with journal.session() as s:
            return len(s.scalars(select(Payment.id).where(Payment.tx_id == tx_id)).all())
    finally:
        journal.close()


# -- LIB held back ----------------------------------------------------------------------------


def test_a_held_lib_pauses_payouts_and_bookings_until_it_advances(
    net: LocalNet, pe: PE, tmp_path: Path, run_daemon: Callable[..., DaemonProc]
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rlh", 3)
    warm = pe.schedule(payer, unique_name("s"), "before the hold", deposit="10.0000 TST")
    sched = pe.schedule(payer, unique_name("s"), "held lib")
    before = {r: pe.balance_units(r) for r in recipients}
    # payer sync's own schedule and ledger
    spayer = _new_payer(pe)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    sync_totals = {r: 2 * UNIT for r in pe.accounts("rls", 2)}
    ledger(ledger_url)(*sync_totals.items())
    up = [n.url for n in net.nodes[: net.lib_quorum() - 1]]  # the nodes that keep producing
    sync_cfg = tmp_path / "sync.toml"
    sync_cfg.write_text(
        f"[chain]\nendpoints = {json.dumps(up)}\nmax_lib_lag_s = {SYNC_MAX_LIB_LAG_S}\n"
        f'[payer]\naccount = "{spayer.name}"\nschedule = "{spayer.schedule}"\n'
        f'key_env = "{KEY_ENV}"\n[source]\nurl = "{ledger_url}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.sqlite"}"\n[batch]\nconfirm = "none"\n'
    )

    def sync_once() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            payoutengine_cmd("sync", "-c", str(sync_cfg), "once"),
            capture_output=True,
            text=True,
            env={**daemon_env(None), KEY_ENV: DEV_KEY.to_wif()},
            timeout=120,
        )

    port = free_port()
    journal_path = tmp_path / "journal.sqlite"
    cfg = write_config(
        tmp_path / "admin.toml",
        up,
        journal=journal_path,
        # Gaps of two stopped producers (12 s) are no stale head here: only the LIB counts.
        # After the stop the LIB may still step once or twice, as blocks of the stopped
        # producers gather their third confirmation in the next turns (12 s apart at most): a
        # stall longer than that is the held LIB, and no pause ends before the hold does.
        chain={"max_head_age_s": 30.0, "max_lib_stall_s": 13.0},
        payouts={"expiration_s": 6},
        metrics={"port": port, "refresh_s": 1.0},
    )
    d = run_daemon(cfg, pe.daemon_key)
    node = net.nodes[0]
    _until("the daemon's metrics", lambda: _anomaly(port, "lib_stalled") == 0, 30)
    # The daemon approves and pays them once before the hold: a booking for them during the
    # hold is payable at once (no approval to wait for in the few blocks produced meanwhile).
    pe.book(warm, payer, {r: "0.0001 TST" for r in recipients})
    _until("paid before the hold", lambda: all(pe.paid(warm, r) == 1 for r in recipients), 60)
    log.info("LIB lag before the hold: %.1f s", _lib_lag_s(node))
    with _paused_producers(net) as paused:
        log.info("producers of nodes %s paused", paused)
        _until("lib_stalled on /metrics", lambda: _anomaly(port, "lib_stalled") == 1, 60)
        held = int(_info(node)["last_irreversible_block_num"])
        assert _anomaly(port, "head_behind") == 0
        pe.book(sched, payer, {r: "1.0000 TST" for r in recipients})  # due and payable now
        time.sleep(2.0)  # four payout polls: none may start
        assert [pe.paid(sched, r) for r in recipients] == [0, 0, 0]
        assert int(_info(node)["last_irreversible_block_num"]) == held, "the LIB moved"
        _until(
            f"the LIB {SYNC_MAX_LIB_LAG_S} s behind the head",
            lambda: _lib_lag_s(node) > SYNC_MAX_LIB_LAG_S + 1,
            60,
        )
        refused = sync_once()
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "ChainStalledError: The chain's last irreversible block" in refused.stderr
        assert f"max_lib_lag_s = {SYNC_MAX_LIB_LAG_S} s" in refused.stderr
        assert spayer.booked() == {}
    _until("lib_stalled cleared", lambda: _anomaly(port, "lib_stalled") == 0, 90)
    _until("everyone paid", lambda: all(pe.paid(sched, r) == UNIT for r in recipients), 60)
    _until("the LIB lag back to normal", lambda: _lib_lag_s(node) < SYNC_MAX_LIB_LAG_S - 1, 60)
    booked = sync_once()
    assert booked.returncode == 0, booked.stdout + booked.stderr
    _until("the sync's bookings in a block", lambda: spayer.booked() == sync_totals, 30)

    # One line when a stall begins, one when it ends. The LIB of a chain that recovers may
    # step once and stall again before it runs normally: then there are two episodes.
    _until("lib_stalled cleared for good", lambda: _anomaly(port, "lib_stalled") == 0, 60)
    msgs = [e["msg"] for e in d.logs() if e.get("kind") == "lib_stalled"]
    assert msgs and len(msgs) % 2 == 0, msgs
    assert set(msgs[0::2]) == {
        "chain anomaly: the last irreversible block has not advanced; new payouts paused"
    }, msgs
    assert set(msgs[1::2]) == {"chain anomaly over; payouts resume"}, msgs
    log.info("lib_stalled episodes: %d", len(msgs) // 2)
    want = {r: 1 + UNIT for r in recipients}
    _until(
        "the payments journaled final", lambda: _journal_paid(journal_path, recipients) == want, 60
    )
    assert d.stop() == 0
    journal_paid = _journal_paid(journal_path, recipients)
    for r in recipients:
        paid = pe.paid(warm, r) + pe.paid(sched, r)
        assert pe.balance_units(r) - before[r] == paid == 1 + UNIT == journal_paid[r], r


# -- a microfork ---------------------------------------------------------------------------


@dataclass
class Fork:
    """What the microfork dropped."""

    minority: NetNode
    majority: list[NetNode]
    block_num: int
    block_id: str
    payout_tx: str
    payout_paid: list[str]
    booking_tx: str
    sched: str
    payer: str
    recipients: list[str]
    spayer: Payer
    sync_totals: dict[str, int]
    before: dict[str, int]
    journal_path: Path
    ledger_url: str
    state_url: str


@pytest.fixture(scope="module")
def fork(net: LocalNet, pe: PE, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fork]:
    tmp = tmp_path_factory.mktemp("fork")
    nodes = net.nodes
    # the daemon's side: dues approved and woken (by the daemon's own Sender), in blocks
    payer = pe.accounts("pyf", 1, open_token=None)[0]
    recipients = pe.accounts("rfk", 4)
    sched = pe.schedule(payer, unique_name("s"), "microfork")
    pe.book(sched, payer, {r: "1.0000 TST" for r in recipients})
    before = {r: pe.balance_units(r) for r in recipients}
    journal_path = tmp / "journal.sqlite"
    setup = DaemonSender(
        ChainClient([nodes[0].url]),
        Journal(f"sqlite:///{tmp / 'setup.sqlite'}"),
        pe.daemon_key,
        contract=CONTRACT_ACCOUNT,
        authority=AUTHORITY,
        expiration_s=60,
        metrics=Metrics(),
    )
    # payer sync's side: credits in the ledger, nothing booked yet
    spayer = _new_payer(pe)
    ledger_url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    state_url = f"sqlite:///{tmp / 'state.sqlite'}"
    sync_recipients = pe.accounts("rfs", 3)
    sync_totals = {r: 3 * UNIT + i for i, r in enumerate(sync_recipients)}
    ledger(ledger_url)(*sync_totals.items())
    _in_block(nodes[0], setup.send("approveacc", {"accounts": recipients}).tx_id)
    wake = setup.send("wake", {"schedule_name": sched, "accounts": recipients}).tx_id
    setup.engine.journal.close()
    # The set-up final before the fork: a block of it that a chance fork dropped (producers
    # that resumed a moment ago) would leave the dues unpayable on one side.
    _in_block(nodes[0], wake, final=True)
    net.wait_synced(timeout_s=30)

    # Cut off the producer whose round has just begun: it produces its 12 blocks alone.
    start_producer = _info(nodes[0])["head_block_producer"]
    _until("a new round", lambda: _info(nodes[0])["head_block_producer"] != start_producer, 30)
    producer = _info(nodes[0])["head_block_producer"]
    minority = next(n for n in nodes if n.producer == producer)
    majority = [n for n in nodes if n is not minority]
    client = ChainClient([minority.url])
    sender = DaemonSender(
        client,
        Journal(f"sqlite:///{journal_path}"),
        pe.daemon_key,
        contract=CONTRACT_ACCOUNT,
        authority=AUTHORITY,
        expiration_s=5,  # expired before the heal: the minority cannot include it again
        metrics=Metrics(),
    )
    syncer = Syncer.from_config(
        _sync_config(
            spayer,
            ledger_url,
            state_url,
            [minority.url],
            expiration_s=10,
            confirm_timeout_s=1.0,
        ),
        key=DEV_KEY,
    )
    log.info(
        "recipients on the minority: %s; approvals: %s",
        minority.client.get_table_rows(CONTRACT_ACCOUNT, sched, "recipients")["rows"],
        [pe.approved(r) for r in recipients],
    )
    net.partition([minority.index], [n.index for n in majority])
    try:
        res = sender.send("runpayouts", {"count": 10})
        report = syncer.sync()
        with syncer.journal.session() as s:
            booking_tx = s.scalars(
                select(JournalTx.tx_id).where(JournalTx.kind == BOOKING_KIND)
            ).one()
        blocks: dict[str, tuple[int, str]] = {}

        def both_in_blocks() -> bool:
            for tx in (res.tx_id, booking_tx):
                st = client.transaction_status(tx) or {}
                if st.get("state") == "IN_BLOCK":
                    blocks[tx] = (int(st["block_number"]), str(st["block_id"]))
            return len(blocks) == 2

        _until("both transactions in minority blocks", both_in_blocks, 10)
        assert report.unconfirmed == 1, report.problems()
        assert sorted(t.recipient for t in res.transfers) == sorted(recipients)
        # the minority paid them and booked; the majority did neither
        assert [_paid_on(minority, sched, r) for r in recipients] == [UNIT] * len(recipients)
        assert [_paid_on(majority[0], sched, r) for r in recipients] == [0] * len(recipients)
        assert _booked_on(minority, spayer) == sync_totals
        assert _booked_on(majority[0], spayer) == {}
        expires = time.time() + 11

        def majority_wins() -> bool:
            maj, mino = _info(majority[0]), _info(minority)
            return (
                int(maj["last_irreversible_block_num"]) > int(mino["last_irreversible_block_num"])
                and int(maj["head_block_num"]) > int(mino["head_block_num"])
                and time.time() > expires
            )

        _until("the majority to outgrow the minority", majority_wins, 60)
    finally:
        net.heal()
        client.close()
        sender.engine.journal.close()
        syncer.journal.close()
    net.wait_synced(timeout_s=60)
    dropped = {}
    for tx, (num, block_id) in blocks.items():
        for node in nodes:
            assert node.client.get_block(num)["id"] != block_id, (tx, node.index)
        dropped[tx] = num
    log.info("dropped by the fork: %s (producer %s)", dropped, producer)
    yield Fork(
        minority=minority,
        majority=majority,
        block_num=blocks[res.tx_id][0],
        block_id=blocks[res.tx_id][1],
        payout_tx=res.tx_id,
        payout_paid=[t.recipient for t in res.transfers],
        booking_tx=booking_tx,
        sched=sched,
        payer=payer,
        recipients=recipients,
        spayer=spayer,
        sync_totals=sync_totals,
        before=before,
        journal_path=journal_path,
        ledger_url=ledger_url,
        state_url=state_url,
    )


def test_a_runpayouts_dropped_by_a_fork_is_paid_exactly_once(
    net: LocalNet, pe: PE, fork: Fork, tmp_path: Path, run_daemon: Callable[..., DaemonProc]
) -> None:
    recipients = fork.recipients
    # every node now says nobody was paid: the payments went with the block
    for node in net.nodes:
        assert [_paid_on(node, fork.sched, r) for r in recipients] == [0] * len(recipients)
    # the journal still holds what the dropped transaction's answer said it paid
    assert _payments_of(fork.journal_path, fork.payout_tx) == len(recipients)

    cfg = write_config(
        tmp_path / "admin.toml",
        [n.url for n in fork.majority] + [fork.minority.url],
        journal=fork.journal_path,
        chain={"max_head_age_s": 30.0},
        payouts={"expiration_s": 6},
    )
    d = run_daemon(cfg, pe.daemon_key)
    _until("everyone paid", lambda: all(pe.paid(fork.sched, r) == UNIT for r in recipients), 90)

    def dropped_status() -> str | None:
        journal = Journal(f"sqlite:///{fork.journal_path}")
        try:
            with journal.session() as s:
                row = Journal.get(s, fork.payout_tx)
                return row.status if row is not None and row.status == EXPIRED else None
        finally:
            journal.close()

    _until("the dropped runpayouts journaled expired", dropped_status, 60)
    assert _payments_of(fork.journal_path, fork.payout_tx) == 0  # not counted any more
    want = {r: UNIT for r in recipients}
    _until(
        "the payments journaled final",
        lambda: _journal_paid(fork.journal_path, recipients) == want,
        60,
    )
    assert d.stop() == 0
    journal_paid = _journal_paid(fork.journal_path, recipients)
    for r in recipients:
        received = pe.balance_units(r) - fork.before[r]
        assert received == pe.paid(fork.sched, r) == UNIT == journal_paid[r], r


def test_a_booking_dropped_by_a_fork_is_booked_exactly_once(fork: Fork) -> None:
    spayer = fork.spayer
    for node in [fork.minority, *fork.majority]:
        assert _booked_on(node, spayer) == {}, node.index  # the booking went with the block
    cfg = _sync_config(
        spayer,
        fork.ledger_url,
        fork.state_url,
        [n.url for n in fork.majority],
        expiration_s=60,
        confirm_timeout_s=3.0,  # the dropped booking is found expired; the new one in a block
    )
    syncer = Syncer.from_config(cfg, key=DEV_KEY)
    try:
        report = syncer.sync()
        assert report.ok, report.problems()
        assert report.recovered_dropped == 1
        assert sorted(i.recipient for i in report.booked) == sorted(fork.sync_totals)
        assert spayer.booked() == fork.sync_totals
        with syncer.journal.session() as s:
            rows = {
                r.tx_id: r.status
                for r in s.scalars(select(JournalTx).where(JournalTx.kind == BOOKING_KIND))
            }
        assert rows.pop(fork.booking_tx) == EXPIRED
        assert len(rows) == 1 and set(rows.values()) <= {INCLUDED, IRREVERSIBLE}, rows
        again = syncer.sync()
        assert again.ok and again.transactions == 0 and again.booked == []
        assert spayer.booked() == fork.sync_totals
    finally:
        syncer.journal.close()


def test_a_runpayouts_included_again_after_a_fork_is_journaled_as_its_block_ran_it(
    net: LocalNet, pe: PE, tmp_path: Path
) -> None:
    """A ``runpayouts`` lands in a minority block and pays A; the majority meanwhile pays A
    with another of the daemon's transactions. On healing the minority's block is dropped, the
    transaction is run again on the winning fork (it has not expired) and lands there paying
    the *next* dues, B. The journal first held what the answer said (A); at irreversibility the
    tracker reads the block's trace and the journal says B — as the chain does."""
    nodes = net.nodes
    payer = pe.accounts("pyj", 1, open_token=None)[0]
    recipients = pe.accounts("rjn", 6)
    sched = pe.schedule(payer, unique_name("s"), "included again")
    pe.book(sched, payer, {r: "1.0000 TST" for r in recipients})
    before = {r: pe.balance_units(r) for r in recipients}
    setup = DaemonSender(
        ChainClient([nodes[0].url], timeout=30.0),
        Journal(f"sqlite:///{tmp_path / 'setup.sqlite'}"),
        pe.daemon_key,
        contract=CONTRACT_ACCOUNT,
        authority=AUTHORITY,
        expiration_s=60,
        metrics=Metrics(),
    )
    _in_block(nodes[0], setup.send("approveacc", {"accounts": recipients}).tx_id)
    _in_block(nodes[0], setup.send("wake", {"schedule_name": sched, "accounts": recipients}).tx_id)
    settled = int(_info(nodes[0])["head_block_num"])
    _until(
        "the set-up on every node",
        lambda: all(int(_info(n)["head_block_num"]) > settled for n in nodes),
        30,
    )
    net.wait_synced(timeout_s=30)

    start_producer = _info(nodes[0])["head_block_producer"]
    _until("a new round", lambda: _info(nodes[0])["head_block_producer"] != start_producer, 30)
    producer = _info(nodes[0])["head_block_producer"]
    minority = next(n for n in nodes if n.producer == producer)
    majority = [n for n in nodes if n is not minority]
    journal_path = tmp_path / "journal.sqlite"
    metrics = Metrics()
    sender = DaemonSender(
        ChainClient([minority.url], timeout=30.0),
        Journal(f"sqlite:///{journal_path}"),
        pe.daemon_key,
        contract=CONTRACT_ACCOUNT,
        authority=AUTHORITY,
        expiration_s=120,  # alive after the heal: the minority runs it again on the new fork
        metrics=metrics,
    )
    other = DaemonSender(
        ChainClient([majority[0].url], timeout=30.0),
        Journal(f"sqlite:///{tmp_path / 'other.sqlite'}"),
        pe.daemon_key,
        contract=CONTRACT_ACCOUNT,
        authority=AUTHORITY,
        expiration_s=110,  # another transaction id than the minority's, same action
        metrics=Metrics(),
    )
    net.partition([minority.index], [n.index for n in majority])
    try:
        res = sender.send("runpayouts", {"count": 3})
        first = sorted(t.recipient for t in res.transfers)
        assert len(first) == 3, res.transfers
        status: dict[str, Any] = {}

        def in_minority_block() -> bool:
            status.update(minority.client.transaction_status(res.tx_id) or {})
            return status.get("state") == "IN_BLOCK"

        _until("the runpayouts in a minority block", in_minority_block, 10)
        dropped_num, dropped_id = int(status["block_number"]), str(status["block_id"])
        mine = other.send("runpayouts", {"count": 3})
        assert mine.tx_id != res.tx_id
        assert sorted(t.recipient for t in mine.transfers) == first  # the same three, there
        _in_block(majority[0], mine.tx_id)

        def majority_wins() -> bool:
            maj, mino = _info(majority[0]), _info(minority)
            return int(maj["last_irreversible_block_num"]) > int(
                mino["last_irreversible_block_num"]
            ) and int(maj["head_block_num"]) > int(mino["head_block_num"])

        _until("the majority to outgrow the minority", majority_wins, 60)
    finally:
        net.heal()
        other.engine.journal.close()
    net.wait_synced(timeout_s=60)
    for node in nodes:
        assert node.client.get_block(dropped_num)["id"] != dropped_id, node.index
    # the journal still says what the answer said (the transaction is not irreversible yet)
    with sender.engine.journal.session() as s:
        answered = sorted(str(p["recipient"]) for p in Journal.payments_of(s, res.tx_id))
    assert answered == first

    tracker = Tracker(
        ChainClient([majority[0].url], timeout=30.0), sender.engine.journal, sender.engine
    )

    def irreversible() -> bool:
        tracker.run_once()
        with sender.engine.journal.session() as s:
            row = Journal.get(s, res.tx_id)
            return row is not None and row.status == IRREVERSIBLE

    _until("the runpayouts irreversible on the winning fork", irreversible, 90)
    rest = sorted(set(recipients) - set(first))
    # the block ran it after the majority's transaction: it paid the other three
    assert _journal_paid(journal_path, recipients) == {r: UNIT for r in rest}
    labels = {"token": "eosio.token", "symbol": "TST"}
    assert metrics.payments.labels(**labels)._value.get() == len(rest)
    for r in recipients:
        assert pe.balance_units(r) - before[r] == pe.paid(sched, r) == UNIT, r
    sender.engine.journal.close()
