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

Setting up accounts and bookings is not timed. ``DRAIN_BENCH_N`` changes N.
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
from payoutengine.localchain import (  # noqa: E402
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    LocalChain,
    account_actions,
)
from payoutengine.transactions import Action  # noqa: E402
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM  # noqa: E402
from tests.daemon.conftest import (  # noqa: E402
    daemon_env,
    payoutengine_cmd,
    setup_daemon_permission,
    write_config,
)

N = int(os.environ.get("DRAIN_BENCH_N", "10000"))
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
    }


def main() -> None:
    keep = os.environ.get("DRAIN_BENCH_DIR")  # keep node, journal and daemon log there
    with tempfile.TemporaryDirectory(prefix="drain-bench-") as tmp_s:
        tmp = Path(keep) if keep else Path(tmp_s)
        tmp.mkdir(parents=True, exist_ok=True)
        chain = LocalChain(tmp / "node")
        chain.start()
        daemon: subprocess.Popen[bytes] | None = None
        try:
            chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
            key = setup_daemon_permission(chain)
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
                log={"json": True, "level": "WARNING"},
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
        _ = ADMIN_ACCOUNT


if __name__ == "__main__":
    main()
