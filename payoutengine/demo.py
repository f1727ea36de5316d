"""``payoutengine demo``: the whole engine, end to end, on a local chain.

What it does, with no argument and no manual step:

1. starts a local ``nodeos`` on loopback (:mod:`payoutengine.localchain`): the contract is
   deployed with the 0.5 % deposit fee, and the admin account gets a dedicated ``payout``
   permission (a fresh key, linked to runpayouts, approveacc and unapproveacc only);
2. creates a payer with two schedules in two tokens (``rewards`` in TST, 4 decimals;
   ``dividends`` in PAY, 8 decimals), deposits, creates the recipient accounts — one of them
   holding a contract — and fills the payer's SQLite database with a few hundred credits,
   one of them for a name that is not a valid account;
3. runs payer sync once per schedule, as a user would (``payoutengine sync ... once``);
4. runs the admin daemon (``payoutengine admin``, its key in the environment only) until every
   approved due is paid, printing progress read from the chain;
5. prints a summary per schedule, claims for the contract account, checks every balance
   against the payer's database, and stops everything it started.

Any failure or the time-out raises :class:`DemoError` with one sentence; the command line
prints it and exits 1. Every amount is an integer of the token's smallest unit.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import contract as pc
from .amounts import Asset, Symbol, format_amount, gross_up
from .contract import ContractTables
from .deploy import daemon_permission_actions
from .errors import ChainError, PayoutEngineError, TransactionError
from .keys import PrivateKey
from .localchain import (
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    DEV_KEY,
    FEE_ACCOUNT,
    FEE_PERMILLE,
    TOKEN_ACCOUNT,
    LocalChain,
    process_group_alive,
)
from .systemchain import ProfileChain
from .transactions import Action

__all__ = [
    "CONTRACT_RECIPIENT",
    "DEFAULT_DATA_DIR",
    "DEFAULT_TIMEOUT_S",
    "INVALID_NAME",
    "PAYER",
    "SCHEDULES",
    "DemoCredits",
    "DemoError",
    "DemoSchedule",
    "demo_credits",
    "run_demo",
]

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
WASM = _PACKAGE_ROOT / "build" / "contract" / "payoutengine.wasm"
ABI = _PACKAGE_ROOT / "contract" / "payoutengine.abi"
#: a contract that accepts incoming transfers (it forwards their notifications to payoutengine,
#: which ignores them): the recipient that holds code, is never paid automatically, and claims.
FORWARDER_WASM = _PACKAGE_ROOT / "build" / "contract" / "forwarder.wasm"

DEFAULT_DATA_DIR = Path(".localchain-demo")
#: the whole demo, start to finish; it takes well under a minute on a laptop.
DEFAULT_TIMEOUT_S = 240.0
#: a file marking a directory as the demo's own, so a re-run may wipe it.
_MARKER = ".payoutengine-demo"

PAYER = "acmepayer"
PAYER_PERMISSION_KEY_ENV = "DEMO_PAYER_KEY"
ADMIN_KEY_ENV = "PAYOUTENGINE_ADMIN_KEY"
DAEMON_PERMISSION = "payout"
#: a recipient holding a contract: the daemon never approves it, it claims.
CONTRACT_RECIPIENT = "dapp.vault"
#: a credit whose recipient is not an account name (13 characters): payer sync reports it.
INVALID_NAME = "carolinesmith"
MEMBERS = 180
_SEED = 6


@dataclass(frozen=True)
class DemoSchedule:
    """One of the demo's schedules and where payer sync reads its totals."""

    name: str
    symbol: Symbol
    memo: str
    #: ``ledger``: payer sync's own ``payer_credits`` table; ``query``: the payer's own table.
    source: str
    table: str


SCHEDULES: tuple[DemoSchedule, ...] = (
    DemoSchedule("rewards", Symbol("TST", 4), "weekly rewards", "ledger", "payer_credits"),
    DemoSchedule("dividends", Symbol("PAY", 8), "dividends", "query", "dividend_credits"),
)


class DemoError(PayoutEngineError):
    """The demo could not finish; the message is one sentence saying why."""


