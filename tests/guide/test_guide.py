"""docs/operations.md cannot rot: its ``payoutengine`` commands run against a local chain.

The guide's ``console`` blocks hold the commands an operator types (``$ payoutengine ...``);
a trailing ``# exit N[: a word]`` gives the documented exit status (and a word the output must
contain), ``# runs until stopped`` marks a long-running process, and an HTML comment
``<!-- guide-test: setup=NAME -->`` before a block names the situation the block is about (a
shortfall, a lost credit, a dead endpoint...), which :data:`SETUPS` prepares on the chain.
Every block runs in the guide's order, with ``/etc/payoutengine`` and ``/var/lib/payoutengine``
moved into a temporary directory and the example configurations of docs/examples/ copied
there. Every other ``payoutengine`` command in the README, the guide and docs/examples/ must at
least parse (``--help`` appended).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from payoutengine.amounts import Asset
from payoutengine.deploy import daemon_permission_actions
from payoutengine.keys import PrivateKey
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT, DEV_KEY
from payoutengine.systemchain import ProfileChain
from tests.conftest import REPO_ROOT, create_payer_account

from .conftest import VENV_BIN

GUIDE = REPO_ROOT / "docs" / "operations.md"
EXAMPLES = REPO_ROOT / "docs" / "examples"
README = REPO_ROOT / "README.md"
PAYER = "acmepayer"
RECIPIENTS = [f"member{i}" for i in range(1, 6)]
BONUS = ["holder1", "holder2", "holder3"]


# -- parsing the guide ---------------------------------------------------------------------


@dataclass
class Command:
    text: str
    exit_code: int = 0
    must_say: str | None = None
    long_running: bool = False


@dataclass
class Block:
    line: int
    setup: str | None
    commands: list[Command] = field(default_factory=list)


def _command(text: str) -> Command:
    code, _, comment = text.partition(" # ")
    cmd = Command(code.strip())
    m = re.search(r"\bexit (\d+)(?::\s*(?:an? )?(\w+))?", comment)
    if m:
        cmd.exit_code = int(m.group(1))
        cmd.must_say = m.group(2)
    cmd.long_running = "runs until stopped" in comment
    return cmd


def parse_guide(text: str) -> list[Block]:
    blocks: list[Block] = []
    setup: str | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        m = re.fullmatch(r"<!-- guide-test: setup=([\w-]+) -->", stripped)
        if m:
            setup = m.group(1)
        elif stripped == "```console":
            block = Block(i + 1, setup)
            setup = None
            i += 1
            pending = ""
            while not lines[i].strip().startswith("```"):
                body = lines[i].strip()
                if pending:
                    pending += " " + body.rstrip("\\").strip()
                elif body.startswith("$ "):
                    pending = body[2:].rstrip("\\").strip()
                if pending and not body.endswith("\\"):
                    block.commands.append(_command(pending))
                    pending = ""
                i += 1
            blocks.append(block)
        elif stripped.startswith("```"):
            setup = None
            i += 1
            while not lines[i].strip().startswith("```"):
                i += 1
        i += 1
    return blocks


def test_the_guide_has_runnable_blocks() -> None:
    blocks = parse_guide(GUIDE.read_text())
    commands = [c for b in blocks for c in b.commands]
    assert len(commands) >= 15
    assert all(c.text.startswith("payoutengine ") for c in commands), [
        c.text for c in commands if not c.text.startswith("payoutengine ")
    ]
    assert {b.setup for b in blocks if b.setup} == set(SETUPS)
    assert {c.exit_code for c in commands} == {0, 1, 3}
    assert sum(c.long_running for c in commands) == 2


# -- the situations the guide's blocks are about ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metrics_show_a_sync(port: int) -> Callable[[], bool]:
    """True once payer sync's /metrics on ``port`` reports a finished sync."""

    def synced() -> bool:
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return False
        m = re.search(r"^payer_sync_last_sync_timestamp (\S+)$", body, re.M)
        return m is not None and float(m.group(1)) > 0

    return synced


