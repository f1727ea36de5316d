"""The two shipped payer examples end to end on the real node: payer sync (``sync run``, the
real CLI process) and the admin daemon (``payoutengine admin``) run while the payer's own
system credits — a mining pool in Redis, a market settling in MariaDB. At the end every miner
and user holds on chain exactly what its system credited, converted exactly; what is below one
token unit is still owed and reported, unmapped miners and users without an account are
reported, and the market's audit report lists each booking."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from payoutengine.localchain import CONTRACT_ACCOUNT
from tests.sync.conftest import Payer
from tests.sync.pool import Pool, eth_login, redis_url

from .conftest import CLI, EXAMPLES, Proc, chain_env, start

#: docs/examples/pool-sync.toml: Shannon into a 4-decimal token
RATIO = 100_000


def recipients(payer: Payer) -> dict[str, tuple[int, int]]:
    """account -> (booked_total, paid_total) of the payer's schedule."""
    return {
        str(r["account"]): (int(r["booked_total"]), int(r["paid_total"]))
        for r in payer.chain.client.iter_table(CONTRACT_ACCOUNT, payer.schedule, "recipients")
    }


def token_balance(payer: Payer, account: str) -> int:
    a = payer.chain.client.get_balance("eosio.token", account, "TST")
    return 0 if a is None else a.amount


def wait_until(cond: Callable[[], bool], what: str, procs: list[Proc], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            assert p.proc.poll() is None, (
                f"{p.log.name} exited while waiting for {what}:\n{p.text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.log.name}\n{p.text()[-3000:]}" for p in procs)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.25)