@dataclass(frozen=True)
class DemoCredits:
    """The payer database's credits: ``schedule -> [(recipient, units), ...]``."""

    credits: Mapping[str, Sequence[tuple[str, int]]]
    members: Sequence[str]

    def totals(self, schedule: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, units in self.credits[schedule]:
            out[name] = out.get(name, 0) + units
        return out

    def valid_totals(self, schedule: str) -> dict[str, int]:
        return {n: u for n, u in self.totals(schedule).items() if n != INVALID_NAME}


def _letters(i: int, width: int = 3) -> str:
    out = ""
    for _ in range(width):
        i, r = divmod(i, 26)
        out = chr(ord("a") + r) + out
    return out


def demo_credits() -> DemoCredits:
    """The demo's credits: deterministic, so tests can check the demo's figures."""
    rng = random.Random(_SEED)
    members = [f"member{_letters(i)}" for i in range(MEMBERS)]
    rewards: list[tuple[str, int]] = []
    dividends: list[tuple[str, int]] = []
    for i, m in enumerate(members):
        for _ in range(rng.randint(1, 3)):
            rewards.append((m, rng.randint(1, 50_000)))  # 0.0001 .. 5.0000 TST
        if i % 3 != 0:
            for _ in range(rng.randint(1, 2)):
                dividends.append((m, rng.randint(1_000_000, 300_000_000)))  # 0.01 .. 3 PAY
    rewards += [(CONTRACT_RECIPIENT, 125_000), (CONTRACT_RECIPIENT, 75_000)]
    dividends += [(CONTRACT_RECIPIENT, 425_000_000)]
    rewards += [(INVALID_NAME, 120_000)]
    dividends += [(INVALID_NAME, 50_000_000)]
    rng.shuffle(rewards)
    rng.shuffle(dividends)
    return DemoCredits({"rewards": rewards, "dividends": dividends}, members)


def _deposit_for(needed: int, precision: int) -> int:
    """What to deposit so that, after the fee, ``needed`` is covered: rounded up to whole
    tokens, plus ten tokens of headroom."""
    gross = gross_up(needed, FEE_PERMILLE)
    one = 10**precision
    return (-(-gross // one) + 10) * one


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line if line.endswith(".") else line + "."


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def error(self, doing: str) -> DemoError:
        return DemoError(f"The demo timed out after {self.seconds:g} s while {doing}.")

    def check(self, doing: str) -> None:
        if self.expired():
            raise self.error(doing)


@dataclass
class _Progress:
    booked: int = 0
    approvals: int = 0
    approved: int = 0
    paid: int = 0
    outstanding: int = 0
    due_accounts: set[str] = field(default_factory=set)
    approved_accounts: set[str] = field(default_factory=set)

    def line(self) -> str:
        return (
            f"booked {self.booked:>3}   approved {self.approved:>3}/{self.approvals}   "
            f"paid {self.paid:>3}/{self.booked}   outstanding {self.outstanding:>3}"
        )


@dataclass
class _ScheduleFigures:
    recipients: int = 0
    booked: int = 0
    paid: int = 0
    due_count: int = 0
    due_units: int = 0
    due_accounts: dict[str, int] = field(default_factory=dict)


class _Interrupted(Exception):
    pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted()


class Demo:
    """One run of the demo in ``workdir`` (the node's data, configs, databases, logs)."""

    def __init__(
        self,
        workdir: Path,
        *,
        keep: bool,
        timeout_s: float,
        console: Console | None = None,
        profile: str = "dev",
    ) -> None:
        self.workdir = workdir
        self.profile = profile
        self.keep = keep
        self.deadline = _Deadline(timeout_s)
        self.console = console or _console()
        self.credits = demo_credits()
        self.chain: ProfileChain | None = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.children: list[subprocess.Popen[bytes]] = []
        self.daemon_key: PrivateKey | None = None
        self.started = time.monotonic()
        self.cmd = self._payoutengine_cmd()

    # -- output ---------------------------------------------------------------------------

    def say(self, text: str = "", *, indent: int = 2) -> None:
        self.console.print(" " * indent + text if text else "", highlight=False)

    def step(self, n: int, title: str) -> None:
        self.console.print()
        self.console.rule(f"[bold]{n}  {title}", align="left", characters="─")

    def rel(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(Path.cwd()))
        return str(path)

    @staticmethod
    def _payoutengine_cmd() -> list[str]:
        script = Path(sys.executable).parent / "payoutengine"
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
        return [sys.executable, "-m", "payoutengine.cli"]

    # -- the run --------------------------------------------------------------------------

    def run(self) -> None:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        ok = False
        try:
            self._run()
            ok = True
        except _Interrupted:
            raise DemoError("The demo was stopped by SIGTERM.") from None
        except KeyboardInterrupt:
            raise DemoError("The demo was interrupted.") from None
        finally:
            with contextlib.suppress(_Interrupted, KeyboardInterrupt):
                self._cleanup(ok)
            signal.signal(signal.SIGTERM, previous)

    def _run(self) -> None:
        c = self.console
        c.print("[bold]payoutengine demo[/bold]: a payer's database becomes on-chain payments")
        self._prepare_workdir()
        self._start_chain()
        self._setup_payer()
        self._run_sync()
        self._run_daemon()
        figures = self._summary()
        self._claim(figures)
        self._verify()
        self._finish()

    # -- 1. the chain -----------------------------------------------------------------------

    def _prepare_workdir(self) -> None:
        wd = self.workdir
        node = LocalChain(wd / "node")
        running = node.read_state()
        if running is not None:
            raise DemoError(
                f"A demo chain is still running from {self.rel(wd)} (pid {running.pid}); stop "
                f"it with 'payoutengine chain down --data-dir {self.rel(wd / 'node')}' first."
            )
        if wd.exists():
            if not (wd / _MARKER).exists() and any(wd.iterdir()):
                raise DemoError(
                    f"The directory {self.rel(wd)} exists and was not made by the demo; "
                    "remove it or choose another --data-dir."
                )
            shutil.rmtree(wd)
        wd.mkdir(parents=True)
        (wd / _MARKER).write_text("made by payoutengine demo; safe to delete\n")

    def _start_chain(self) -> None:
        self.step(1, "A local chain with the contract")
        for path in (WASM, ABI, FORWARDER_WASM):
            if not path.is_file():
                raise DemoError(f"{path} is missing; run scripts/bootstrap first.")
        chain = ProfileChain(self.workdir / "node", profile=self.profile)
        self.chain = chain
        try:
            chain.start(timeout_s=min(30.0, max(0.5, self.deadline.left())))
            self.deadline.check("starting the local chain")
            chain.bootstrap(WASM, ABI)
        except ChainError as exc:
            if self.deadline.expired():
                raise self.deadline.error("starting the local chain") from None
            raise DemoError(f"The local chain did not start: {_first_sentence(str(exc))}") from None
        self.deadline.check("deploying the contract")
        self.say(f"nodeos on {chain.url}, data in {self.rel(chain.data_dir)}")
        self.say(
            f"contract {CONTRACT_ACCOUNT} deployed: admin {ADMIN_ACCOUNT}, deposit fee "
            f"{FEE_PERMILLE / 10:g} % to {FEE_ACCOUNT}"
        )
        self.daemon_key = self._daemon_permission(chain)
        self.say(
            f"{ADMIN_ACCOUNT}@{DAEMON_PERMISSION}: the daemon's own key, linked to runpayouts, "
            "approveacc, unapproveacc"
        )

    def _daemon_permission(self, chain: ProfileChain) -> PrivateKey:
        key = PrivateKey.generate()
        chain.push(
            daemon_permission_actions(
                ADMIN_ACCOUNT, DAEMON_PERMISSION, key.public_key, contract=CONTRACT_ACCOUNT
            )
        )
        return key

    # -- 2. payer, recipients, the payer's database -----------------------------------------

    def _setup_payer(self) -> None:
        chain = self._chain()
        self.step(2, "A payer, its recipients and its database")
        names = [PAYER, *self.credits.members, CONTRACT_RECIPIENT]
        self._create_accounts(chain, names)
        chain.deploy(
            CONTRACT_RECIPIENT,
            FORWARDER_WASM,
            {"version": "eosio::abi/1.1", "types": [], "structs": [], "actions": [], "tables": []},
        )
        deposits: list[str] = []
        fees: list[str] = []
        for s in SCHEDULES:
            needed = sum(self.credits.valid_totals(s.name).values())
            deposit = Asset(_deposit_for(needed, s.symbol.precision), s.symbol)
            chain.fund(PAYER, deposit)
            chain.push(
                [
                    pc.newschedule(
                        CONTRACT_ACCOUNT,
                        payer=PAYER,
                        schedule=s.name,
                        tkcontract=TOKEN_ACCOUNT,
                        symbol=s.symbol,
                        memo=s.memo,
                    )
                ]
            )
            chain.transfer(PAYER, CONTRACT_ACCOUNT, deposit, f"deposit for {s.name}")
            deposits.append(str(deposit))
            fee = deposit.amount * FEE_PERMILLE // 1000
            fees.append(str(Asset(fee, s.symbol)))
            self.deadline.check("creating the payer")
        self.say(
            f"payer {PAYER}: schedule [bold]rewards[/bold] in TST (4 decimals), schedule "
            "[bold]dividends[/bold] in PAY (8 decimals)"
        )
        self.say(f"deposited {' and '.join(deposits)} (fees {' and '.join(fees)} to {FEE_ACCOUNT})")
        self.say(
            f"{len(self.credits.members)} recipient accounts; {CONTRACT_RECIPIENT} holds a "
            "contract, so it must claim"
        )
        self._fill_database()

    def _create_accounts(self, chain: ProfileChain, names: Sequence[str]) -> None:
        def auth(key: str) -> dict[str, object]:
            return {
                "threshold": 1,
                "keys": [{"key": key, "weight": 1}],
                "accounts": [],
                "waits": [],
            }

        active = auth(DEV_KEY.public_key)
        # The payer's owner is a key of its own: payer sync signs with active, and refuses a
        # key that controls owner.
        owners = {PAYER: auth(PrivateKey.generate().public_key)}
        for i in range(0, len(names), 40):
            chain.push(
                [
                    Action(
                        "eosio",
                        "newaccount",
                        ["eosio@active"],
                        {
                            "creator": "eosio",
                            "name": n,
                            "owner": owners.get(n, active),
                            "active": active,
                        },
                    )
                    for n in names[i : i + 40]
                ]
                # on a mainnet profile: the RAM (and stake) a new account gets there
                + chain.new_account_resources(names[i : i + 40])
            )
            self.deadline.check("creating the recipient accounts")
        if chain.profile.system:
            self._give_resources(chain)

    def _give_resources(self, chain: ProfileChain) -> None:
        """On a mainnet profile the payer and the contract account need what they would buy
        there: RAM for the payer's bookings and balance rows (about 500 bytes per new
        recipient and schedule), RAM for the contract's code, CPU and NET for a day."""
        chain.buy_ram(PAYER, 512 * 1024)
        chain.buy_ram(CONTRACT_RECIPIENT, 10 * FORWARDER_WASM.stat().st_size + 16 * 1024)
        for account in (PAYER, CONTRACT_RECIPIENT):
            chain.provision(account)
        how = (
            "a day of powerup (CPU and NET)"
            if chain.profile.resources == "powerup"
            else f"{chain.profile.core('1000')} staked to CPU and to NET"
        )
        self.say(
            f"profile {chain.profile.name}: {PAYER} bought 512 KiB of RAM and got {how}; "
            f"{CONTRACT_RECIPIENT} bought RAM for its code"
        )

    @property
    def db_path(self) -> Path:
        return self.workdir / "payer.sqlite"

    def _fill_database(self) -> None:
        rewards, dividends = SCHEDULES
        self._run_cli(["sync", "-c", str(self._sync_config(rewards)), "init-db"], show=False)
        with contextlib.closing(sqlite3.connect(self.db_path)) as db, db:
            db.executemany(
                "INSERT INTO payer_credits (recipient, amount, memo) VALUES (?, ?, NULL)",
                self.credits.credits[rewards.name],
            )
            db.execute(
                f"CREATE TABLE {dividends.table} (id INTEGER PRIMARY KEY, "
                "recipient TEXT NOT NULL, amount INTEGER NOT NULL)"
            )
            db.executemany(
                f"INSERT INTO {dividends.table} (recipient, amount) VALUES (?, ?)",
                self.credits.credits[dividends.name],
            )
        self.say(f"payer database {self.rel(self.db_path)}:")
        self.say(
            f"{len(self.credits.credits[rewards.name])} rewards credits in payer sync's ledger "
            f"table {rewards.table},",
            indent=4,
        )
        self.say(
            f"{len(self.credits.credits[dividends.name])} dividend credits in the payer's own "
            f"table {dividends.table}",
            indent=4,
        )
        self.say(
            f"one recipient in it, [bold]{INVALID_NAME}[/bold], is not a valid account name "
            "(13 characters)"
        )

    # -- 3. payer sync ----------------------------------------------------------------------

    def _sync_config(self, s: DemoSchedule) -> Path:
        path = self.workdir / f"sync-{s.name}.toml"
        if path.exists():
            return path
        source = (
            '[source]\nkind = "ledger"\nurl = "sqlite:///{db}"\n'
            if s.source == "ledger"
            else '[source]\nkind = "query"\nurl = "sqlite:///{db}"\n'
            'query = "SELECT recipient, SUM(amount) FROM {table} GROUP BY recipient"\n'
            'total_unit = "smallest"\n'
        ).format(db=self.db_path, table=s.table)
        path.write_text(
            f"# payer sync of the schedule {s.name} (written by payoutengine demo)\n"
            f'[chain]\nendpoints = ["{self._chain().url}"]\ncontract = "{CONTRACT_ACCOUNT}"\n\n'
            f'[payer]\naccount = "{PAYER}"\nschedule = "{s.name}"\n'
            f'key_env = "{PAYER_PERMISSION_KEY_ENV}"\n\n'
            f"{source}\n"
            f'[state]\nurl = "sqlite:///{self.workdir / f"sync-state-{s.name}.sqlite"}"\n\n'
            '[batch]\nrecords_per_tx = 100\nconfirm = "lib"\n'
        )
        return path

    def _run_sync(self) -> None:
        self.step(3, "Payer sync: the database's totals become bookings on chain")
        for s in SCHEDULES:
            cfg = self._sync_config(s)
            args = ["sync", "-c", str(cfg), "once"]
            res = self._run_cli(args, show=True, ok_codes=(0, 1))
            booked = self._booked(s.name)
            expected = self.credits.valid_totals(s.name)
            if booked != expected:
                missing = sorted(set(expected) - set(booked))
                raise DemoError(
                    f"Payer sync did not book the schedule {s.name} as the database says "
                    f"(exit {res.returncode}; {len(missing)} recipients missing)."
                )
            if res.returncode == 1 and INVALID_NAME not in res.stdout:
                raise DemoError(
                    f"Payer sync of {s.name} exited 1 without reporting {INVALID_NAME}."
                )
            self.say(
                f"→ exit {res.returncode} (something needs a human): {len(booked)} recipients "
                f"booked, {INVALID_NAME} reported"
            )
            self.deadline.check("running payer sync")

    # -- 4. the admin daemon ----------------------------------------------------------------

    def _admin_config(self) -> Path:
        path = self.workdir / "admin.toml"
        path.write_text(
            "# the admin daemon's configuration (written by payoutengine demo); the key is\n"
            f"# read from the environment variable {ADMIN_KEY_ENV}, never from this file\n"
            f'[chain]\nendpoints = ["{self._chain().url}"]\nmax_head_age_s = 10.0\n\n'
            f'[contract]\naccount = "{CONTRACT_ACCOUNT}"\n\n'
            f'[admin]\naccount = "{ADMIN_ACCOUNT}"\npermission = "{DAEMON_PERMISSION}"\n'
            f'key_env = "{ADMIN_KEY_ENV}"\n\n'
            "[payouts]\ninterval_s = 0.5\nstart_count = 50\nidle_recheck_s = 2.0\n\n"
            "[approvals]\ninterval_s = 0.5\nbatch_size = 100\nrecheck_interval_s = 60.0\n\n"
            '[journal]\nurl = "sqlite:///admin-journal.sqlite"\n\n'
            f'[metrics]\nhost = "127.0.0.1"\nport = {_free_port()}\n\n'
            '[log]\njson = false\nlevel = "INFO"\n'
        )
        return path

    def _run_daemon(self) -> None:
        self.step(4, "The admin daemon approves recipients and pays every due")
        cfg = self._admin_config()
        log_path = self.workdir / "admin.log"
        assert self.daemon_key is not None
        env = self._env()
        env[ADMIN_KEY_ENV] = self.daemon_key.to_wif()
        args = ["admin", "--config", str(cfg)]
        self.say(f"$ {ADMIN_KEY_ENV}=… payoutengine admin --config {self.rel(cfg)}")
        self.say(f"(its log: {self.rel(log_path)})")
        with open(log_path, "wb") as logf:
            self.daemon = subprocess.Popen(
                [*self.cmd, *args],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )
        plain = set(self.credits.members)
        t0 = time.monotonic()
        last = ""
        last_print = 0.0
        while True:
            if self.daemon.poll() is not None:
                raise DemoError(
                    f"The admin daemon exited with status {self.daemon.returncode}: "
                    f"{self._last_log_line(log_path)}"
                )
            p = self._progress()
            line = p.line()
            now = time.monotonic()
            if line != last or now - last_print > 10:
                self.say(f"{now - t0:5.1f} s  {line}")
                last, last_print = line, now
            done = (
                p.due_accounts <= {CONTRACT_RECIPIENT}
                and plain <= p.approved_accounts
                and p.booked > 0
            )
            if done:
                break
            if self.deadline.expired():
                raise self.deadline.error(
                    f"waiting for the admin daemon to pay ({p.outstanding} dues outstanding)"
                )
            time.sleep(0.2)
        self.say(
            f"every approved due is paid; {CONTRACT_RECIPIENT} (a contract, not approved) "
            "waits for its claim"
        )
        self._wait_irreversible()
        self._stop_daemon()

    def _journal_counts(self) -> dict[str, int]:
        path = self.workdir / "admin-journal.sqlite"
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT status, COUNT(*) FROM transactions GROUP BY status")
            return {str(k): int(n) for k, n in rows}

    def _wait_irreversible(self) -> None:
        """Let the daemon follow its transactions until none is open (signed, sent, included)."""
        while True:
            counts = self._journal_counts()
            open_ = sum(counts.get(k, 0) for k in ("signed", "sent", "included"))
            if open_ == 0:
                break
            if self.daemon is not None and self.daemon.poll() is not None:
                raise DemoError(
                    f"The admin daemon exited with status {self.daemon.returncode} while "
                    "following its transactions."
                )
            if self.deadline.expired():
                raise self.deadline.error(
                    f"waiting for {open_} daemon transactions to become irreversible"
                )
            time.sleep(0.3)
        failed = counts.get("failed", 0)
        self.say(
            f"the daemon's journal: {counts.get('irreversible', 0)} transactions irreversible, "
            f"{counts.get('idle', 0)} refused with nothing left to pay"
            + (f", {failed} failed (see {self.rel(self.workdir / 'admin.log')})" if failed else "")
        )

    @staticmethod
    def _last_log_line(path: Path) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return _first_sentence(lines[-1])
        return "its log is empty."

    def _stop_daemon(self) -> None:
        proc = self.daemon
        if proc is None:
            return
        self.daemon = None
        rc = _stop_group(proc)
        if rc not in (0, -signal.SIGTERM):
            raise DemoError(f"The admin daemon did not stop cleanly (exit status {rc}).")
        self.say("admin daemon stopped (SIGTERM, exit 0)")

    def _tables(self) -> ContractTables:
        return ContractTables(self._chain().client, CONTRACT_ACCOUNT, page_size=1000)

    def _progress(self) -> _Progress:
        tables = self._tables()
        p = _Progress()
        for s in SCHEDULES:
            # Paid and outstanding both from the same rows, so one line never mixes two moments.
            for r in tables.recipients(s.name):
                if r.booked_total > 0:
                    p.booked += 1
                if r.booked_total > 0 and r.due == 0:
                    p.paid += 1
                elif r.due > 0:
                    p.outstanding += 1
                    p.due_accounts.add(r.account)
        for account, approved in tables.approvals():
            p.approvals += 1
            if approved:
                p.approved += 1
                p.approved_accounts.add(account)
        return p

    # -- 5. summary -------------------------------------------------------------------------

    def _figures(self) -> dict[str, _ScheduleFigures]:
        tables = self._tables()
        out: dict[str, _ScheduleFigures] = {}
        for s in SCHEDULES:
            f = _ScheduleFigures()
            rows = {r.account: r for r in tables.recipients(s.name)}
            f.recipients = len(rows)
            f.booked = sum(r.booked_total for r in rows.values())
            f.paid = sum(r.paid_total for r in rows.values())
            for due in tables.dues(s.name):
                units = rows[due.account].due
                f.due_count += 1
                f.due_units += units
                f.due_accounts[due.account] = units
            out[s.name] = f
        return out

    def _fees(self, s: DemoSchedule) -> int:
        bal = self._chain().client.get_balance(TOKEN_ACCOUNT, FEE_ACCOUNT, s.symbol.code)
        return 0 if bal is None else bal.amount

    def _summary(self) -> dict[str, _ScheduleFigures]:
        self.step(5, "Summary, read from the chain")
        figures = self._figures()
        self.console.print(self._table(figures, "per schedule (amounts in tokens)"))
        why = Table(title="still due, and why", title_justify="left", show_lines=False)
        why.add_column("schedule")
        why.add_column("recipient")
        why.add_column("amount", justify="right")
        why.add_column("why")
        for s in SCHEDULES:
            f = figures[s.name]
            for name, units in f.due_accounts.items():
                why.add_row(
                    s.name,
                    name,
                    format_amount(units, s.symbol.precision) + f" {s.symbol.code}",
                    "holds a contract: not paid automatically, it claims",
                )
            invalid = self.credits.totals(s.name).get(INVALID_NAME, 0)
            why.add_row(
                s.name,
                INVALID_NAME,
                format_amount(invalid, s.symbol.precision) + f" {s.symbol.code}",
                "invalid name: reported by payer sync, not booked",
            )
        self.console.print(why)
        return figures

    def _table(self, figures: Mapping[str, _ScheduleFigures], title: str) -> Table:
        t = Table(title=title, title_justify="left")
        for name in ("schedule", "token", "recipients", "booked", "paid", "fees", "still due"):
            t.add_column(name, justify="left" if name in ("schedule", "token") else "right")
        for s in SCHEDULES:
            f = figures[s.name]
            p = s.symbol.precision
            t.add_row(
                s.name,
                s.symbol.code,
                str(f.recipients),
                format_amount(f.booked, p),
                format_amount(f.paid, p),
                format_amount(self._fees(s), p),
                f"{f.due_count}: {format_amount(f.due_units, p)}",
            )
        return t

    # -- 6. claim ---------------------------------------------------------------------------

    def _claim(self, figures: Mapping[str, _ScheduleFigures]) -> None:
        self.step(6, f"{CONTRACT_RECIPIENT} claims what it is owed")
        chain = self._chain()
        for s in SCHEDULES:
            if CONTRACT_RECIPIENT not in figures[s.name].due_accounts:
                raise DemoError(f"{CONTRACT_RECIPIENT} has nothing due in {s.name} to claim.")
            before = self._balance(CONTRACT_RECIPIENT, s)
            try:
                claim = pc.claim(
                    CONTRACT_ACCOUNT,
                    s.name,
                    CONTRACT_RECIPIENT,
                    authority=[f"{CONTRACT_RECIPIENT}@active"],
                )
                chain.push([claim])
            except TransactionError as exc:
                raise DemoError(
                    f"The claim of {CONTRACT_RECIPIENT} in {s.name} was rejected: {exc.message}."
                ) from None
            got = self._balance(CONTRACT_RECIPIENT, s) - before
            self.say(
                f"claim({s.name}, {CONTRACT_RECIPIENT}) → received "
                f"{format_amount(got, s.symbol.precision)} {s.symbol.code}"
            )
        after = self._figures()
        for s in SCHEDULES:
            f = after[s.name]
            p = s.symbol.precision
            self.say(
                f"{s.name:<10} paid {format_amount(f.paid, p)} of {format_amount(f.booked, p)} "
                f"{s.symbol.code} booked; {f.due_count} due"
            )
        left = {n: f.due_count for n, f in after.items() if f.due_count}
        if left:
            raise DemoError(f"Dues are still open after the claim: {left}.")

    def _balance(self, account: str, s: DemoSchedule) -> int:
        bal = self._chain().client.get_balance(TOKEN_ACCOUNT, account, s.symbol.code)
        return 0 if bal is None else bal.amount

    # -- checks and the end -----------------------------------------------------------------

    def _verify(self) -> None:
        """Every recipient's token balance equals its total in the payer's database."""
        wrong: list[str] = []
        for s in SCHEDULES:
            booked = self._booked(s.name, paid=True)
            for name, units in self.credits.valid_totals(s.name).items():
                if booked.get(name) != units or self._balance(name, s) != units:
                    wrong.append(f"{name} in {s.name}")
            self.deadline.check("checking the balances")
        if wrong:
            raise DemoError(
                f"{len(wrong)} recipients' balances differ from the payer's database, first "
                f"{wrong[0]}."
            )
        total = sum(len(self.credits.valid_totals(s.name)) for s in SCHEDULES)
        self.say(
            f"checked: all {total} balances equal the payer database's totals; nothing was "
            "paid twice"
        )

    def _finish(self) -> None:
        elapsed = time.monotonic() - self.started
        self.console.print()
        if self.keep:
            node = self.rel(self.workdir / "node")
            cfg = self.rel(self.workdir / "admin.toml")
            self.console.print(f"[bold]done[/bold] in {elapsed:.0f} s; the chain keeps running:")
            self.say(f"payoutengine status --config {cfg}       # dues, journal, payments")
            self.say(f"payoutengine chain status --data-dir {node}")
            self.say(f"payoutengine sync -c {self.rel(self._sync_config(SCHEDULES[0]))} once")
            self.say(f"payoutengine chain down --data-dir {node}   # stop it")
            self._start_web()
        else:
            self.console.print(
                f"[bold]done[/bold] in {elapsed:.0f} s; everything the demo started is stopped "
                "(--keep leaves the chain up)"
            )

    def _start_web(self) -> None:
        """With --keep: the recipient, payer and operator pages (the ``web`` extra), left
        running; the last line printed is their address."""
        from .web.demo import start_demo_web

        chain = self._chain()
        web = start_demo_web(
            self.workdir,
            push=chain.push,
            chain_url=chain.url,
            contract=CONTRACT_ACCOUNT,
            sponsor=ADMIN_ACCOUNT,
            daemon_journal=self.workdir / "admin-journal.sqlite",
            sync_states=[self.workdir / f"sync-state-{s.name}.sqlite" for s in SCHEDULES],
            command=self.cmd,
            env=self._env(),
        )
        if web is None:
            self.say("(the web pages need payoutengine[web]; see docs/web.md)")
            return
        self.say(f"kill {web.pid}   # stop the pages ({self.rel(web.config)}, log web.log)")
        self.console.print(f"pages: {web.url}/recipient/{CONTRACT_RECIPIENT}", highlight=False)

    def _cleanup(self, ok: bool) -> None:
        if self.daemon is not None:
            _stop_group(self.daemon)
            self.daemon = None
        for proc in self.children:
            if proc.poll() is None:
                _stop_group(proc)
        if self.chain is not None and not (ok and self.keep):
            self.chain.stop()
        if ok and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif not ok and self.workdir.exists():
            self.console.print(
                f"the demo's files and logs are in {self.rel(self.workdir)}", style="dim"
            )

    # -- helpers ----------------------------------------------------------------------------

    def _chain(self) -> ProfileChain:
        if self.chain is None:
            raise DemoError("The local chain is not running.")
        return self.chain

    def _booked(self, schedule: str, *, paid: bool = False) -> dict[str, int]:
        return {
            r.account: r.paid_total if paid else r.booked_total
            for r in self._tables().recipients(schedule)
        }

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PAYOUTENGINE_", "PAYER_SYNC_"))
        }
        env[PAYER_PERMISSION_KEY_ENV] = DEV_KEY.to_wif()
        env["COLUMNS"] = str(max(100, self.console.width))
        env["PYTHONPATH"] = str(_PACKAGE_ROOT) + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        return env

    def _run_cli(
        self, args: Sequence[str], *, show: bool, ok_codes: Sequence[int] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        shown = " ".join(self.rel(Path(a)) if "/" in a else a for a in args)
        if show:
            self.say(f"$ payoutengine {shown}")
        proc = subprocess.Popen(
            [*self.cmd, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env(),
            cwd=self.workdir,
            start_new_session=True,
        )
        self.children.append(proc)
        try:
            out, err = proc.communicate(timeout=max(1.0, self.deadline.left()))
        except subprocess.TimeoutExpired:
            _stop_group(proc, sig=signal.SIGKILL)
            raise self.deadline.error(f"running 'payoutengine {shown}'") from None
        finally:
            self.children.remove(proc)
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        if show:
            for line in stdout.rstrip().splitlines():
                self.say(escape(line.rstrip()), indent=0)
        if proc.returncode not in ok_codes:
            detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
            raise DemoError(
                f"'payoutengine {shown}' exited with status {proc.returncode}: "
                f"{_first_sentence(detail)}"
            )
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _console() -> Console:
    """A console at least 100 columns wide when the output is not a terminal (CI logs)."""
    probe = Console()
    if probe.is_terminal:
        return Console(highlight=False)
    return Console(highlight=False, width=max(100, probe.width))


def _stop_group(
    proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, wait_s: float = 20.0
) -> int:
    """Stop the process group ``proc`` leads (it was started with a new session)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    while process_group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_group_alive(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return int(proc.returncode)


def run_demo(
    *,
    data_dir: Path = DEFAULT_DATA_DIR,
    keep: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    console: Console | None = None,
    profile: str = "dev",
) -> None:
    """Run the demo; raises :class:`DemoError` with the reason when it cannot finish."""
    Demo(
        data_dir.resolve(), keep=keep, timeout_s=timeout_s, console=console, profile=profile
    ).run()