@dataclass
class Host:
    """The operator's machine: /etc/payoutengine and /var/lib/payoutengine, moved to tmp."""

    chain: ProfileChain
    etc: Path
    var: Path
    env: dict[str, str]
    #: env overrides for the current block only
    block_env: dict[str, str] = field(default_factory=dict)
    #: checked after the current block's commands ran
    after: list[Callable[[], None]] = field(default_factory=list)
    #: a condition a long-running command must reach before it is stopped
    wait_for: Callable[[], bool] | None = None
    #: sockets bound (not listening) for the test's whole run: ports nothing else can take
    held: list[socket.socket] = field(default_factory=list)

    def dead_port(self) -> int:
        """A loopback port where connections are refused, reserved until the test ends."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.held.append(s)
        return int(s.getsockname()[1])

    def localize(self, text: str) -> str:
        return (
            text.replace("/etc/payoutengine/", f"{self.etc}/")
            .replace("/var/lib/payoutengine/", f"{self.var}/")
            .replace("--allow-token eosio.token:4,EOS", "--allow-token eosio.token:4,TST")
        )

    @property
    def ledger(self) -> Path:
        return self.var / "ledger.sqlite"

    def credits(self) -> dict[str, int]:
        with contextlib.closing(sqlite3.connect(self.ledger)) as db:
            rows = db.execute("SELECT recipient, SUM(amount) FROM payer_credits GROUP BY 1")
            return {str(r): int(t) for r, t in rows}

    def add_credit(self, recipient: str, units: int) -> None:
        with contextlib.closing(sqlite3.connect(self.ledger)) as db, db:
            db.execute(
                "INSERT INTO payer_credits (recipient, amount) VALUES (?, ?)", (recipient, units)
            )

    def recipients(self, schedule: str) -> dict[str, tuple[int, int]]:
        return {
            str(r["account"]): (int(r["booked_total"]), int(r["paid_total"]))
            for r in self.chain.client.iter_table(CONTRACT_ACCOUNT, schedule, "recipients")
        }

    def booked(self, schedule: str) -> dict[str, int]:
        return {a: b for a, (b, _) in self.recipients(schedule).items()}

    def free_funds(self) -> int:
        for r in self.chain.client.iter_table(CONTRACT_ACCOUNT, PAYER, "funds"):
            if str(r["deposited"]).endswith(" TST"):
                return Asset.parse(r["deposited"]).amount - Asset.parse(r["dues"]).amount
        raise AssertionError("the payer has no TST funds row")


def _secret_file(path: Path, key: PrivateKey) -> None:
    path.write_text(key.to_wif() + "\n")
    path.chmod(0o600)


def _accounts(chain: ProfileChain, names: list[str], *, open_tst: bool) -> None:
    chain.create_accounts(names, open_symbol="4,TST" if open_tst else None, per_tx=len(names))


def _schedule(chain: ProfileChain, name: str, deposit: str) -> None:
    chain.action(
        CONTRACT_ACCOUNT,
        "newschedule",
        {
            "payer": PAYER,
            "schedule_name": name,
            "tkcontract": "eosio.token",
            "currency": "0.0000 TST",
            "memo": name,
        },
        f"{PAYER}@active",
    )
    chain.transfer(PAYER, CONTRACT_ACCOUNT, deposit, f"deposit {name}")


def setup_contract_account(h: Host) -> None:
    """A chain with the accounts but no contract: the guide's deploy deploys it. On a mainnet
    profile the contract account has bought the RAM the guide says it needs (300 KiB)."""
    assert h.chain.client.get_code_hash(CONTRACT_ACCOUNT) == "0" * 64
    if h.chain.profile.system:
        h.chain.buy_ram(CONTRACT_ACCOUNT, 300 * 1024)

    def deployed() -> None:
        rows = h.chain.client.get_table_rows(CONTRACT_ACCOUNT, CONTRACT_ACCOUNT, "settings")
        settings = rows["rows"][0]
        assert settings["admin"] == ADMIN_ACCOUNT and int(settings["fee_permille"]) == 5

    h.after.append(deployed)


def setup_daemon(h: Host) -> None:
    """pe.admin@payout (a fresh key in /etc/payoutengine/admin.key), and a payer whose
    schedule ``bonus`` has dues the daemon must pay while it runs."""
    key = PrivateKey.generate()
    h.chain.push(
        daemon_permission_actions(
            ADMIN_ACCOUNT, "payout", key.public_key, contract=CONTRACT_ACCOUNT
        )
    )
    _secret_file(h.etc / "admin.key", key)
    create_payer_account(h.chain, PAYER)
    if h.chain.profile.system:
        # as a payer on mainnet: RAM for its bookings and balance rows, a day of CPU and NET
        h.chain.buy_ram(PAYER, 256 * 1024)
        h.chain.provision(PAYER)
    h.chain.fund(PAYER, "10000.0000 TST")
    _schedule(h.chain, "bonus", "100.0000 TST")
    _accounts(h.chain, BONUS, open_tst=True)
    h.chain.action(
        CONTRACT_ACCOUNT,
        "book",
        {
            "schedule_name": "bonus",
            "records": [
                {"recipient": r, "new_total": f"{i}.0000 TST"} for i, r in enumerate(BONUS, 1)
            ],
        },
        f"{PAYER}@active",
    )

    def all_paid() -> bool:
        return all(b == p > 0 for b, p in h.recipients("bonus").values())

    h.wait_for = all_paid

    def paid() -> None:
        assert h.recipients("bonus") == {
            r: (i * 10_000, i * 10_000) for i, r in enumerate(BONUS, 1)
        }
        journal = h.var / "admin-journal.sqlite"
        with contextlib.closing(sqlite3.connect(journal)) as db:
            paid_to = {r for (r,) in db.execute("SELECT recipient FROM payments")}
        assert paid_to == set(BONUS)

    h.after.append(paid)


def setup_payer(h: Host) -> None:
    """The schedule ``rewards``, its deposit, recipients, the payer's key file, and a ledger
    with credits: the guide's sync commands book them."""
    _schedule(h.chain, "rewards", "100.0000 TST")
    _accounts(h.chain, RECIPIENTS, open_tst=False)
    _secret_file(h.etc / "payer.key", DEV_KEY)
    from payer_sync.ledger import init_db, make_engine

    engine = make_engine(f"sqlite:///{h.ledger}")
    init_db(engine)
    engine.dispose()
    for i, r in enumerate(RECIPIENTS, 1):
        h.add_credit(r, i * 12_345)
        h.add_credit(r, 7)

    def booked() -> None:
        assert h.booked("rewards") == h.credits()

    h.after.append(booked)


