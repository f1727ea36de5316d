"""Admin daemon drain benchmark on a local nodeos: ``scripts/bench drain``.

Books N recipients (default 10,000) across 3 schedules, runs ``payoutengine admin`` (a real
subprocess, as in production) until all are paid, and prints JSON lines
``{"metric", "value", "unit", "baseline", "ratio"}``:

1. ``first_round_s``: brand-new recipients — the daemon approves all N (code-hash checks,
   approveacc batches) and pays them; wall time from daemon start to the last payment.
2. ``drain_payments_per_s``: every total raised again, the daemon (already running) pays N
   dues; rate = payments ÷ the blocks that hold them (first to last, × 0.5 s), from the journal.
   ``baseline`` is the chain's capacity measured in the same run: block CPU budget per second
   (``max_block_cpu_usage`` / 0.5 s) ÷ the CPU billed per payment in that round's
   transactions; ``ratio`` = rate ÷ capacity (target ≥ 0.5).

Setting up accounts and bookings is not timed. ``--recipients N`` (or ``DRAIN_BENCH_N``)
changes N.

``--profile eos`` runs the same on a local chain with EOS's system contract, limits (block CPU
200 ms, transaction CPU 150 ms) and PowerUp market, with an admin account that starts with no
CPU or NET at all: the daemon powers it up by itself within ``[resources]
max_powerup_fee_per_day``. It adds:

- ``capacity_payments_per_s_at_block_cpu``: payments per second if every block's CPU
  (``max_block_cpu_usage`` per 0.5 s block) were spent on runpayouts at the CPU per payment
  measured in round 2; ``drain_payments_per_s`` is then reported against it (goal ≥ 0.8);
- ``largest_count_within_150ms``: the largest ``count`` whose runpayouts fits the 150 ms
  transaction limit at the billed CPU per payment of round 2's biggest transactions
  (``biggest_runpayouts_cpu_per_payment``; ``max_payments_per_transaction`` is the largest
  count the daemon sent, which the chain accepted);
- ``powerup_fee_spent``: what the daemon paid in PowerUp fees (core token units), and
  ``admin_started_with_cpu_us`` (0).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import emit  # noqa: E402
from payoutengine.amounts import format_amount  # noqa: E402
from payoutengine.contract import setadmin  # noqa: E402
from payoutengine.deploy import daemon_permission_actions  # noqa: E402
from payoutengine.keys import PrivateKey  # noqa: E402
from payoutengine.localchain import (  # noqa: E402
    CONTRACT_ACCOUNT,
    LocalChain,
    account_actions,
)
from payoutengine.resources import account_usage  # noqa: E402
from payoutengine.systemchain import ProfileChain  # noqa: E402
from payoutengine.transactions import Action  # noqa: E402
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM  # noqa: E402
from tests.daemon.conftest import (  # noqa: E402
    DAEMON_PERMISSION,
    daemon_env,
    payoutengine_cmd,
    setup_daemon_permission,
    write_config,
)

#: the EOS run's admin: created with mainnet's new-account RAM and no CPU/NET
EOS_ADMIN = "drainadmin"
#: the daemon's PowerUp budget in the EOS run
EOS_POWERUP_CAP = "100.0000 EOS"


def eos_admin(chain: ProfileChain) -> PrivateKey:
    """A new admin without CPU or NET, with core tokens for fees and the daemon's permission
    (linked to eosio::powerup too); the set-up transaction is billed to eosio, its first
    authorizer."""
    chain.create_account(EOS_ADMIN)
    chain.buy_ram(EOS_ADMIN, 16 * 1024)
    key = PrivateKey.generate()
    fund = Action(
        TOKEN,
        "transfer",
        ["eosio@active"],
        {"from": "eosio", "to": EOS_ADMIN, "quantity": "1000.0000 EOS", "memo": "fees"},
    )
    perm = daemon_permission_actions(
        EOS_ADMIN, DAEMON_PERMISSION, key.public_key, contract=CONTRACT_ACCOUNT, powerup=True
    )
    chain.push([fund, *perm])
    who = [f"{CONTRACT_ACCOUNT}@active", "pe.admin@active"]
    chain.push([setadmin(CONTRACT_ACCOUNT, EOS_ADMIN, authority=who)])
    chain.wait_blocks(2)
    return key


def biggest_cpu_per_payment(rows: list[tuple[int, int]]) -> float:
    """Billed CPU per payment (µs) of the transactions that paid the most (the node bills
    wall time, so small transactions carry relatively more overhead and a loaded machine
    more time): the worst of them, which a count must fit."""
    most = max((payments for payments, _ in rows), default=0)
    return max((cpu / payments for payments, cpu in rows if payments == most and most), default=0.0)


N = int(os.environ.get("DRAIN_BENCH_N", "10000"))
PROFILE = "dev"
SENDERS = int(os.environ.get("DRAIN_BENCH_SENDERS", "3"))
SCHEDULES = 3
BLOCK_INTERVAL_S = 0.5
TOKEN = "eosio.token"


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def name_of(i: int) -> str:
    letters = ""
    n = i
    for _ in range(7):
        n, r = divmod(n, 26)
        letters = chr(ord("a") + r) + letters
    return "dr" + letters


def push_parallel(chain: LocalChain, batches: list[list[Action]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(chain.push, batches))


def setup(chain: LocalChain) -> tuple[str, list[str], list[str]]:
    payer = "drainpayer"
    chain.create_account(payer)
    recipients = [name_of(i) for i in range(N)]
    if isinstance(chain, ProfileChain) and chain.profile.system:
        # mainnet's RAM per account, paid by eosio; the payer buys the RAM of N dues and gets
        # a large PowerUp (the booking is not what is measured)
        chain.buy_ram(payer, 1200 * N + 64 * 1024)
        chain.powerup(payer, cpu_frac=10**13, net_frac=10**13)
        chain.create_accounts(recipients, open_symbol="4,TST")
    else:
        batches = [
            account_actions(recipients[i : i + 50], open_symbol="4,TST") for i in range(0, N, 50)
        ]
        push_parallel(chain, batches)
    scheds = [f"drain{i + 1}" for i in range(SCHEDULES)]
    chain.transfer("eosio", payer, "1000000.0000 TST", "bench")
    for s in scheds:
        chain.action(
            CONTRACT_ACCOUNT,
            "newschedule",
            {
                "payer": payer,
                "schedule_name": s,
                "tkcontract": TOKEN,
                "currency": "0.0000 TST",
                "memo": f"bench {s}",
            },
            f"{payer}@active",
        )
    chain.transfer(payer, CONTRACT_ACCOUNT, "900000.0000 TST", "deposit")
    return payer, recipients, scheds


def book_round(
    chain: LocalChain, payer: str, recipients: list[str], scheds: list[str], units: int
) -> None:
    batches: list[list[Action]] = []
    for si, s in enumerate(scheds):
        mine = recipients[si::SCHEDULES]
        for i in range(0, len(mine), 200):
            records = [
                {"recipient": r, "new_total": f"{format_amount(units, 4)} TST"}
                for r in mine[i : i + 200]
            ]
            batches.append(
                [
                    Action(
                        CONTRACT_ACCOUNT,
                        "book",
                        [f"{payer}@active"],
                        {"schedule_name": s, "records": records},
                    )
                ]
            )
    push_parallel(chain, batches)


def active_empty(chain: LocalChain) -> bool:
    rows = chain.client.get_table_rows(CONTRACT_ACCOUNT, CONTRACT_ACCOUNT, "active", limit=1)
    return not rows["rows"]


def wait_drained(chain: LocalChain, daemon: subprocess.Popen[bytes], timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while not active_empty(chain):
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited with {daemon.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"not drained within {timeout_s:.0f} s")
        time.sleep(0.2)
    return time.monotonic()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def journal_round(db: Path, since_id: int) -> dict[str, Any]:
    con = sqlite3.connect(db)
    try:
        # The chain state shows the last payments as soon as the node executed them; wait for
        # the daemon to journal their outcome (no transaction left in "signed").
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and con.execute(
                "select count(*) from transactions where status = 'signed' and id > ?", (since_id,)
            ).fetchone()[0]
        ):
            time.sleep(0.1)
        time.sleep(0.5)
        rows = con.execute(
            "select id, sent_at, payments, cpu_usage_us, block_num from transactions "
            "where kind = 'runpayouts' and id > ? and payments > 0 order by id",
            (since_id,),
        ).fetchall()
        last_id = con.execute("select coalesce(max(id), 0) from transactions").fetchone()[0]
    finally:
        con.close()
    from datetime import datetime

    times = [datetime.fromisoformat(r[1]) for r in rows]
    blocks = [int(r[4]) for r in rows if r[4] is not None]
    return {
        "blocks": (max(blocks) - min(blocks) + 1) if blocks else 0,
        "transactions": len(rows),
        "payments": sum(r[2] for r in rows),
        "cpu_us": sum(r[3] or 0 for r in rows),
        "span_s": (max(times) - min(times)).total_seconds() if len(times) > 1 else 0.0,
        "last_id": int(last_id),
        "max_payments_per_tx": max((r[2] for r in rows), default=0),
        "per_tx": [(int(r[2]), int(r[3])) for r in rows if r[3]],
    }


def main() -> None:
    keep = os.environ.get("DRAIN_BENCH_DIR")  # keep node, journal and daemon log there
    with tempfile.TemporaryDirectory(prefix="drain-bench-") as tmp_s:
        tmp = Path(keep) if keep else Path(tmp_s)
        tmp.mkdir(parents=True, exist_ok=True)
        chain = ProfileChain(tmp / "node", profile=PROFILE)
        chain.start()
        daemon: subprocess.Popen[bytes] | None = None
        eos = chain.profile.resources == "powerup"
        try:
            chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
            key = eos_admin(chain) if eos else setup_daemon_permission(chain)
            admin = EOS_ADMIN if eos else "pe.admin"
            admin_cpu0 = account_usage(chain.client, admin).cpu_available_us
            log(f"setting up {N} recipients across {SCHEDULES} schedules")
            payer, recipients, scheds = setup(chain)
            book_round(chain, payer, recipients, scheds, 10_000)
            params = chain.client.call("/v1/chain/get_consensus_parameters", {})
            block_cpu_us = int(params["chain_config"]["max_block_cpu_usage"])

            journal = tmp / "journal.sqlite"
            cfg = write_config(
                tmp / "admin.toml",
                [chain.url],
                journal=journal,
                chain={"timeout_s": 10.0},
                payouts={
                    "interval_s": 0.2,
                    "start_count": 100,
                    "max_count": 1000,
                    "max_in_flight": 16,
                    "senders": SENDERS,
                    "idle_recheck_s": 5.0,
                },
                approvals={"interval_s": 1.0, "batch_size": 200, "recheck_interval_s": 3600.0},
                log={"json": True, "level": "INFO" if eos else "WARNING"},
                admin={"account": admin, "permission": DAEMON_PERMISSION},
                resources={
                    "max_powerup_fee_per_day": EOS_POWERUP_CAP,
                    "min_cpu_us": 300_000,
                    "powerup_cpu_us": 5_000_000,
                    "min_net_bytes": 50_000,
                    "powerup_net_bytes": 2_000_000,
                    "check_interval_s": 2.0,
                }
                if eos
                else {},
            )

            def start_daemon() -> subprocess.Popen[bytes]:
                with open(tmp / "daemon.log", "ab") as logf:
                    return subprocess.Popen(
                        payoutengine_cmd("admin", "--config", str(cfg)),
                        stdin=subprocess.DEVNULL,
                        stdout=logf,
                        stderr=subprocess.STDOUT,
                        env=daemon_env(key),
                        cwd=tmp,
                        start_new_session=True,
                    )

            log("round 1: new recipients (approve + pay)")
            t0 = time.monotonic()
            daemon = start_daemon()
            t1 = wait_drained(chain, daemon, 900)
            r1 = journal_round(journal, 0)
            emit("first_round_s", round(t1 - t0, 2), "s")
            emit("first_round_payments", r1["payments"], "payments")

            log("round 2: raised totals for the same recipients (pay only)")
            # Book the whole round with the daemon stopped, so the rate is not the booking's.
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=60)
            book_round(chain, payer, recipients, scheds, 25_000)
            daemon = start_daemon()
            node_pid = chain.pid
            assert node_pid is not None
            node_cpu0, t2 = cpu_seconds(node_pid), time.monotonic()
            wait_drained(chain, daemon, 900)
            t3 = time.monotonic()
            daemon_cpu = cpu_seconds(daemon.pid)  # the whole second run, start-up included
            node_cpu = cpu_seconds(node_pid) - node_cpu0
            r2 = journal_round(journal, r1["last_id"])
            per_payment = r2["cpu_us"] / r2["payments"]
            capacity = block_cpu_us / BLOCK_INTERVAL_S / per_payment
            # The chain's clock: the round took this many blocks of 0.5 s (first and last
            # block with one of its payments, both counted whole).
            rate = r2["payments"] / (r2["blocks"] * BLOCK_INTERVAL_S)
            emit("cpu_per_payment", round(per_payment, 1), "us")
            if eos:
                worst = biggest_cpu_per_payment(r2["per_tx"])
                tx_cpu_us = int(params["chain_config"]["max_transaction_cpu_usage"])
                emit("admin_started_with_cpu_us", float(admin_cpu0 or 0), "us")
                emit("capacity_payments_per_s_at_block_cpu", round(capacity, 1), "payments/s")
                emit("biggest_runpayouts_cpu_per_payment", round(worst, 1), "us")
                emit(
                    "largest_count_within_150ms",
                    int(tx_cpu_us // worst) if worst > 0 else 0,
                    "payments",
                )
                emit("powerup_fee_spent", float(powerup_spent(journal)), "units of 0.0001 EOS")
            else:
                emit("capacity_payments_per_s", round(capacity, 1), "payments/s")
            emit("drain_payments_per_s", round(rate, 1), "payments/s", round(capacity, 1))
            emit("drain_payments", r2["payments"], "payments", float(N))
            emit("drain_transactions", r2["transactions"], "transactions")
            emit("drain_blocks", r2["blocks"], "blocks")
            emit("drain_wall_s", round(r2["span_s"], 2), "s")
            emit("max_payments_per_transaction", r2["max_payments_per_tx"], "payments")
            emit("daemon_cpu_per_payment", round(daemon_cpu / r2["payments"] * 1e6, 1), "us")
            emit("node_cpu_share", round(node_cpu / (t3 - t2), 3), "cores")
        except BaseException:
            log_path = tmp / "daemon.log"
            if log_path.exists():
                tail = log_path.read_text(errors="replace").splitlines()[-30:]
                log("daemon log (last lines):\n" + "\n".join(tail))
            raise
        finally:
            if daemon is not None and daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(daemon.pid, signal.SIGKILL)
                    daemon.wait()
            chain.stop()


def powerup_spent(journal: Path) -> int:
    """PowerUp fees the daemon recorded in its journal's state (all days), smallest units."""
    import json

    con = sqlite3.connect(journal)
    try:
        rows = con.execute("select value from state where key like 'resources:%:powerup:%'")
        return sum(sum(json.loads(v).values()) for (v,) in rows.fetchall())
    finally:
        con.close()


def parse_args() -> None:
    import argparse

    global N, PROFILE
    parser = argparse.ArgumentParser(description="Drain benchmark of the admin daemon.")
    parser.add_argument("--profile", choices=["dev", "eos"], default="dev", help="local chain")
    parser.add_argument("--recipients", type=int, default=N, help="recipients (default 10000)")
    args = parser.parse_args()
    if args.recipients < 30:
        raise SystemExit("--recipients must be at least 30.")
    N, PROFILE = args.recipients, args.profile


if __name__ == "__main__":
    parse_args()
    main()
