"""Fixtures of the payer examples suite: the shipped examples (docs/examples/pool-sync.toml on
Redis, docs/examples/market-sync.toml on MariaDB) run as an operator runs them — ``payoutengine
sync run`` and ``payoutengine admin`` as real processes against the real node of tests/node —
while a stand-in for the payer's application credits in its own database.

Re-used, not copied: ``local_chain`` (tests/node), ``payer``/``accounts``/``mariadb_url``
(tests/sync), ``pool`` (tests/sync/pool.py), the daemon's permission and process helpers
(tests/daemon).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from payoutengine.keys import PrivateKey
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT, DEV_KEY, LocalChain
from payoutengine.localchain import process_group_alive as group_alive
from tests.conftest import REPO_ROOT
from tests.daemon.conftest import DAEMON_PERMISSION, daemon_env, payoutengine_cmd
from tests.daemon.conftest import setup_daemon_permission as _daemon_permission
from tests.daemon.conftest import write_config as write_admin_config
from tests.node.conftest import local_chain, new_account, unique_name  # noqa: F401
from tests.sync.conftest import accounts, mariadb_url, payer  # noqa: F401
from tests.sync.pool import pool  # noqa: F401

EXAMPLES = REPO_ROOT / "docs" / "examples"
CLI = REPO_ROOT / ".venv" / "bin" / "payoutengine"

__all__ = ["EXAMPLES", "Proc", "chain_env", "start"]


@dataclass
class Proc:
    """A ``payoutengine`` process in its own process group, its output in ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def syncs(self) -> int:
        return len(re.findall(r"(full|incremental) sync: ", self.text()))

    def kill(self) -> None:
        """SIGKILL the process group, as a crash or an OOM kill does."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return int(self.proc.returncode)


def start(cmd: list[str], *, env: dict[str, str], log: Path) -> Proc:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(proc, log)


def chain_env(chain: LocalChain, payer_name: str, schedule: str, key_file: Path) -> dict[str, str]:
    """The environment that points a shipped example config at the test chain and payer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYOUTENGINE_", "PAYER_"))}
    env.update(
        PAYOUTENGINE_CHAIN_ENDPOINTS=chain.url,
        PAYOUTENGINE_PAYER_ACCOUNT=payer_name,
        PAYOUTENGINE_PAYER_SCHEDULE=schedule,
        PAYOUTENGINE_PAYER_KEY_FILE=str(key_file),
        COLUMNS="200",
    )
    return env


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "payer.key"
    path.write_text(DEV_KEY.to_wif() + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def daemon_key(local_chain: LocalChain) -> PrivateKey:  # noqa: F811
    """``pe.admin@payout`` with a fresh key, linked to the daemon's actions (once a session)."""
    return _daemon_permission(local_chain)


@pytest.fixture
def admin_daemon(
    local_chain: LocalChain,  # noqa: F811
    daemon_key: PrivateKey,
    tmp_path: Path,
) -> Iterator[Callable[[], Proc]]:
    """``admin_daemon()`` starts ``payoutengine admin`` with its own payout permission; it is
    stopped (and checked gone) at the end."""
    procs: list[Proc] = []

    def run() -> Proc:
        key = daemon_key
        cfg = write_admin_config(
            tmp_path / "admin.toml",
            [local_chain.url],
            journal=tmp_path / "admin-journal.sqlite",
            admin={"account": ADMIN_ACCOUNT, "permission": DAEMON_PERMISSION},
            contract={"account": CONTRACT_ACCOUNT},
        )
        p = start(
            payoutengine_cmd("admin", "--config", str(cfg)),
            env=daemon_env(key),
            log=tmp_path / "admin.log",
        )
        procs.append(p)
        return p

    yield run
    for p in procs:
        p.stop()
        assert not group_alive(p.proc.pid)