def setup_shortfall(h: Host) -> None:
    """Credits worth more than the free funds."""
    h.add_credit(RECIPIENTS[0], h.free_funds() + 1_000_000)

    def nothing_more_booked() -> None:
        assert h.booked("rewards")[RECIPIENTS[0]] < h.credits()[RECIPIENTS[0]]

    h.after.append(nothing_more_booked)


def setup_deposit(h: Host) -> None:
    """The fix of the shortfall: the payer deposited (the guide shows it with cleos)."""
    h.chain.transfer(PAYER, CONTRACT_ACCOUNT, "500.0000 TST", "deposit")
    h.after.append(lambda: _assert_equal(h.booked("rewards"), h.credits()))


_lost: list[tuple[int, str, int]] = []


def setup_lost_credit(h: Host) -> None:
    """A booked credit vanished from the database (say, an old backup was restored)."""
    with contextlib.closing(sqlite3.connect(h.ledger)) as db, db:
        row = db.execute(
            "SELECT id, recipient, amount FROM payer_credits WHERE recipient = ? "
            "ORDER BY id DESC LIMIT 1",
            (RECIPIENTS[1],),
        ).fetchone()
        db.execute("DELETE FROM payer_credits WHERE id = ?", (row[0],))
    _lost.append((int(row[0]), str(row[1]), int(row[2])))
    before = h.booked("rewards")
    h.after.append(lambda: _assert_equal(h.booked("rewards"), before))


def setup_restored_credit(h: Host) -> None:
    """The fix: the lost credit is put back."""
    _, recipient, amount = _lost.pop()
    h.add_credit(recipient, amount)
    h.after.append(lambda: _assert_equal(h.booked("rewards"), h.credits()))


def setup_endpoint_down(h: Host) -> None:
    """The only endpoint does not answer."""
    h.block_env["PAYOUTENGINE_CHAIN_ENDPOINTS"] = f"http://127.0.0.1:{h.dead_port()}"


def _assert_equal(a: Any, b: Any) -> None:
    assert a == b


SETUPS: dict[str, Callable[[Host], None]] = {
    "contract-account": setup_contract_account,
    "daemon": setup_daemon,
    "payer": setup_payer,
    "shortfall": setup_shortfall,
    "deposit": setup_deposit,
    "lost-credit": setup_lost_credit,
    "restored-credit": setup_restored_credit,
    "endpoint-down": setup_endpoint_down,
}


# -- running the guide ----------------------------------------------------------------------


@pytest.fixture
def host(guide_chain: ProfileChain, tmp_path: Path) -> Iterator[Host]:
    etc, var = tmp_path / "etc", tmp_path / "var"
    etc.mkdir()
    var.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYOUTENGINE_", "PAYER_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="160",
        API=guide_chain.url,
        CHAIN_ID=guide_chain.client.chain_id,
        DEPLOY_KEY=DEV_KEY.to_wif(),
        ADMIN_KEY=DEV_KEY.to_wif(),
        # the example configurations name public endpoints and EOS's chain id: point them here
        PAYOUTENGINE_CHAIN_ENDPOINTS=guide_chain.url,
        PAYOUTENGINE_CHAIN_CHAIN_ID=guide_chain.client.chain_id,
        PAYOUTENGINE_METRICS_PORT=str(_free_port()),
    )
    h = Host(guide_chain, etc, var, env)
    for example in ("admin.toml", "sync.toml"):
        (etc / example).write_text(h.localize((EXAMPLES / example).read_text()))
    try:
        yield h
    finally:
        for s in h.held:
            s.close()


