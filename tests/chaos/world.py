"""The world a chaos run happens in: a multi-producer network, the engine's accounts, a payer
with a growing database, and the two programs (admin daemon, payer sync) as real processes.

Everything here is real: nodeos producers with p2p on loopback (:class:`LocalNet`), the
``payoutengine admin`` and ``payoutengine sync run`` entry points in their own process groups,
an SQLite ledger that a writer thread keeps crediting, and HTTP endpoint proxies
(:mod:`tests.faults.proxy`) between the programs and the nodes. The fault injector
(:mod:`tests.chaos.faults`) acts on these parts only; the programs are never modified.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from payer_sync.ledger import add_credits, init_db, make_engine
from payer_sync.models import Credit
from payoutengine.deploy import daemon_permission_actions
from payoutengine.errors import ChainError, TransactionError
from payoutengine.keys import PrivateKey
from payoutengine.localchain import (
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    DEV_KEY,
    TOKEN_ACCOUNT,
    process_group_alive,
)
from payoutengine.localnet import LocalNet
from payoutengine.systemchain import ProfileChain
from payoutengine.transactions import Action
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM, payer_account_actions
from tests.faults.proxy import EndpointProxy

REPO = Path(__file__).resolve().parents[2]
PAYER = "chaospayer"
#: the contract's admin in a chaos run: an account with little CPU of its own, so its CPU can
#: really run out; the daemon powers it up within its [resources] budget.
ADMIN = "chaosadmin"
#: holds tests' cpuspender.wasm: ``spend(loops)`` bills its authorizer's CPU.
SPENDER = "chaosspend"
SPENDER_WASM = CONTRACT_WASM.parent / "cpuspender.wasm"
SCHEDULE = "rewards"
SYMBOL = "TST"
PRECISION = 4
DAEMON_PERMISSION = "payout"
ADMIN_KEY_ENV = "CHAOS_ADMIN_KEY"
PAYER_KEY_ENV = "CHAOS_PAYER_KEY"
#: the payer's deposit: far more than the writer can credit in a run.
DEPOSIT_UNITS = 50_000_000 * 10**PRECISION


def recipient_names(n: int) -> list[str]:
    out = []
    for i in range(n):
        letters = ""
        k = i
        for _ in range(3):
            k, r = divmod(k, 26)
            letters = chr(ord("a") + r) + letters
        out.append(f"chaos{letters}")
    return out


_EMPTY_ABI = {"version": "eosio::abi/1.1", "types": [], "structs": [], "actions": [], "tables": []}


def _wait_for(cond: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not appear on the chain within {timeout_s:.0f} s")
        time.sleep(0.25)


def _transfer(frm: str, to: str, quantity: str, memo: str) -> Action:
    return Action(
        TOKEN_ACCOUNT,
        "transfer",
        [f"{frm}@active"],
        {"from": frm, "to": to, "quantity": quantity, "memo": memo},
    )


class Program:
    """One of the engine's programs, run like a service: its own process group, its output
    in a log file, restarted by the world when it dies (systemd's ``Restart=always``)."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.args = list(args)
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False  # SIGSTOPped by a fault
        self.starts = 0
        self.crash_at: str | None = None
        self.pgids: list[int] = []

    def start(self, *, crash_at: str | None = None) -> None:
        """Start it; with ``crash_at`` (``after-send:ACTION:N``) under the crash-point wrapper
        (tests/faults/crashpoint.py), which SIGKILLs it at that send."""
        cmd = [sys.executable, "-m", "payoutengine.cli", *self.args]
        if crash_at:
            cmd = [
                sys.executable,
                "-m",
                "tests.faults.crashpoint",
                "--at",
                crash_at,
                "--",
                *self.args,
            ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        log.write(f"\n==== start {self.starts + 1} {' '.join(cmd[2:])}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.pgids.append(self.proc.pid)
        self.starts += 1
        self.stopped = False
        self.crash_at = crash_at

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self.stopped = False

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.stopped = False

    def terminate(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (after SIGCONT), wait; SIGKILL when it does not stop in time."""
        if self.proc is None:
            return None
        self.resume()
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def survivors(self) -> list[int]:
        return [g for g in self.pgids if process_group_alive(g)]


@dataclass
class Ledger:
    """The payer's database (payer sync's own ledger table) and the writer that grows it."""

    url: str
    recipients: list[str]
    rng: random.Random
    credits_written: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)
        init_db(self.engine)

    def credit(self, n: int) -> None:
        from sqlalchemy.orm import Session

        batch = [
            (self.rng.choice(self.recipients), self.rng.randint(1, 5_000_000)) for _ in range(n)
        ]
        with Session(self.engine) as s, s.begin():
            add_credits(s, batch)
        self.credits_written += n

    def start_writer(self, period_s: float = 0.3) -> None:
        def write() -> None:
            while not self._stop.wait(self.rng.uniform(0.3, 1.7) * period_s):
                self.credit(self.rng.randint(1, 8))

        self._thread = threading.Thread(target=write, name="ledger-writer", daemon=True)
        self._thread.start()

    def stop_writer(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def totals(self) -> dict[str, int]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(Credit.recipient, func.sum(Credit.amount)).group_by(Credit.recipient)
            ).all()
        return {str(r): int(t) for r, t in rows}


class World:
    """The network, the accounts, the payer's database, the proxies and the two programs."""

    def __init__(
        self,
        workdir: Path,
        *,
        seed: int,
        producers: int = 4,
        profile: str = "eos",
        recipients: int = 60,
    ) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.net = LocalNet(workdir / "net", producers=producers, profile=profile)
        self.recipients = recipient_names(recipients)
        self.proxies: list[EndpointProxy] = []
        #: node index behind each proxy
        self.proxy_node: list[int] = []
        self.daemon: Program | None = None
        self.sync: Program | None = None
        self.ledger: Ledger | None = None
        self._loops_per_100ms = 20_000_000
        self._spends = 0

    # -- set-up ---------------------------------------------------------------------------

    @property
    def boot(self) -> ProfileChain:
        return self.net.nodes[0]

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.net.start(CONTRACT_WASM, CONTRACT_ABI)
        node = self.boot
        daemon_key = PrivateKey.generate()
        self._setup_admin(node, daemon_key)
        self._setup_payer(node)
        self._setup_spender(node)
        node.create_accounts(self.recipients, open_symbol=f"{PRECISION},{SYMBOL}")
        _wait_for(
            lambda: all(node.client.get_account(n) is not None for n in self.recipients),
            "every recipient account",
        )
        self.ledger = Ledger(
            f"sqlite:///{self.workdir / 'ledger.sqlite'}", self.recipients, self.rng
        )
        self.ledger.credit(len(self.recipients))
        # Every program talks to two nodes, each through its own proxy: faults on a proxy or
        # a node make it fail over; a partition can leave its first choice on a minority fork.
        n = len(self.net.nodes)
        for i in range(4):
            target = 1 + i % max(1, n - 1) if n > 1 else 0
            self.proxies.append(
                EndpointProxy(self.net.nodes[target].url, seed=self.rng.randrange(2**32))
            )
            self.proxy_node.append(target)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYOUTENGINE_")}
        env[ADMIN_KEY_ENV] = daemon_key.to_wif()
        env[PAYER_KEY_ENV] = DEV_KEY.to_wif()
        admin_cfg = self._admin_config([self.proxies[0].url, self.proxies[1].url])
        sync_cfg = self._sync_config([self.proxies[2].url, self.proxies[3].url])
        self.daemon = Program(
            "daemon", ["admin", "--config", str(admin_cfg)], env, self.workdir / "daemon.log"
        )
        self.sync = Program(
            "sync", ["sync", "-c", str(sync_cfg), "run"], env, self.workdir / "sync.log"
        )
        self.daemon.start()
        self.sync.start()

    def _small_powerup(self, node: ProfileChain, account: str) -> list[Action]:
        """A little CPU/NET (about 0.35 s of CPU a day on a fresh chain): enough to start,
        little enough that a fault can use it up; the programs rent more themselves."""
        if node.profile.resources != "powerup":
            return []
        return [
            Action(
                "eosio",
                "powerup",
                ["eosio@active"],
                {
                    "payer": "eosio",
                    "receiver": account,
                    "days": 1,
                    "net_frac": 10**10,
                    "cpu_frac": 10**10,
                    "max_payment": node.profile.core("1000"),
                },
            )
        ]

    def _setup_admin(self, node: ProfileChain, daemon_key: PrivateKey) -> None:
        """``chaosadmin`` becomes the contract's admin: a little RAM, a little CPU, core tokens
        to rent more; its daemon permission may also sign ``eosio::powerup``."""
        node.push(
            [
                *payer_account_actions(node, ADMIN),
                Action(
                    "eosio",
                    "buyrambytes",
                    ["eosio@active"],
                    {"payer": "eosio", "receiver": ADMIN, "bytes": 16 * 1024},
                ),
                *self._small_powerup(node, ADMIN),
                _transfer("eosio", ADMIN, node.profile.core("500"), "chaos admin funds"),
            ]
        )
        _wait_for(lambda: node.client.get_account(ADMIN) is not None, "the admin account")
        node.wait_blocks(2)
        node.push(
            [
                Action(
                    CONTRACT_ACCOUNT, "setadmin", [f"{ADMIN_ACCOUNT}@active"], {"newadmin": ADMIN}
                ),
                *daemon_permission_actions(
                    ADMIN,
                    DAEMON_PERMISSION,
                    daemon_key.public_key,
                    contract=CONTRACT_ACCOUNT,
                    powerup=node.profile.resources == "powerup",
                ),
            ]
        )

    def _setup_spender(self, node: ProfileChain) -> None:
        node.push(
            [
                *node.new_account_actions([SPENDER], ram_bytes=64 * 1024),
                *self._small_powerup(node, SPENDER),
            ]
        )
        _wait_for(lambda: node.client.get_account(SPENDER) is not None, "the spender account")
        node.wait_blocks(2)
        node.deploy(SPENDER, SPENDER_WASM, _EMPTY_ABI)

    def _setup_payer(self, node: ProfileChain) -> None:
        # The payer as a payer has it (its owner another key), its RAM and a day of CPU/NET,
        # in one transaction; then what depends on it, once it is in a block.
        owner = PrivateKey.generate().public_key
        resources = self._small_powerup(node, PAYER)
        if node.profile.system:
            resources.append(
                _transfer("eosio", PAYER, node.profile.core("500"), "chaos payer core funds")
            )
        node.push(
            [
                *payer_account_actions(node, PAYER, owner_key=owner),
                Action(
                    "eosio",
                    "buyrambytes",
                    ["eosio@active"],
                    {"payer": "eosio", "receiver": PAYER, "bytes": 64 * 1024},
                ),
                *resources,
            ]
        )
        if node.profile.resources == "stake":
            node.stake(PAYER, node.profile.core("1000"), node.profile.core("1000"))
        _wait_for(lambda: node.client.get_account(PAYER) is not None, "the payer account")
        node.wait_blocks(2)  # resource limits are in force from the next block
        deposit = f"{DEPOSIT_UNITS // 10**PRECISION}.{'0' * PRECISION} {SYMBOL}"
        # One transaction: funds, the schedule and the deposit land together or not at all
        # (a network that just scheduled its producers may still switch forks once).
        node.push(
            [
                _transfer("eosio", PAYER, deposit, "chaos payer funds"),
                Action(
                    CONTRACT_ACCOUNT,
                    "newschedule",
                    [f"{PAYER}@active"],
                    {
                        "payer": PAYER,
                        "schedule_name": SCHEDULE,
                        "tkcontract": TOKEN_ACCOUNT,
                        "currency": f"0.{'0' * PRECISION} {SYMBOL}",
                        "memo": "chaos rewards",
                    },
                ),
                _transfer(PAYER, CONTRACT_ACCOUNT, deposit, "deposit"),
            ]
        )

    def _admin_config(self, endpoints: list[str]) -> Path:
        path = self.workdir / "admin.toml"
        path.write_text(
            f"""
[chain]
endpoints = {endpoints!r}
timeout_s = 3.0
max_head_age_s = 6.0

[contract]
account = "{CONTRACT_ACCOUNT}"

[admin]
account = "{ADMIN}"
permission = "{DAEMON_PERMISSION}"
key_env = "{ADMIN_KEY_ENV}"

[payouts]
interval_s = 1.0
max_count = 40
start_count = 20
expiration_s = 30
idle_recheck_s = 3.0

[approvals]
interval_s = 1.0

[journal]
url = "sqlite:///{self.workdir / "admin-journal.sqlite"}"
{self._resources_section(ram=False)}
[metrics]
port = 0

[log]
json = true
""".replace("'", '"')
        )
        return path

    def _sync_config(self, endpoints: list[str]) -> Path:
        path = self.workdir / "sync.toml"
        path.write_text(
            f"""
[chain]
endpoints = {endpoints!r}
timeout_s = 3.0

[payer]
account = "{PAYER}"
schedule = "{SCHEDULE}"
key_env = "{PAYER_KEY_ENV}"

[source]
url = "sqlite:///{self.workdir / "ledger.sqlite"}"

[state]
url = "sqlite:///{self.workdir / "sync-state.sqlite"}"

[batch]
records_per_tx = 20
expiration_s = 30
confirm_timeout_s = 20.0

[run]
interval_s = 1.0
full_scan_every_s = 20
{self._resources_section(ram=True)}""".replace("'", '"')
        )
        return path

    def _resources_section(self, *, ram: bool) -> str:
        core = self.net.profile
        if not core.system:
            return ""
        lines = [
            "[resources]",
            "min_cpu_us = 20000",
            "powerup_cpu_us = 400000",
            f'max_powerup_fee_per_day = "{core.core("200")}"',
            "check_interval_s = 2",
        ]
        if ram:
            lines.append(f'max_ram_fee_per_day = "{core.core("200")}"')
        return "\n" + "\n".join(lines) + "\n"

    # -- resources, for faults ---------------------------------------------------------------

    def spend_cpu(self, account: str, *, max_txs: int = 40) -> int:
        """Use up ``account``'s CPU for real: transactions it authorizes that each spend up to
        ~100 ms in cpuspender, until the node refuses one for want of the account's CPU.
        Returns how many went through."""
        node = next(n for n in self.net.nodes if n.is_running())
        loops = self._loops_per_100ms
        done = 0
        for _ in range(max_txs):
            self._spends += 1  # a distinct action data per transaction: never a duplicate
            data = (loops + self._spends).to_bytes(8, "little")
            action = Action(SPENDER, "spend", [f"{account}@active"], data)
            try:
                res = node.push([action])
            except TransactionError as exc:
                if exc.name == "tx_net_usage_exceeded":
                    return done
                if exc.cpu_exceeded:
                    if "reached account" in exc.message:
                        # what is left is less than this one: spend it in smaller ones
                        if loops < 500_000:
                            return done
                        loops //= 4
                        continue
                    loops = max(1_000_000, loops // 2)  # too big for one transaction
                    self._loops_per_100ms = loops
                    continue
                raise
            done += 1
            used = int(res.get("processed", {}).get("receipt", {}).get("cpu_usage_us") or 0)
            if used and used < 60_000 and loops == self._loops_per_100ms:
                loops = min(loops * 2, 2_000_000_000)
                self._loops_per_100ms = loops
        return done

    def sell_spare_ram(self, account: str) -> int:
        """Sell ``account``'s RAM back down to what it uses (plus 256 bytes): its next new
        rows are refused with ram_usage_exceeded. Returns the bytes sold."""
        node = next(n for n in self.net.nodes if n.is_running())
        info = node.client.get_account(account) or {}
        # a few bytes more or less each time: two sales of the same size would be one
        # transaction id within a second (refused as a duplicate)
        self._spends += 1
        spare = int(info.get("ram_quota", 0)) - int(info.get("ram_usage", 0)) - 256
        spare -= self._spends % 64
        if spare <= 0:
            return 0
        node.action("eosio", "sellram", {"account": account, "bytes": spare}, f"{account}@active")
        return spare

    # -- the network's health ----------------------------------------------------------------

    def network_heads(self) -> dict[int, tuple[int, int]]:
        """(head, LIB) of every running node that answers."""
        out: dict[int, tuple[int, int]] = {}
        for node in self.net.running():
            try:
                info = node.client.get_info()
            except ChainError:
                continue
            out[node.index] = (
                int(info["head_block_num"]),
                int(info["last_irreversible_block_num"]),
            )
        return out

    def wait_network(self, timeout_s: float = 30.0) -> bool:
        """After a network fault ends: True once the chain produces again (the best head
        moves). A chain whose every producer was restarted can halt for
        good: a restarted producer waits for a recent block before it produces (Leap's stale
        production guard), and none comes. Then, as an operator restarts a halted network,
        node 0 is restarted with stale production enabled; False is returned (counted)."""
        start = self.network_heads()
        head0 = max((h for h, _ in start.values()), default=0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.network_heads()
            if max((h for h, _ in now.values()), default=0) > head0 + 2:
                return True  # producing again; the LIB follows once enough producers sign
        node = self.net.nodes[0]
        node.stop()
        node.boots_chain = True
        try:
            node.start(fresh=False)
        finally:
            node.boots_chain = False
        self.retarget_proxies(0)
        return False

    # -- faults' helpers --------------------------------------------------------------------

    def programs(self) -> list[Program]:
        return [p for p in (self.daemon, self.sync) if p is not None]

    def retarget_proxies(self, node_index: int) -> None:
        """A restarted node may listen on another HTTP port: point its proxies at it."""
        for proxy, target in zip(self.proxies, self.proxy_node, strict=True):
            if target == node_index:
                proxy.upstream_url = self.net.nodes[node_index].url

    def supervise(self) -> None:
        """Restart a program that died (killed by a fault or its crash point)."""
        for p in self.programs():
            if not p.alive():
                p.start()

    def stop(self) -> list[str]:
        """Stop everything; the names of whatever survived (should be none)."""
        left: list[str] = []
        for p in self.programs():
            p.terminate()
            left += [f"{p.name} process group {g}" for g in p.survivors()]
        if self.ledger is not None:
            self.ledger.stop_writer()
        for proxy in self.proxies:
            proxy.close()
        pids = [n.pid for n in self.net.nodes if n.pid is not None]
        self.net.stop()
        time.sleep(0.2)
        left += [f"node process group {g}" for g in pids if process_group_alive(g)]
        return left
