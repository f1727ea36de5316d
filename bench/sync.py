"""Payer sync benchmarks on a local nodeos (``scripts/bench sync``).

1. first sync of N recipients (default 100,000; target ≤ 60 s): N new accounts, one credit
   each in a SQLite ledger, every one booked (with its eosio.token ``open``);
2. incremental sync of 100 changed recipients among N (target ≤ 2 s).

Prints JSON lines ``{"metric", "value", "unit", "baseline", "ratio"}`` (baseline = target,
ratio = value / baseline), plus RPC calls/bytes and the CPU billed per booking transaction.
Setting up N accounts is not timed. ``PAYER_SYNC_BENCH_N`` changes N.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy.orm import Session  # noqa: E402

from bench.report import emit  # noqa: E402
from payer_sync.config import (  # noqa: E402
    BatchConfig,
    ChainConfig,
    PayerConfig,
    SourceConfig,
    StateConfig,
    SyncConfig,
)
from payer_sync.engine import Syncer  # noqa: E402
from payer_sync.ledger import add_credits, init_db, make_engine  # noqa: E402
from payoutengine.client import ChainClient  # noqa: E402
from payoutengine.errors import TransactionError  # noqa: E402
from payoutengine.localchain import (  # noqa: E402
    CONTRACT_ACCOUNT,
    DEV_KEY,
    LocalChain,
    account_actions,
)

WASM = REPO / "build" / "contract" / "payoutengine.wasm"
ABI = REPO / "contract" / "payoutengine.abi"
KEY_ENV = "PAYER_SYNC_BENCH_KEY"
CHANGED = 100


def name_of(i: int) -> str:
    """Distinct valid account names: 'bn' + base-31 digits of i."""
    digits = "12345abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        i, r = divmod(i, len(digits))
        out = digits[r] + out
        if i == 0:
            break
    return "bn" + out


def create_accounts(url: str, names: list[str], *, per_tx: int = 50, threads: int = 4) -> None:
    def push(client: ChainClient, part: list[str]) -> None:
        actions = account_actions(part)
        for _ in range(20):
            try:
                client.push(actions, [DEV_KEY], expiration_s=300)
                return
            except TransactionError as exc:
                if exc.duplicate:
                    return
                if not exc.cpu_exceeded:
                    raise
                if len(part) > 1:
                    half = len(part) // 2
                    push(client, part[:half])
                    push(client, part[half:])
                    return
                time.sleep(0.5)
        raise RuntimeError("could not create accounts")

    chunks = [names[i : i + per_tx] for i in range(0, len(names), per_tx)]

    def work(k: int) -> None:
        with ChainClient([url], timeout=60) as client:
            for part in chunks[k::threads]:
                push(client, part)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    n = int(os.environ.get("PAYER_SYNC_BENCH_N", "100000"))
    os.environ[KEY_ENV] = DEV_KEY.to_wif()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        chain = LocalChain(Path(tmp) / "chain")
        chain.start()
        try:
            chain.bootstrap(WASM, ABI)
            payer, schedule = "bench.payer", "bench.sched"
            chain.create_account(payer)
            chain.fund(payer, "10000000.0000 TST")
            chain.action(
                CONTRACT_ACCOUNT,
                "newschedule",
                {
                    "payer": payer,
                    "schedule_name": schedule,
                    "tkcontract": "eosio.token",
                    "currency": "0.0000 TST",
                    "memo": "bench",
                },
                f"{payer}@active",
            )
            chain.transfer(payer, CONTRACT_ACCOUNT, "5000000.0000 TST", "deposit")

            t = time.monotonic()
            names = [name_of(i) for i in range(n)]
            create_accounts(chain.url, names)
            print(f"# set-up: {n} accounts in {time.monotonic() - t:.1f} s", file=sys.stderr)

            ledger_url = f"sqlite:///{tmp}/ledger.sqlite"
            engine = make_engine(ledger_url)
            init_db(engine)
            rng = random.Random(7)
            with Session(engine) as s, s.begin():
                add_credits(s, [(nm, rng.randint(1, 100_000)) for nm in names])
            cfg = SyncConfig(
                chain=ChainConfig(endpoints=(chain.url,), timeout_s=60),
                payer=PayerConfig(account=payer, schedule=schedule, key_env=KEY_ENV),
                source=SourceConfig(url=ledger_url),
                state=StateConfig(url=f"sqlite:///{tmp}/state.sqlite"),
                batch=BatchConfig(confirm_timeout_s=60),
            )
            syncer = Syncer.from_config(cfg)

            cpu: list[int] = []
            client = syncer.chain.client
            orig_send = client.send

            def send(signed, **kw):  # type: ignore[no-untyped-def]
                result = orig_send(signed, **kw)
                receipt = (result.get("processed") or {}).get("receipt") or {}
                cpu.append(int(receipt.get("cpu_usage_us", 0)))
                return result

            client.send = send  # type: ignore[method-assign]
            t = time.monotonic()
            report = syncer.sync(full=True)
            first = time.monotonic() - t
            if not report.ok or len(report.booked) != n:
                print(f"# first sync not clean: {report.problems()[:5]}", file=sys.stderr)
                return 1
            emit(f"first_sync_{n}_recipients", first, "s", 60.0)
            emit("first_sync_rpc_calls", report.rpc_calls, "calls")
            emit("first_sync_rpc_bytes", report.rpc_bytes, "bytes")
            emit("first_sync_transactions", report.transactions, "transactions")
            emit("booking_tx_cpu_max", max(cpu), "us", 30_000.0)
            emit("booking_tx_cpu_mean", sum(cpu) / len(cpu), "us")
            emit("booking_cpu_per_new_recipient", sum(cpu) / n, "us")

            changed = rng.sample(names, CHANGED)
            with Session(engine) as s, s.begin():
                add_credits(s, [(nm, 1) for nm in changed])
            cpu.clear()
            t = time.monotonic()
            report = syncer.sync(full=False)
            incr = time.monotonic() - t
            if not report.ok or len(report.booked) != CHANGED:
                print(f"# incremental sync not clean: {report.problems()[:5]}", file=sys.stderr)
                return 1
            emit(f"incremental_sync_{CHANGED}_of_{n}", incr, "s", 2.0)
            emit("incremental_sync_rpc_calls", report.rpc_calls, "calls")
            emit("incremental_sync_rpc_bytes", report.rpc_bytes, "bytes")

            t = time.monotonic()
            report = syncer.sync(full=True)
            emit(f"full_rescan_{n}_nothing_to_book", time.monotonic() - t, "s")
            emit("full_rescan_rpc_calls", report.rpc_calls, "calls")
            if report.booked or not report.ok:
                print("# the rescan found something to book", file=sys.stderr)
                return 1
        finally:
            chain.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