def _run(h: Host, cmd: Command) -> tuple[int, str, str, bool, bool]:
    """Run one command in a shell; returns (status, stdout, stderr, was still running, reached
    its condition). A long-running command runs until its block's condition holds (or payer
    sync's metrics show a finished sync), then gets SIGTERM."""
    metrics_port = _free_port()
    text = h.localize(cmd.text).replace("--metrics-port 9109", f"--metrics-port {metrics_port}")
    ready = h.wait_for
    if ready is None and cmd.long_running:
        assert f"--metrics-port {metrics_port}" in text, f"no condition to wait for: {cmd.text}"
        ready = _metrics_show_a_sync(metrics_port)
    proc = subprocess.Popen(
        ["bash", "-c", text],
        cwd=h.var,
        env={**h.env, **h.block_env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    alive = reached = True
    try:
        if cmd.long_running:
            assert ready is not None
            deadline = time.monotonic() + 60
            while not (reached := ready()) and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            alive = proc.poll() is None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, err, alive, reached


def test_every_guide_command_exits_as_documented(host: Host) -> None:
    blocks = parse_guide(GUIDE.read_text())
    ran = 0
    for block in blocks:
        host.block_env.clear()
        host.after.clear()
        host.wait_for = None
        if block.setup:
            SETUPS[block.setup](host)
        for cmd in block.commands:
            code, out, err, alive, reached = _run(host, cmd)
            where = f"docs/operations.md:{block.line}: {cmd.text}"
            assert reached, f"{where}: its condition did not hold within 60 s\n{out}\n{err}"
            assert "Traceback" not in err, f"{where}\n{err}"
            assert code == cmd.exit_code, f"{where}: exit {code}\n{out}\n{err}"
            if cmd.long_running:
                assert alive, f"{where}: it stopped by itself\n{out}\n{err}"
            if cmd.must_say:
                assert cmd.must_say in out + err, f"{where}: no {cmd.must_say!r}\n{out}\n{err}"
            if code != 0 and not cmd.long_running:
                # an expected failure is one line naming the error, or the sync's problems table
                assert re.search(r"^\w+Error: ", err, re.M) or "problems" in out, f"{where}"
            ran += 1
        for check in host.after:
            check()
    assert ran == sum(len(b.commands) for b in blocks)


# -- every other payoutengine command in the docs at least parses ----------------------------


def _doc_commands() -> list[tuple[str, str]]:
    """``(where, command)`` for every ``payoutengine ...`` invocation in code blocks of the
    README and the guide, and in the files of docs/examples/."""
    found: list[tuple[str, str]] = []
    pattern = re.compile(r"(?:^|[\s/=$])payoutengine ((?:chain|deploy|admin|status|sync|demo)\b.*)")

    def scan(where: str, lines: list[str]) -> None:
        joined: list[str] = []
        for line in lines:
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1] + " " + line.strip()
            else:
                joined.append(line)
        for line in joined:
            if line.lstrip().startswith("#"):
                continue
            m = pattern.search(line)
            if m:
                cmd = re.split(r"\s+#|\s*[|;&>]", m.group(1))[0].strip()
                found.append((where, "payoutengine " + cmd))

    for doc in (README, GUIDE):
        in_code = False
        code: list[str] = []
        for line in doc.read_text().splitlines():
            if line.strip().startswith("```"):
                if in_code:
                    scan(doc.name, code)
                    code = []
                in_code = not in_code
            elif in_code:
                code.append(line.removeprefix("$ "))
    for example in sorted(EXAMPLES.iterdir()):
        lines = [ln for ln in example.read_text().splitlines() if "bin/payoutengine " in ln]
        scan(f"docs/examples/{example.name}", lines)
    return found


def test_every_documented_command_exists() -> None:
    commands = _doc_commands()
    names = {c.split()[1] for _, c in commands}
    assert {"chain", "deploy", "admin", "status", "sync", "demo"} <= names, names
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "METRICS_PORT": "9109",
        "API": "http://127.0.0.1:1",
    }
    for where, cmd in dict.fromkeys(commands):
        text = cmd.replace("%i", "rewards").replace(".venv/bin/", "")
        res = subprocess.run(
            ["bash", "-c", f"{text} --help"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, f"{where}: {cmd}\n{res.stdout}\n{res.stderr}"
        assert "Usage:" in res.stdout, f"{where}: {cmd}"