def test_a_mining_pool_on_redis(
    payer: Payer,
    accounts: Callable[[int], list[str]],
    pool: Pool,
    key_file: Path,
    admin_daemon: Callable[[], Proc],
    tmp_path: Path,
) -> None:
    payer.deposit("1000.0000 TST")
    n1, n2, a1, a2, a3, a4 = accounts(6)
    mapped = {eth_login(i): acct for i, acct in enumerate([a1, a2, a3, a4, a4])}
    for login, account in mapped.items():
        pool.map(login, account)
    stray = eth_login(99)
    logins = [n1, n2, *mapped, stray]
    owner = {n1: n1, n2: n2, **mapped}

    env = chain_env(payer.chain, payer.name, payer.schedule, key_file)
    env.update(
        PAYOUTENGINE_SOURCE_URL=redis_url(),
        PAYOUTENGINE_REDIS_PREFIX=pool.prefix,
        PAYOUTENGINE_REDIS_ACCOUNTS_KEY=pool.accounts_key,
        PAYOUTENGINE_STATE_URL=f"sqlite:///{tmp_path / 'pool-state.sqlite'}",
        PAYOUTENGINE_RUN_INTERVAL_S="0.3",
    )
    cmd = [str(CLI), "sync", "-v", "-c", str(EXAMPLES / "pool-sync.toml"), "run"]
    sync = start(cmd, env=env, log=tmp_path / "sync-1.log")
    daemon = admin_daemon()
    procs = [sync, daemon]
    try:
        # the unlocker credits matured blocks while both run; one block matures out of order;
        # payer sync is killed halfway (SIGKILL) and started again later
        rng = random.Random(12)
        heights = [*range(5000, 5012), 4990]
        for k, height in enumerate(heights):
            rewards = {lg: rng.randint(1, 3 * RATIO) for lg in rng.sample(logins, 4)}
            pool.mature(height, rewards)
            time.sleep(0.25)
            if k == 5:
                wait_until(lambda s=sync: s.syncs() >= 2, "two syncs before the kill", procs)
                sync.kill()
                procs = [daemon]
            if k == 8:
                sync = start(cmd, env=env, log=tmp_path / "sync-2.log")
                procs = [sync, daemon]
        balances = pool.balances()
        expected: dict[str, int] = {}
        for login, units in balances.items():
            if login in owner:
                expected[owner[login]] = expected.get(owner[login], 0) + units
        want = {acct: units // RATIO for acct, units in expected.items()}
        assert all(want.values()), want  # every account is owed a whole unit by now

        def all_paid() -> bool:
            got = recipients(payer)
            return all(got.get(a) == (w, w) for a, w in want.items())

        wait_until(all_paid, "every miner's balance to be booked and paid", procs)
    finally:
        status = sync.stop()
    assert status == 0, sync.text()
    log = (tmp_path / "sync-1.log").read_text() + sync.text()
    assert "Traceback" not in log + daemon.text()
    assert "incremental sync: " in sync.text()  # the restarted one went on from its watermark
    # exact: what each miner holds is its pool balance in whole token units, never more
    assert {a: token_balance(payer, a) for a in want} == want
    assert {a: b for a, (b, _) in recipients(payer).items()} == want
    # the remainders are still owed (in the pool's balance) and reported; the stray is reported
    carried = sum(units % RATIO for units in expected.values())
    assert carried > 0
    assert f"rejected row: miner '{stray}'" in log
    assert "has no chain account" in log
    assert pool.balance(stray) > 0
    assert "owed below one token unit (carried to later syncs)" in log


def mysql(url: str, *args: str, stdin: str | None = None) -> str:
    u = make_url(url)
    cmd = [
        "mysql",
        "-h",
        u.host or "127.0.0.1",
        "-P",
        str(u.port or 3306),
        "-u",
        u.username or "root",
    ]
    res = subprocess.run(
        [*cmd, *args, u.database or ""], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_a_market_settling_on_mariadb(
    payer: Payer,
    accounts: Callable[[int], list[str]],
    mariadb_url: str,
    key_file: Path,
    admin_daemon: Callable[[], Proc],
    tmp_path: Path,
) -> None:
    payer.deposit("1000.0000 TST")
    users = accounts(4)
    mysql(mariadb_url, stdin=(EXAMPLES / "market-schema.sql").read_text())
    db = create_engine(mariadb_url)
    with db.begin() as conn:
        for i, acct in enumerate([*users, None]):
            conn.execute(
                text("INSERT INTO users (name, chain_account) VALUES (:n, :a)"),
                {"n": f"user {i}", "a": acct},
            )
    nobody = len(users) + 1  # the user id without a chain account

    env = chain_env(payer.chain, payer.name, payer.schedule, key_file)
    state_url = f"sqlite:///{tmp_path / 'market-state.sqlite'}"
    env.update(
        PAYOUTENGINE_SOURCE_URL=mariadb_url,
        PAYOUTENGINE_STATE_URL=state_url,
        PAYOUTENGINE_RUN_INTERVAL_S="0.3",
        PAYOUTENGINE_RUN_FULL_SCAN_EVERY_S="0.3",
    )
    cfg = str(EXAMPLES / "market-sync.toml")
    cmd = [str(CLI), "sync", "-v", "-c", cfg, "run"]
    sync = start(cmd, env=env, log=tmp_path / "sync-1.log")
    daemon = admin_daemon()
    procs = [sync, daemon]
    rng = random.Random(3)
    try:
        for m in range(1, 5):
            with db.begin() as conn:
                conn.execute(text("INSERT INTO markets (question) VALUES (:q)"), {"q": f"q{m}"})
                for _ in range(6):
                    conn.execute(
                        text(
                            "INSERT INTO trades (user_id, market_id, outcome, shares) "
                            "VALUES (:u, :m, :o, :s)"
                        ),
                        {
                            "u": rng.randint(1, nobody),
                            "m": m,
                            "o": rng.choice(["YES", "NO"]),
                            "s": Decimal(rng.randint(1, 50_000)) / 10_000,
                        },
                    )
                conn.execute(
                    text("UPDATE markets SET winning_outcome = 'YES', closed = 1 WHERE id = :m"),
                    {"m": m},
                )
            # the API trigger and the scheduler settle the same market at once: the market's
            # row lock lets one of them do it, the other finds it settled
            settlers = [threading.Thread(target=_settle, args=(db, m)) for _ in range(2)]
            for t in settlers:
                t.start()
            for t in settlers:
                t.join()
            time.sleep(0.3)
            if m == 2:  # payer sync dies; markets 3 and 4 settle while it is down (missed runs)
                wait_until(lambda s=sync: s.syncs() >= 2, "two syncs before the kill", procs)
                sync.kill()
                procs = [daemon]
        sync = start(cmd, env=env, log=tmp_path / "sync-2.log")
        procs = [sync, daemon]
        with db.connect() as conn:
            won = {
                int(u): Decimal(t)
                for u, t in conn.execute(
                    text("SELECT user_id, SUM(payout) FROM trades WHERE status = 'WON' GROUP BY 1")
                )
            }
            wallet = {
                int(u): Decimal(b)
                for u, b in conn.execute(text("SELECT user_id, balance FROM wallets"))
            }
            pending = conn.execute(text("SELECT COUNT(*) FROM trades WHERE status = 'PENDING'"))
            assert pending.scalar_one() == 0
        assert won == {u: b for u, b in wallet.items() if b}  # settled once, not twice
        want = {users[u - 1]: int(t * 10_000) for u, t in won.items() if u != nobody}

        def all_paid() -> bool:
            got = recipients(payer)
            return all(got.get(a) == (w, w) for a, w in want.items())

        wait_until(all_paid, "every user's winnings to be booked and paid", procs)
    finally:
        status = sync.stop()
        db.dispose()
    assert status == 0, sync.text()
    log = (tmp_path / "sync-1.log").read_text() + sync.text()
    assert "Traceback" not in log + daemon.text()
    assert {a: token_balance(payer, a) for a in want} == want
    assert {a: b for a, (b, _) in recipients(payer).items()} == want
    if nobody in won:
        assert f"invalid name: user#{nobody}: not a valid account name" in log

    # the audit view: per user, booked total before and after each booking, with its tx id
    report = subprocess.run(
        [str(CLI), "sync", "-c", cfg, "report", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    lines = json.loads(report.stdout)
    seen: dict[str, int] = {}
    for line in lines:
        assert line["before_units"] == seen.get(line["recipient"], 0)  # continuous history
        assert line["after_units"] > line["before_units"]
        assert len(line["tx_id"]) == 64 and line["status"] == "irreversible"
        seen[line["recipient"]] = line["after_units"]
    assert seen == want
    as_csv = subprocess.run(
        [str(CLI), "sync", "-c", cfg, "report", "--csv", "--recipient", users[0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["tx_id"] for r in rows] == [x["tx_id"] for x in lines if x["recipient"] == users[0]]
    table = subprocess.run(
        [str(CLI), "sync", "-c", cfg, "report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert table.returncode == 0 and lines[0]["tx_id"][:16] in table.stdout.replace("\n", "")


def _settle(db, market: int) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        conn.execute(text("CALL settle_market(:m)"), {"m": market})
