"""A real ``nodeos`` for tests under plain pytest.

``local_chain`` (session scope) starts a :class:`~payoutengine.localchain.LocalChain` on a
free loopback port in a temporary directory, bootstraps it exactly as ``payoutengine chain up``
does (protocol features, eosio.token with TST and PAY, the freshly built contract on
``payoutengine`` with eosio.code, admin ``pe.admin`` and fee account ``pe.fees``), and always
stops it. The object it yields is the LocalChain: ``.url``, ``.client`` (a ChainClient),
``.key`` (the development key) and helpers (``create_account``, ``transfer``, ``fund``,
``deploy``, ``action``, ``push``).

``new_account`` creates a fresh account with a unique name on that chain.

``local_chain_factory(profile)`` (session scope) gives a chain booted with a profile
(``dev``, ``eos``, ``wax``, ``telos``: see payoutengine.profiles), one per profile, started on
first use and stopped at the end of the session. ``profile_chain`` is the same for an indirect
parametrization: ``@pytest.mark.parametrize("profile_chain", ["eos", "wax"], indirect=True)``.

``local_net_factory(producers=4, profile="eos")`` (module scope) starts a bootstrapped
multi-producer network (payoutengine.localnet.LocalNet: ``partition``/``heal``,
``stop_node``/``restart_node``, ``hold_lib``) and stops every one it started at the end of the
module.

At the end of the session every node started by this process — by the fixture, by tests, or by
``payoutengine chain up`` subprocesses registered with :func:`register_node_pid` — must be gone;
a survivor is killed and fails the session.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from payoutengine.localchain import LocalChain, process_group_alive
from payoutengine.localnet import LocalNet
from payoutengine.systemchain import ProfileChain
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM

_names = itertools.count(1)


def register_node_pid(pid: int) -> None:
    """Record a node started outside this process (e.g. by a CLI subprocess)."""


def group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists (zombies excluded)."""
    return process_group_alive(pgid)


def unique_name(prefix: str = "t") -> str:
    """A fresh valid account name: ``prefix`` + a base-5-ish counter (digits 1-5 and a-z)."""
    n = next(_names) + os.getpid() % 1000 * 100000
    digits = "12345abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, len(digits))
        out = digits[r] + out
    name = (prefix + out)[:12]
    return name


@pytest.fixture(scope="session")
def local_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    if not CONTRACT_WASM.is_file():
        pytest.fail(f"{CONTRACT_WASM} is missing: run scripts/bootstrap to build the contract.")
    chain = LocalChain(tmp_path_factory.mktemp("localchain"))
    chain.start()
    pid = chain.pid
    assert pid is not None
    try:
        chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
        yield chain
    finally:
        chain.stop()
    assert not group_alive(pid), f"the local node (pid {pid}) survived stop()"


@pytest.fixture
def new_account(local_chain: LocalChain) -> Callable[..., str]:
    """``new_account(prefix="t") -> name``: create an account with the development key."""

    def make(prefix: str = "t") -> str:
        name = unique_name(prefix)
        local_chain.create_account(name)
        return name

    return make


@pytest.fixture(scope="session")
def local_chain_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], ProfileChain]]:
    """``local_chain_factory(profile) -> ProfileChain``: one bootstrapped chain per profile."""
    chains: dict[str, ProfileChain] = {}

    def make(profile: str = "dev") -> ProfileChain:
        if profile not in chains:
            chain = ProfileChain(tmp_path_factory.mktemp(f"chain-{profile}"), profile=profile)
            chains[profile] = chain
            chain.start()
            chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
        return chains[profile]

    try:
        yield make
    finally:
        pids = [c.pid for c in chains.values() if c.pid is not None]
        for chain in chains.values():
            chain.stop()
        for pid in pids:
            assert not group_alive(pid), f"the local node (pid {pid}) survived stop()"


@pytest.fixture
def profile_chain(
    request: pytest.FixtureRequest, local_chain_factory: Callable[[str], ProfileChain]
) -> ProfileChain:
    """The chain of the profile named by an indirect parametrization (default ``dev``)."""
    return local_chain_factory(getattr(request, "param", "dev"))


@pytest.fixture(scope="module")
def local_net_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LocalNet]]:
    """``local_net_factory(producers=4, profile="eos") -> LocalNet``, started and bootstrapped
    with the contract; every network is stopped at the end of the module."""
    nets: list[LocalNet] = []

    def make(producers: int = 4, profile: str = "eos") -> LocalNet:
        net = LocalNet(tmp_path_factory.mktemp("localnet"), producers=producers, profile=profile)
        nets.append(net)
        net.start(CONTRACT_WASM, CONTRACT_ABI)
        return net

    try:
        yield make
    finally:
        pids = [n.pid for net in nets for n in net.nodes if n.pid is not None]
        for net in nets:
            net.stop()
        for pid in pids:
            assert not group_alive(pid), f"the local node (pid {pid}) survived stop()"
