"""Payer sync benchmarks on a local nodeos (``scripts/bench sync [--source ...]``).

For each source (``--source sqlite,postgresql,mariadb,redis``; default ``sqlite``), on one chain
whose N accounts are shared, with a schedule of its own:

1. first sync of N recipients (default 100,000; target ≤ 60 s, ≤ 30 s for redis): one credit
   each, every one booked (with its eosio.token ``open``). SQL sources are payer sync's ledger
   on SQLite, PostgreSQL (``PAYOUTENGINE_TEST_PG``) or MariaDB (``PAYOUTENGINE_TEST_MARIADB``);
   redis is a mining pool in open-ethereum-pool's layout (``PAYOUTENGINE_TEST_REDIS``): N
   miners with 0x logins mapped to the accounts by a hash, balances in Shannon converted at
   100,000 per token unit, remainders carried;
2. incremental sync of 100 changed recipients among N (target ≤ 2 s, ≤ 1 s for redis; the pool
   credits them in one matured block), three times, the median; ``..._finality_wait`` is the
   part spent waiting for the booking's block to become irreversible (the chain's: one block
   after the booking's own, 0.5–1.0 s on this one-producer chain), ``..._without_finality_wait``
   the rest;
3. a full rescan with nothing to book.

Prints JSON lines ``{"metric", "value", "unit", "baseline", "ratio"}`` (baseline = target,
ratio = value / baseline), plus RPC calls/bytes and the CPU billed per booking transaction; the
metrics of a source other than sqlite are prefixed with its name. Setting up N accounts and
filling the sources is not timed. ``PAYER_SYNC_BENCH_N`` changes N.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.report import emit  # noqa: E402
from payer_sync.config import (  # noqa: E402
    BatchConfig,
    ChainConfig,
    PayerConfig,
    RedisConfig,
    SourceConfig,
    StateConfig,
    SyncConfig,
)
from payer_sync.engine import WATERMARK_KEY, Syncer  # noqa: E402
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
SOURCES = ("sqlite", "postgresql", "mariadb", "redis")
#: Shannon per 0.0001 token
RATIO = 100_000
PG = os.environ.get("PAYOUTENGINE_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MARIADB = os.environ.get("PAYOUTENGINE_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
REDIS = os.environ.get("PAYOUTENGINE_TEST_REDIS", "redis://127.0.0.1:6379/0")


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


@contextmanager
def sql_url(source: str, tmp: str) -> Iterator[str]:
    """A fresh ledger database of ``source``, dropped afterwards."""
    if source == "sqlite":
        yield f"sqlite:///{tmp}/ledger.sqlite"
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if source == "postgresql":
        admin = create_engine(PG)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        sep = "&" if "?" in PG else "?"
        url = f"{PG}{sep}options=-csearch_path%3D{name}"
        drop = f'DROP SCHEMA "{name}" CASCADE'
    else:
        admin = create_engine(MARIADB)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}`"))
        url = f"{MARIADB.rstrip('/')}/{name}"
        drop = f"DROP DATABASE `{name}`"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(drop))
        admin.dispose()


def login_of(name: str) -> str:
    return "0x" + hashlib.sha1(name.encode()).hexdigest()


class Pool:
    """A pool's Redis as open-ethereum-pool's unlocker writes it (tests/sync/pool.py)."""

    def __init__(self) -> None:
        self.client = redis.Redis.from_url(REDIS)
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.accounts_key = f"{self.prefix}:payoutengine:accounts"

    def fill(self, balances: dict[str, int]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for i, (name, units) in enumerate(balances.items(), 1):
            pipe.hset(f"{self.prefix}:miners:{login_of(name)}", "balance", units)
            pipe.hset(self.accounts_key, login_of(name), name)
            if i % 5000 == 0:
                pipe.execute()
        pipe.execute()

    def mature(self, height: int, rewards: dict[str, int]) -> None:
        block = f"0x{uuid.uuid4().hex}"
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(f"{self.prefix}:credits:all", {f"{block}:0:{sum(rewards.values())}": height})
        for name, units in rewards.items():
            pipe.hincrby(f"{self.prefix}:miners:{login_of(name)}", "balance", units)
            pipe.hsetnx(f"{self.prefix}:credits:{height}:{block}", login_of(name), units)
        pipe.execute()

    def drop(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=5000))
        for i in range(0, len(keys), 5000):
            self.client.delete(*keys[i : i + 5000])
        self.client.close()


def new_schedule(chain: LocalChain, payer: str, schedule: str) -> None:
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
    chain.transfer(payer, CONTRACT_ACCOUNT, "2000000.0000 TST", f"deposit {schedule}")


def measure(
    source: str,
    cfg: SyncConfig,
    names: list[str],
    credit_changed: Callable[[list[str], int], None],
    rng: random.Random,
) -> bool:
    """Runs the three syncs of one source and prints their metrics; False when one is not
    clean."""
    n = len(names)
    redis_source = source == "redis"
    tag = "" if source == "sqlite" else f"{source}_"
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
    precision = syncer.chain.schedule.symbol.precision
    t = time.monotonic()
    scan = syncer.source.scan(precision)
    emit(f"{tag}source_full_read_{n}", time.monotonic() - t, "s")
    if len(scan.totals) != n:
        print(f"# {source}: the source read {len(scan.totals)} of {n}", file=sys.stderr)
        return False
    t = time.monotonic()
    report = syncer.sync(full=True)
    first = time.monotonic() - t
    if not report.ok or len(report.booked) != n:
        print(f"# {source}: first sync not clean: {report.problems()[:5]}", file=sys.stderr)
        return False
    emit(f"{tag}first_sync_{n}_recipients", first, "s", 30.0 if redis_source else 60.0)
    emit(f"{tag}first_sync_rpc_calls", report.rpc_calls, "calls")
    emit(f"{tag}first_sync_rpc_bytes", report.rpc_bytes, "bytes")
    emit(f"{tag}first_sync_transactions", report.transactions, "transactions")
    emit(f"{tag}booking_tx_cpu_max", max(cpu), "us", 30_000.0)
    emit(f"{tag}booking_tx_cpu_mean", sum(cpu) / len(cpu), "us")
    emit(f"{tag}booking_cpu_per_new_recipient", sum(cpu) / n, "us")
    if redis_source:
        emit("redis_first_sync_carried_recipients", len(report.carried), "recipients")

    # three incremental syncs of CHANGED credited recipients each (median); of each, the wait
    # for the booking's block to become irreversible ([batch] confirm = "lib") is timed apart:
    # on this one-producer chain of 0.5 s blocks it is 0.5–1.0 s whatever the engine does
    waited = [0.0]
    follow = syncer.tracker.follow

    def timed_follow(*a, **kw):  # type: ignore[no-untyped-def]
        t = time.monotonic()
        try:
            return follow(*a, **kw)
        finally:
            waited[0] += time.monotonic() - t

    syncer.tracker.follow = timed_follow  # type: ignore[method-assign]
    runs: list[tuple[float, float, int, int, float]] = []
    for height in range(2, 5):
        changed = rng.sample(names, CHANGED)
        credit_changed(changed, height)
        t = time.monotonic()
        names_changed, _ = syncer.source.changed_since(syncer.value(WATERMARK_KEY))
        syncer.source.scan(precision, recipients=names_changed)
        read_s = time.monotonic() - t
        if names_changed != set(changed):
            print(f"# {source}: {len(names_changed)} changed, not {CHANGED}", file=sys.stderr)
            return False
        waited[0] = 0.0
        t = time.monotonic()
        report = syncer.sync(full=False)
        incr = time.monotonic() - t
        if not report.ok or len(report.booked) != CHANGED or report.compared != CHANGED:
            print(
                f"# {source}: incremental sync not clean: {report.problems()[:5]}", file=sys.stderr
            )
            return False
        runs.append((incr, waited[0], report.rpc_calls, report.rpc_bytes, read_s))
    incr, wait, calls, size, read_s = sorted(runs)[1]
    emit(f"{tag}source_incremental_read_{CHANGED}_of_{n}", read_s, "s")
    goal = 1.0 if redis_source else 2.0
    emit(f"{tag}incremental_sync_{CHANGED}_of_{n}", incr, "s", goal)
    emit(f"{tag}incremental_sync_{CHANGED}_of_{n}_finality_wait", wait, "s")
    emit(f"{tag}incremental_sync_{CHANGED}_of_{n}_without_finality_wait", incr - wait, "s", goal)
    emit(f"{tag}incremental_sync_rpc_calls", calls, "calls")
    emit(f"{tag}incremental_sync_rpc_bytes", size, "bytes")

    t = time.monotonic()
    report = syncer.sync(full=True)
    emit(f"{tag}full_rescan_{n}_nothing_to_book", time.monotonic() - t, "s")
    emit(f"{tag}full_rescan_rpc_calls", report.rpc_calls, "calls")
    if report.booked or not report.ok:
        print(f"# {source}: the rescan found something to book", file=sys.stderr)
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench sync")
    parser.add_argument(
        "--source",
        default="sqlite",
        help=f"comma-separated payer sources to measure, of {', '.join(SOURCES)}",
    )
    args = parser.parse_args()
    sources = [s.strip() for s in args.source.split(",") if s.strip()]
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        parser.error(f"unknown source {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    logging.basicConfig(level=logging.WARNING)
    n = int(os.environ.get("PAYER_SYNC_BENCH_N", "100000"))
    os.environ[KEY_ENV] = DEV_KEY.to_wif()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        chain = LocalChain(Path(tmp) / "chain")
        chain.start()
        try:
            chain.bootstrap(WASM, ABI)
            payer = "bench.payer"
            chain.create_account(payer)
            chain.fund(payer, "10000000.0000 TST")

            t = time.monotonic()
            names = [name_of(i) for i in range(n)]
            create_accounts(chain.url, names)
            print(f"# set-up: {n} accounts in {time.monotonic() - t:.1f} s", file=sys.stderr)

            for k, source in enumerate(sources):
                schedule = f"bench.s{k + 1}"
                new_schedule(chain, payer, schedule)
                rng = random.Random(7)
                cfg = SyncConfig(
                    chain=ChainConfig(endpoints=(chain.url,), timeout_s=60),
                    payer=PayerConfig(account=payer, schedule=schedule, key_env=KEY_ENV),
                    state=StateConfig(url=f"sqlite:///{tmp}/state-{source}.sqlite"),
                    batch=BatchConfig(confirm_timeout_s=60),
                )
                if source == "redis":
                    pool = Pool()
                    try:
                        pool.fill({nm: rng.randint(RATIO, 100_000 * RATIO) for nm in names})
                        pool.mature(1, {})
                        cfg = dataclasses.replace(
                            cfg,
                            source=SourceConfig(kind="redis", url=REDIS),
                            redis=RedisConfig(
                                prefix=pool.prefix,
                                units_per_token_unit=RATIO,
                                accounts_key=pool.accounts_key,
                            ),
                        )
                        ok = measure(
                            source,
                            cfg,
                            names,
                            lambda changed, height, pool=pool: pool.mature(  # type: ignore[misc]
                                height, {nm: RATIO for nm in changed}
                            ),
                            rng,
                        )
                    finally:
                        pool.drop()
                else:
                    with sql_url(source, tmp) as url:
                        engine = make_engine(url)
                        init_db(engine)
                        with Session(engine) as s, s.begin():
                            add_credits(s, [(nm, rng.randint(1, 100_000)) for nm in names])

                        def credit(changed: list[str], _height: int, engine=engine) -> None:  # type: ignore[no-untyped-def]
                            with Session(engine) as s, s.begin():
                                add_credits(s, [(nm, 1) for nm in changed])

                        cfg = dataclasses.replace(cfg, source=SourceConfig(url=url))
                        ok = measure(source, cfg, names, credit, rng)
                        engine.dispose()
                if not ok:
                    return 1
        finally:
            chain.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
