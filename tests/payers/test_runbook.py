"""The cut-over runbooks of docs/operations.md ("Moving a mining pool onto the engine",
"Moving a market's settlement payouts onto the engine") cannot rot: every ``$`` command of
their ``shell`` blocks runs, in order, against a pool left as a crashed payouts module leaves
it (a debit in ``payments:pending``, the lock held) and against a market with settled trades,
with /etc/payoutengine and /var/lib/payoutengine moved into a temporary directory, the pool's
``eth`` prefix and the ``market`` database replaced by the test's own. A trailing
``# exit N[: word]`` is the documented exit status (and a word the output must contain);
``# runs until stopped`` runs the command until its metrics show a finished sync."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from payoutengine.localchain import DEV_KEY, LocalChain
from tests.conftest import REPO_ROOT
from tests.sync.conftest import Payer
from tests.sync.pool import Pool, redis_url

from .conftest import EXAMPLES, chain_env
from .test_examples import RATIO, mysql

GUIDE = REPO_ROOT / "docs" / "operations.md"
VENV_BIN = REPO_ROOT / ".venv" / "bin"
LOGIN = "0x5a0b54d5dc17e0aadc383d2db43b0a0d3e029c4c"
MINER = "minerone"


@dataclass
class Cmd:
    text: str
    exit_code: int = 0
    must_say: str | None = None
    long_running: bool = False


def section_commands(title: str) -> list[Cmd]:
    doc = GUIDE.read_text()
    start = doc.index(f"\n## {title}\n")
    end = doc.find("\n## ", start + 1)
    body = doc[start:end]
    cmds = []
    for block in re.findall(r"```shell\n(.*?)```", body, re.S):
        for line in block.splitlines():
            line = line.strip()
            if not line.startswith("$ "):
                continue
            code, _, comment = line[2:].partition(" # ")
            c = Cmd(code.strip())
            m = re.search(r"\bexit (\d+)(?::\s*(\w+))?", comment)
            if m:
                c.exit_code, c.must_say = int(m.group(1)), m.group(2)
            c.long_running = "runs until stopped" in comment
            cmds.append(c)
    return cmds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _synced(port: int) -> bool:
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return False
    m = re.search(r"^payer_sync_last_sync_timestamp (\S+)$", body, re.M)
    return m is not None and float(m.group(1)) > 0


def run_all(
    cmds: list[Cmd], localize: Callable[[str], str], env: dict[str, str], cwd: Path
) -> None:
    env = {**env, "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"}
    for cmd in cmds:
        port = _free_port()
        line = localize(cmd.text).replace("--metrics-port 9109", f"--metrics-port {port}")
        proc = subprocess.Popen(
            ["bash", "-c", line],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            if cmd.long_running:
                deadline = time.monotonic() + 60
                while not _synced(port):
                    assert proc.poll() is None, f"{cmd.text}: stopped by itself"
                    assert time.monotonic() < deadline, f"{cmd.text}: no sync within 60 s"
                    time.sleep(0.25)
                os.killpg(proc.pid, signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        where = f"docs/operations.md: {cmd.text}"
        assert "Traceback" not in err, f"{where}\n{err}"
        assert proc.returncode == cmd.exit_code, f"{where}: exit {proc.returncode}\n{out}\n{err}"
        if cmd.must_say:
            assert cmd.must_say in out + err, f"{where}: no {cmd.must_say!r}\n{out}\n{err}"


def _host(tmp_path: Path, example: str, localize: Callable[[str], str]) -> tuple[Path, Path]:
    etc, var = tmp_path / "etc", tmp_path / "var"
    etc.mkdir()
    var.mkdir()
    (etc / example).write_text(localize((EXAMPLES / example).read_text()))
    return etc, var


def _paths(etc: Path, var: Path) -> Callable[[str], str]:
    def localize(t: str) -> str:
        return t.replace("/etc/payoutengine/", f"{etc}/").replace(
            "/var/lib/payoutengine/", f"{var}/"
        )

    return localize


def test_the_pool_cutover_runbook(
    payer: Payer, local_chain: LocalChain, pool: Pool, tmp_path: Path
) -> None:
    cmds = section_commands("Moving a mining pool onto the engine")
    assert [c.text.split()[0] for c in cmds].count("redis-cli") == 6
    assert sum(c.text.startswith("payoutengine ") for c in cmds) == 3
    payer.deposit("100.0000 TST")
    if local_chain.client.get_account(MINER) is None:
        local_chain.create_accounts([MINER])
    # the pool before the cut-over: credits, then a payout that debited the miner and crashed
    pool.mature(900, {LOGIN: 40_000_000 + 123})
    pool.mature(901, {LOGIN: 3_000_000})
    debit = 25_000_000
    c = pool.client
    c.hincrby(pool.key("miners", LOGIN), "balance", -debit)
    c.hincrby(pool.key("miners", LOGIN), "pending", debit)
    c.zadd(pool.key("payments", "pending"), {f"{LOGIN}:{debit}": int(time.time())})
    c.set(pool.key("payments", "lock"), f"{LOGIN}:{debit}", nx=True)
    before = dict(payer.chain.client.iter_table("payoutengine", payer.schedule, "recipients"))

    etc = tmp_path / "etc"
    paths = _paths(etc, tmp_path / "var")

    def localize(t: str) -> str:
        t = paths(t).replace("eth:", f"{pool.prefix}:")
        return t.replace("redis-cli ", f"redis-cli -u {redis_url()} ")

    etc, var = _host(tmp_path, "pool-sync.toml", localize)
    key = etc / "pool.key"
    key.write_text(DEV_KEY.to_wif() + "\n")
    key.chmod(0o600)
    env = chain_env(payer.chain, payer.name, payer.schedule, key)
    env.update(PAYOUTENGINE_SOURCE_URL=redis_url(), PAYOUTENGINE_REDIS_PREFIX=pool.prefix)
    run_all(cmds, localize, env, var)

    assert not before
    assert c.zcard(pool.key("payments", "pending")) == 0
    assert pool.balance(LOGIN) == 43_000_123  # the debit that never went out is owed again
    assert c.get(pool.key("payments", "lock")) == b"payoutengine-cutover"
    # a payouts module started by mistake cannot take the lock
    assert c.set(pool.key("payments", "lock"), "x", nx=True) is None
    assert payer.booked() == {MINER: 43_000_123 // RATIO}


def test_the_market_cutover_runbook(
    payer: Payer, accounts: Callable[[int], list[str]], mariadb_url: str, tmp_path: Path
) -> None:
    cmds = section_commands("Moving a market's settlement payouts onto the engine")
    assert [c.text.split()[0] for c in cmds] == ["mysql"] + ["payoutengine"] * 6
    payer.deposit("100.0000 TST")
    alice, bob = accounts(2)
    mysql(mariadb_url, stdin=(EXAMPLES / "market-schema.sql").read_text())
    db = create_engine(mariadb_url)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, chain_account) VALUES ('a', :a), ('b', :b), ('c', NULL)"
            ),
            {"a": alice, "b": bob},
        )
        conn.execute(text("INSERT INTO markets (question, winning_outcome) VALUES ('q', 'YES')"))
        conn.execute(
            text(
                "INSERT INTO trades (user_id, market_id, outcome, shares) VALUES "
                "(1, 1, 'YES', 2.5), (1, 1, 'YES', 0.0001), (2, 1, 'NO', 3), (2, 1, 'YES', 1.25),"
                " (3, 1, 'YES', 7)"
            )
        )
        conn.execute(text("CALL settle_market(1)"))
    db.dispose()
    dbname = make_url(mariadb_url).database
    paths = _paths(tmp_path / "etc", tmp_path / "var")

    def localize(t: str) -> str:
        t = paths(t)
        u = make_url(mariadb_url)
        return t.replace(
            "mysql -h 127.0.0.1 -u root market",
            f"mysql -h {u.host} -P {u.port or 3306} -u {u.username} {dbname}",
        )

    etc, var = _host(tmp_path, "market-sync.toml", localize)
    key = etc / "market.key"
    key.write_text(DEV_KEY.to_wif() + "\n")
    key.chmod(0o600)
    env = chain_env(payer.chain, payer.name, payer.schedule, key)
    env.update(PAYOUTENGINE_SOURCE_URL=mariadb_url)
    run_all(cmds, localize, env, var)

    assert payer.booked() == {alice: 25_001, bob: 12_500}
    audit = (var / "bookings.csv").read_text().splitlines()
    assert audit[0].startswith("time,recipient,before_units,after_units")
    assert sorted(line.split(",")[1] for line in audit[1:]) == sorted([alice, bob])
