"""The local multi-producer network: real p2p between producers, partitions that fork the
chain, a stopped node, a last irreversible block held back.

The microfork test is the proof the fixtures produce the fault for real: a transaction sent to
the minority side of a partition lands in a block there, and after healing that block is
dropped by the winning fork and the transaction is in no block of the final chain.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from payoutengine.client import ChainClient
from payoutengine.localchain import TOKEN_ACCOUNT, process_group_alive
from payoutengine.localnet import LocalNet, NetNode
from payoutengine.transactions import Action
from tests.conftest import register_process_group
from tests.node.test_localchain import _cli

log = logging.getLogger(__name__)

#: 4 producers: a majority of 3 reaches the 2/3+1 quorum and keeps finalizing blocks while one
#: producer is cut off, so the fork choice (highest LIB, then length) is never a coin toss.
PRODUCERS = 4


@pytest.fixture(scope="module")
def local_net(local_net_factory: Callable[..., LocalNet]) -> LocalNet:
    return local_net_factory(producers=PRODUCERS, profile="eos")


def _wait(what: str, cond: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def _info(node: NetNode) -> dict:
    return node.info()


def test_producers_are_scheduled_and_peered(local_net: LocalNet) -> None:
    sched = local_net.nodes[0].client.call("/v1/chain/get_producer_schedule", {})
    assert sorted(p["producer_name"] for p in sched["active"]["producers"]) == sorted(
        local_net.producers
    )
    for node in local_net.nodes:
        peers = [c for c in node.connections() if c.get("last_handshake", {}).get("p2p_address")]
        assert len(peers) == PRODUCERS - 1, (node.index, peers)
    local_net.wait_synced()


def test_microfork_drops_a_transaction(local_net: LocalNet) -> None:
    nodes = local_net.nodes
    # Cut off the producer whose round has just begun: it keeps producing its 12 blocks alone.
    start_producer = _info(nodes[0])["head_block_producer"]
    _wait(
        "a new producer round",
        lambda: _info(nodes[0])["head_block_producer"] != start_producer,
        30,
    )
    producer = _info(nodes[0])["head_block_producer"]
    minority = next(n for n in nodes if n.producer == producer)
    majority = [n for n in nodes if n is not minority]
    local_net.partition([minority.index], [n.index for n in majority])
    try:
        before = majority[0].client.get_balance(TOKEN_ACCOUNT, "pe.fees", "TST")
        transfer = Action(
            TOKEN_ACCOUNT,
            "transfer",
            ["eosio@active"],
            {"from": "eosio", "to": "pe.fees", "quantity": "1.0000 TST", "memo": "minority"},
        )
        # A short expiration: when the minority switches forks the transaction is retried and
        # must be expired by then, or its producer would include it again on the winning fork.
        signed = minority.client.build([transfer], [minority.key], expiration_s=4)
        minority.client.send(signed)
        status: dict = {}

        def in_block() -> bool:
            status.update(minority.client.transaction_status(signed.id) or {})
            return status.get("state") == "IN_BLOCK"

        _wait("the transaction in a minority block", in_block, 10)
        block_num, block_id = int(status["block_number"]), str(status["block_id"])
        assert minority.client.get_block(block_num)["id"] == block_id
        for node in majority:
            assert (node.client.transaction_status(signed.id) or {}).get("state") in (
                None,
                "UNKNOWN",
            )

        def majority_wins() -> bool:
            maj, mino = _info(majority[0]), _info(minority)
            return (
                int(maj["last_irreversible_block_num"]) > int(mino["last_irreversible_block_num"])
                and int(maj["head_block_num"]) > int(mino["head_block_num"])
                and maj["head_block_time"] > signed.expiration.strftime("%Y-%m-%dT%H:%M:%S")
            )

        _wait("the majority to outgrow the minority", majority_wins, 60)
    finally:
        local_net.heal()
    local_net.wait_synced(timeout_s=60)

    # The minority's block is gone: the same height holds another block on every node.
    for node in nodes:
        assert node.client.get_block(block_num)["id"] != block_id, node.index
    log.info(
        "transaction %s was in block %d (%s) of %s; block %d is now %s",
        signed.id,
        block_num,
        block_id,
        producer,
        block_num,
        majority[0].client.get_block(block_num)["id"],
    )
    # The transaction is in no block of the final chain, and did not move any token.
    head = int(_info(majority[0])["head_block_num"])
    for num in range(max(1, block_num - 2 * 12), head + 1):
        block = majority[0].client.get_block(num)
        ids = {
            t["trx"]["id"] if isinstance(t["trx"], dict) else t["trx"]
            for t in block.get("transactions", [])
        }
        assert signed.id not in ids, num
    trace = majority[0].client.post("/v1/trace_api/get_block", {"block_num": block_num})
    assert signed.id not in str(trace[1])
    assert majority[0].client.get_balance(TOKEN_ACCOUNT, "pe.fees", "TST") == before
    # The minority retried it on the winning fork and found it expired.
    forked = minority.client.transaction_status(signed.id) or {}
    assert forked.get("state") in ("FAILED", "FORKED_OUT", "UNKNOWN", None), forked


def test_hold_lib_back_and_release(local_net: LocalNet) -> None:
    with local_net.hold_lib() as stopped:
        assert len(stopped) == PRODUCERS - local_net.lib_quorum() + 1
        running = local_net.running()[0]
        time.sleep(1.0)
        held = int(_info(running)["last_irreversible_block_num"])
        head = int(_info(running)["head_block_num"])
        _wait("the head to move on", lambda: int(_info(running)["head_block_num"]) > head + 4, 30)
        assert int(_info(running)["last_irreversible_block_num"]) == held
    local_net.wait_synced(timeout_s=60)
    _wait(
        "the LIB to advance again",
        lambda: int(_info(local_net.nodes[0])["last_irreversible_block_num"]) > held,
        90,
    )


def test_stopped_node_restarts_and_catches_up(local_net: LocalNet) -> None:
    node = local_net.nodes[1]
    local_net.stop_node(1)
    assert not node.is_running()
    head = int(_info(local_net.nodes[0])["head_block_num"])
    _wait(
        "the others to go on",
        lambda: int(_info(local_net.nodes[0])["head_block_num"]) > head + 4,
        30,
    )
    local_net.restart_node(1)
    local_net.wait_synced(timeout_s=60)
    assert int(_info(node)["head_block_num"]) > head


def test_cli_chain_up_producers_and_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "cli-net"
    up = _cli("chain", "up", "--data-dir", str(data_dir), "--producers", "2")  # dev profile
    pids = []
    for i in range(2):
        state = data_dir / f"node{i}" / "node.json"
        if state.exists():
            pids.append(json.loads(state.read_text())["pid"])
            register_process_group(pids[-1])
    try:
        assert up.returncode == 0, up.stderr
        urls = [
            ln.split(": ", 1)[1].split(" ")[0]
            for ln in up.stdout.splitlines()
            if ln.startswith("node ")
        ]
        assert len(urls) == 2 and len(pids) == 2
        with ChainClient([urls[1]]) as client:
            sched = client.call("/v1/chain/get_producer_schedule", {})
            assert sorted(p["producer_name"] for p in sched["active"]["producers"]) == [
                "bpa",
                "bpb",
            ]
    finally:
        down = _cli("chain", "down", "--data-dir", str(data_dir))
    assert down.returncode == 0 and "local network stopped" in down.stdout, down.stderr
    assert not any(process_group_alive(p) for p in pids)
