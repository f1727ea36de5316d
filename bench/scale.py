"""Scale benchmark on one local nodeos: ``scripts/bench scale [--recipients 10000,100000,1000000]``.

For each size S (ascending), on one chain that keeps everything the smaller sizes left in it,
a new schedule of S recipients (the accounts of the smaller sizes plus new ones: the approvals
table holds the largest size so far, the recipients table of the new schedule holds S rows):

payer sync (each sync a process of its own, as ``payoutengine sync once`` runs, from a SQLite
ledger holding one credit per recipient):
  ``sync_first_S_s`` (goal at 1,000,000: 180 s), ``sync_first_S_peak_rss_mb`` (goal 1 GB),
  ``sync_first_S_rpc_calls`` / ``_rpc_mb``; ``sync_incremental_100_of_S_s`` (100 credited;
  goal 1 s at every size; median of 3), ``..._finality_wait_s`` (of it, the wait for the
  booking's block to become irreversible: the chain's, 0.5–1.0 s with 0.5 s blocks and one
  producer) and ``..._without_finality_wait_s``; ``sync_rescan_S_s`` (full comparison, nothing to
  book), its peak RSS and RPC calls.

the admin daemon (``payoutengine admin``, a real subprocess):
  round 1, brand-new recipients: ``daemon_approvals_S_s`` (start to the last new recipient
  approved) and ``daemon_approvals_S_rpc_calls`` (the daemon's ``payoutengine_rpc_requests``
  then, the payouts' requests meanwhile included), ``daemon_round1_S_s`` (start to all paid);
  round 2, every total raised with the daemon stopped, then started again:
  ``daemon_drain_S_payments_per_s`` against the chain's capacity measured in the same round
  (block CPU per second ÷ billed CPU per payment; goal ratio 0.85), the same without the
  round's first and last block (``..._steady_ratio_to_capacity``), the blocks the round took
  against the fewest its CPU fits in (``daemon_drain_S_blocks``), the daemon's peak RSS over
  both rounds (``daemon_S_peak_rss_mb``), ``booking_to_payment_S_s`` (median of 3 bookings of
  one raised total to its payment, daemon idle).

``payoutengine status --json`` (wall time of the command) and ``payoutengine web``'s recipient
and payer pages (median of 20) at size S.

the contract, with its tables at size S (billed CPU, daemon stopped; 5 samples, fresh
recipients each, medians — of 25 for claim):
  ``contract_book_100_S_cpu_us``, ``contract_runpayouts_50_S_cpu_us``, ``contract_claim_S_cpu_us``;
  the recipients of a sample spread at random over the schedule; with ``_adjacent``: the same
  with recipients that are neighbours in the chain's key order (as payer sync books them);
  with ``_smallest``: recipients spread over the smallest size's schedule on the same chain
  (its tables hold the smallest size's rows). The three are sampled in turns, to tell what
  grows with the schedule's tables, with the spread of the rows an action touches, and with
  the chain's whole state (the node keeps every contract's rows in one index).

Creating accounts is set-up: reported as ``setup_accounts_S_s``, not counted.
Prints JSON lines ``{"metric", "value", "unit", "baseline", "ratio"}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.drain import active_empty, journal_round  # noqa: E402
from bench.report import emit  # noqa: E402
from bench.sync import create_accounts, name_of  # noqa: E402
from payer_sync.ledger import add_credits, init_db, make_engine  # noqa: E402
from payoutengine.abi import name_to_int  # noqa: E402
from payoutengine.amounts import format_amount  # noqa: E402
from payoutengine.deploy import sponsor_permission_actions  # noqa: E402
from payoutengine.errors import TransactionError  # noqa: E402
from payoutengine.keys import PrivateKey  # noqa: E402
from payoutengine.localchain import (  # noqa: E402
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    DEV_KEY,
    LocalChain,
)
from payoutengine.transactions import Action  # noqa: E402
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM  # noqa: E402
from tests.daemon.conftest import (  # noqa: E402
    DAEMON_PERMISSION,
    daemon_env,
    free_port,
    payoutengine_cmd,
    setup_daemon_permission,
    write_config,
)
from tests.web.conftest import write_web_config  # noqa: E402

PAYER = "scale.payer"
KEY_ENV = "SCALE_BENCH_PAYER_KEY"
CHANGED = 100
BLOCK_INTERVAL_S = 0.5
#: goals of issue 14 at 1,000,000 recipients
FIRST_SYNC_GOAL_S = 180.0
SYNC_RSS_GOAL_MB = 1024.0
DRAIN_GOAL_RATIO = 0.85
RECORDS_PER_BOOK = 200


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


# -- payer sync, one process per sync ------------------------------------------------------

#: one sync in a process of its own; its peak memory is the kernel's VmHWM (getrusage's
#: ru_maxrss would start from the forking parent's peak)
SYNC_CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from payer_sync.config import load_config
from payer_sync.engine import Syncer
syncer = Syncer.from_config(load_config(Path({config!r})))
waited = [0.0]
follow = syncer.tracker.follow
def timed_follow(*a, **kw):
    t = time.monotonic()
    try:
        return follow(*a, **kw)
    finally:
        waited[0] += time.monotonic() - t
syncer.tracker.follow = timed_follow
client = syncer.chain.client
calls, size = client.rpc_calls, client.rpc_bytes
t = time.monotonic()
report = syncer.sync(full={full})
out = report.summary(syncer.chain.schedule.name)
hwm_kb = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM"))
out.update(seconds=time.monotonic() - t, finality_wait_s=waited[0],
           rpc_calls=client.rpc_calls - calls, rpc_bytes=client.rpc_bytes - size,
           peak_rss_mb=hwm_kb / 1024)
print(json.dumps(out))
"""


def run_sync(config: Path, *, full: bool) -> dict[str, Any]:
    code = SYNC_CHILD.format(root=str(ROOT), config=str(config), full=full)
    env = dict(os.environ, **{KEY_ENV: DEV_KEY.to_wif()})
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600
    )
    if res.returncode != 0:
        raise SystemExit(f"payer sync failed:\n{res.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    if not out["ok"]:
        raise SystemExit(f"payer sync not clean: {out['problems']}")
    return out


def sync_config(path: Path, url: str, schedule: str, ledger: str, state: str) -> Path:
    path.write_text(
        f"""[chain]
endpoints = ["{url}"]
timeout_s = 60

[payer]
account = "{PAYER}"
schedule = "{schedule}"
key_env = "{KEY_ENV}"

[source]
url = "{ledger}"

[state]
url = "{state}"

[batch]
confirm_timeout_s = 120
"""
    )
    return path


def measure_sync(tmp: Path, url: str, schedule: str, names: list[str], rng: random.Random) -> None:
    s = len(names)
    ledger = f"sqlite:///{tmp}/ledger-{s}.sqlite"
    engine = make_engine(ledger)
    init_db(engine)
    with Session(engine) as db, db.begin():
        add_credits(db, [(nm, rng.randint(1, 1000)) for nm in names])
    config = sync_config(tmp / f"sync-{s}.toml", url, schedule, ledger, f"sqlite:///{tmp}/st-{s}")

    first = run_sync(config, full=True)
    if first["booked"] != s:
        raise SystemExit(f"the first sync booked {first['booked']} of {s}")
    goal = FIRST_SYNC_GOAL_S if s >= 1_000_000 else None
    emit(f"sync_first_{s}_s", round(first["seconds"], 2), "s", goal)
    rss_goal = SYNC_RSS_GOAL_MB if s >= 1_000_000 else None
    emit(f"sync_first_{s}_peak_rss_mb", round(first["peak_rss_mb"], 1), "MB", rss_goal)
    emit(f"sync_first_{s}_rpc_calls", first["rpc_calls"], "calls")
    emit(f"sync_first_{s}_rpc_mb", round(first["rpc_bytes"] / 1e6, 1), "MB")

    times, waits, calls = [], [], []
    for _ in range(3):
        changed = rng.sample(names, CHANGED)
        with Session(engine) as db, db.begin():
            add_credits(db, [(nm, 1) for nm in changed])
        inc = run_sync(config, full=False)
        if inc["booked"] != CHANGED or inc["compared"] != CHANGED:
            raise SystemExit(f"the incremental sync booked {inc['booked']} of {CHANGED}")
        times.append(inc["seconds"])
        waits.append(inc["finality_wait_s"])
        calls.append(inc["rpc_calls"])
    mid = sorted(range(3), key=lambda k: times[k])[1]
    emit(f"sync_incremental_{CHANGED}_of_{s}_s", round(times[mid], 3), "s", 1.0)
    emit(f"sync_incremental_{CHANGED}_of_{s}_finality_wait_s", round(waits[mid], 3), "s")
    emit(
        f"sync_incremental_{CHANGED}_of_{s}_without_finality_wait_s",
        round(times[mid] - waits[mid], 3),
        "s",
        1.0,
    )
    emit(f"sync_incremental_{CHANGED}_of_{s}_rpc_calls", statistics.median(calls), "calls")

    rescan = run_sync(config, full=True)
    if rescan["booked"]:
        raise SystemExit("the rescan found something to book")
    emit(f"sync_rescan_{s}_s", round(rescan["seconds"], 2), "s")
    emit(f"sync_rescan_{s}_peak_rss_mb", round(rescan["peak_rss_mb"], 1), "MB")
    emit(f"sync_rescan_{s}_rpc_calls", rescan["rpc_calls"], "calls")
    engine.dispose()


# -- the admin daemon ----------------------------------------------------------------------


class Daemon:
    def __init__(self, tmp: Path, url: str, key: PrivateKey) -> None:
        self.tmp = tmp
        self.key = key
        self.port = free_port()
        self.journal = tmp / "journal.sqlite"
        self.config = write_config(
            tmp / "admin.toml",
            [url],
            journal=self.journal,
            chain={"timeout_s": 30.0},
            payouts={
                "interval_s": 0.2,
                "start_count": 100,
                "max_count": 1000,
                "max_in_flight": 16,
                "senders": 3,
                "idle_recheck_s": 5.0,
            },
            approvals={"interval_s": 1.0, "batch_size": 200, "recheck_interval_s": 86400.0},
            metrics={"port": self.port, "refresh_s": 10.0},
            log={"json": True, "level": "WARNING"},
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0

    def start(self) -> None:
        with open(self.tmp / "daemon.log", "ab") as out:
            self.proc = subprocess.Popen(
                payoutengine_cmd("admin", "--config", str(self.config)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=daemon_env(self.key),
                cwd=self.tmp,
                start_new_session=True,
            )

    def alive(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            tail = (self.tmp / "daemon.log").read_text(errors="replace").splitlines()[-20:]
            raise SystemExit("the daemon exited:\n" + "\n".join(tail))
        self.peak_rss_mb = max(self.peak_rss_mb, peak_rss_mb(self.proc.pid))
        return self.proc

    def metric(self, name: str) -> float | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return None
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.peak_rss_mb = max(self.peak_rss_mb, peak_rss_mb(self.proc.pid))
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def approved(chain: LocalChain, account: str) -> bool:
    page = chain.client.get_table_rows(
        CONTRACT_ACCOUNT, CONTRACT_ACCOUNT, "approvals", lower_bound=account, limit=1
    )
    rows = page["rows"]
    return bool(rows) and rows[0]["account"] == account and int(rows[0]["approved"]) == 1


def wait_until(what: str, check: Any, daemon: Daemon, timeout_s: float, poll_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while not check():
        daemon.alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(poll_s)
    return time.monotonic()


def book_all(chain: LocalChain, schedule: str, names: list[str], units: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def push(part: list[str]) -> None:
        records = [{"recipient": r, "new_total": f"{format_amount(units, 4)} TST"} for r in part]
        act = Action(
            CONTRACT_ACCOUNT,
            "book",
            [f"{PAYER}@active"],
            {"schedule_name": schedule, "records": records},
        )
        try:
            chain.client.push([act], [DEV_KEY], expiration_s=600)
        except TransactionError as exc:
            # a busy node bills wall time: a transaction past its CPU limit goes again halved
            if not exc.cpu_exceeded or len(part) == 1:
                raise
            push(part[: len(part) // 2])
            push(part[len(part) // 2 :])

    parts = [names[i : i + RECORDS_PER_BOOK] for i in range(0, len(names), RECORDS_PER_BOOK)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(push, parts))


def recipient_row(chain: LocalChain, schedule: str, account: str) -> dict[str, Any]:
    page = chain.client.get_table_rows(
        CONTRACT_ACCOUNT, schedule, "recipients", lower_bound=account, limit=1
    )
    return dict(page["rows"][0])


def measure_daemon(
    chain: LocalChain, daemon: Daemon, schedule: str, names: list[str], new: list[str]
) -> dict[str, int]:
    """Round 1 (approvals of ``new`` + first payments), round 2 (drain of raised totals),
    booking → payment latency. Returns the booked total of each recipient of ``schedule``
    that differs from the round-2 total (``names`` → BASE otherwise)."""
    s = len(names)
    last_new = max(new)
    params = chain.client.call("/v1/chain/get_consensus_parameters", {})
    block_cpu_us = int(params["chain_config"]["max_block_cpu_usage"])
    daemon.peak_rss_mb = 0.0

    t0 = time.monotonic()
    first_id = _last_id(daemon.journal)
    daemon.start()
    t1 = wait_until("approvals", lambda: approved(chain, last_new), daemon, 7200, 0.5)
    calls = daemon.metric("payoutengine_rpc_requests_total")
    emit(f"daemon_approvals_{s}_new_{len(new)}_s", round(t1 - t0, 2), "s")
    emit(f"daemon_approvals_{s}_rpc_calls", calls if calls is not None else -1, "calls")
    t2 = wait_until("round 1", lambda: active_empty(chain), daemon, 7200, 0.5)
    emit(f"daemon_round1_{s}_s", round(t2 - t0, 2), "s")
    daemon.stop()
    r1 = journal_round(daemon.journal, first_id)
    emit(f"daemon_round1_{s}_payments", r1["payments"], "payments", float(s))

    # round 2: every total raised, the daemon stopped while it is booked
    log(f"{s}: round 2 (raised totals, pay only)")
    book_all(chain, schedule, names, BASE)
    daemon.start()
    wait_until("round 2", lambda: active_empty(chain), daemon, 7200, 0.5)
    r2 = journal_round(daemon.journal, r1["last_id"])
    if r2["payments"] < s:
        raise SystemExit(f"round 2 paid {r2['payments']} of {s}")
    per_payment = r2["cpu_us"] / r2["payments"]
    capacity = block_cpu_us / BLOCK_INTERVAL_S / per_payment
    rate = r2["payments"] / (r2["blocks"] * BLOCK_INTERVAL_S)
    emit(f"daemon_cpu_per_payment_{s}_us", round(per_payment, 1), "us")
    emit(f"daemon_capacity_{s}_payments_per_s", round(capacity, 1), "payments/s")
    emit(f"daemon_drain_{s}_payments_per_s", round(rate, 1), "payments/s", round(capacity, 1))
    emit(f"daemon_drain_{s}_ratio_to_capacity", round(rate / capacity, 3), "", DRAIN_GOAL_RATIO)
    # blocks the round occupied, against the fewest its CPU fits in (a round that starts
    # part-way into a block, as any round does, can take one more): at 10,000 recipients a
    # round is a few blocks, and this, not the rate inside them, decides the ratio above
    emit(f"daemon_drain_{s}_blocks", r2["blocks"], "blocks", math.ceil(r2["cpu_us"] / block_cpu_us))
    # the same without the round's first and last blocks (the daemon's start part-way into a
    # block, and the tail): what a long round runs at
    inner = steady_rate(daemon.journal, r1["last_id"])
    if inner is not None:
        emit(f"daemon_drain_{s}_steady_ratio_to_capacity", round(inner / capacity, 3), "")

    # booking → payment, the daemon idle
    raised: dict[str, int] = {}
    lat = []
    for k in range(3):
        who = names[(k * 7919 + 1) % s]
        raised[who] = raised.get(who, BASE) + 1
        t = time.monotonic()
        book_all(chain, schedule, [who], raised[who])
        wait_until(
            "booking to payment",
            lambda who=who: int(recipient_row(chain, schedule, who)["paid_total"]) >= raised[who],
            daemon,
            300,
            0.05,
        )
        lat.append(time.monotonic() - t)
    emit(f"booking_to_payment_{s}_s", round(statistics.median(lat), 2), "s")
    daemon.alive()
    daemon.stop()
    emit(f"daemon_{s}_peak_rss_mb", round(daemon.peak_rss_mb, 1), "MB")
    return raised


def steady_rate(journal: Path, since_id: int) -> float | None:
    """Payments per second in the blocks strictly between the first and the last block that
    hold a payment of the round (None when the round spans fewer than 4 blocks)."""
    import sqlite3

    con = sqlite3.connect(journal)
    try:
        rows = con.execute(
            "select block_num, sum(payments) from transactions where kind = 'runpayouts' "
            "and id > ? and payments > 0 and block_num is not null group by block_num",
            (since_id,),
        ).fetchall()
    finally:
        con.close()
    if len(rows) < 4:
        return None
    blocks = sorted(rows)
    first, last = blocks[0][0], blocks[-1][0]
    paid = sum(n for b, n in blocks if first < b < last)
    return float(paid) / ((last - first - 1) * BLOCK_INTERVAL_S)


def _last_id(journal: Path) -> int:
    import sqlite3

    if not journal.exists():
        return 0
    con = sqlite3.connect(journal)
    try:
        return int(con.execute("select coalesce(max(id), 0) from transactions").fetchone()[0])
    finally:
        con.close()


# -- status, web pages, the contract -------------------------------------------------------


def measure_status(daemon: Daemon, s: int) -> None:
    times = []
    for _ in range(2):
        t = time.monotonic()
        res = subprocess.run(
            payoutengine_cmd("status", "--config", str(daemon.config), "--json"),
            capture_output=True,
            text=True,
            env=daemon_env(None),
            cwd=daemon.tmp,
            timeout=3600,
        )
        times.append(time.monotonic() - t)
        if res.returncode != 0 or json.loads(res.stdout).get("chain_error"):
            raise SystemExit(f"payoutengine status failed: {res.stdout[-500:]}{res.stderr[-500:]}")
    emit(f"status_{s}_s", round(min(times), 2), "s")


def measure_web(tmp: Path, url: str, sponsor: PrivateKey, names: list[str], s: int) -> None:
    port = free_port()
    config = write_web_config(tmp / "web.toml", url, port)
    web_url = f"http://127.0.0.1:{port}"
    with open(tmp / "web.log", "ab") as out:
        web = subprocess.Popen(
            payoutengine_cmd("web", "--config", str(config)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=daemon_env(None, PAYOUTENGINE_SPONSOR_KEY=sponsor.to_wif()),
            cwd=tmp,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(web_url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if web.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("payoutengine web did not start")
            time.sleep(0.2)
        rng = random.Random(s)
        for page, paths in (
            ("recipient", [f"/recipient/{n}" for n in rng.sample(names, 20)]),
            ("payer", [f"/payer/{PAYER}"] * 5),
        ):
            ms = []
            with httpx.Client(timeout=120.0) as http:
                http.get(web_url + paths[0]).raise_for_status()  # warm-up
                for path in paths:
                    if page == "payer":
                        time.sleep(1.1)  # past the server's refresh_s: not its cached answer
                    t = time.perf_counter()
                    http.get(web_url + path).raise_for_status()
                    ms.append((time.perf_counter() - t) * 1000)
            emit(f"web_{page}_page_{s}_ms", round(statistics.median(ms), 1), "ms", 200.0)
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)


def cpu_of(result: dict[str, Any]) -> int:
    return int(result["processed"]["receipt"]["cpu_usage_us"])


#: interleaved samples of the contract's actions per schedule measured (fresh recipients each)
CONTRACT_SAMPLES = 5
#: a runpayouts or claim differs from the one before by its expiration (the same bytes twice
#: in one block would be one transaction)
_expirations = itertools.count(60)


def _runpayouts(chain: LocalChain, admin_key: PrivateKey, count: int) -> dict[str, Any]:
    act = Action(
        CONTRACT_ACCOUNT, "runpayouts", [f"{ADMIN_ACCOUNT}@{DAEMON_PERMISSION}"], {"count": count}
    )
    return chain.client.push([act], [admin_key], expiration_s=next(_expirations))


def contract_sample(
    chain: LocalChain,
    admin_key: PrivateKey,
    schedule: str,
    part: list[str],
    raised: dict[str, int],
) -> tuple[int, list[int], int]:
    """One sample in ``schedule``: the billed CPU of a book of 100 records (``part[:100]``
    raised by 3), of a claim by each of ``part[100:]``, and of runpayouts(50); then every due
    left is paid, so the next sample starts from the same state."""

    def raise_by_3(accounts: list[str]) -> Action:
        records = []
        for r in accounts:
            raised[r] = raised.get(r, BASE) + 3
            records.append({"recipient": r, "new_total": f"{format_amount(raised[r], 4)} TST"})
        data = {"schedule_name": schedule, "records": records}
        return Action(CONTRACT_ACCOUNT, "book", [f"{PAYER}@active"], data)

    book = cpu_of(chain.push([raise_by_3(part[:100])]))
    chain.push([raise_by_3(part[100:])])
    claims = []
    for r in part[100:]:
        act = Action(
            CONTRACT_ACCOUNT, "claim", [f"{r}@active"], {"schedule_name": schedule, "recipient": r}
        )
        # targets may share recipients (small sizes): a claim repeated within a block must
        # still be a transaction of its own
        claims.append(cpu_of(chain.client.push([act], [DEV_KEY], expiration_s=next(_expirations))))
    run = cpu_of(_runpayouts(chain, admin_key, 50))
    for _ in range(1000):
        try:
            _runpayouts(chain, admin_key, 100)
        except TransactionError as exc:
            if "nothing to pay" in exc.message:
                break
            raise
    return book, claims, run


#: recipients one sample uses: 100 booked, 5 that claim
PER_SAMPLE = 105


def spread_picks(names: list[str], rng: random.Random) -> list[str]:
    """The recipients of every sample, drawn at random from the whole schedule."""
    return rng.sample(names, PER_SAMPLE * CONTRACT_SAMPLES)


def adjacent_picks(names: list[str], rng: random.Random) -> list[str]:
    """The recipients of every sample, neighbours in the chain's key order (payer sync sorts
    its batches by name, which is that order)."""
    ordered = sorted(names, key=name_to_int)
    n = PER_SAMPLE * CONTRACT_SAMPLES
    start = rng.randrange(len(ordered) - n + 1)
    return ordered[start : start + n]


def measure_contract(
    chain: LocalChain,
    admin_key: PrivateKey,
    targets: list[tuple[str, list[str], dict[str, int], str]],
    *,
    size: int,
) -> None:
    """Billed CPU of book (100 records), runpayouts(50) and claim for each target
    ``(schedule, picks, raised, suffix)`` on the chain at ``size`` (``picks``: the recipients
    of every sample, PER_SAMPLE each): CONTRACT_SAMPLES samples each, the targets taking turns
    (and turns about who goes first), medians reported. Billed CPU is the node's wall time:
    interleaving keeps what drifts with time (the node's load, the kernel's caches) out of the
    comparison between targets."""
    got: dict[str, tuple[list[int], list[int], list[int]]] = {t[3]: ([], [], []) for t in targets}
    for k in range(CONTRACT_SAMPLES):
        for schedule, picks, raised, suffix in targets if k % 2 == 0 else targets[::-1]:
            part = picks[k * PER_SAMPLE : (k + 1) * PER_SAMPLE]
            book, claims, run = contract_sample(chain, admin_key, schedule, part, raised)
            got[suffix][0].append(book)
            got[suffix][1].extend(claims)
            got[suffix][2].append(run)
    for schedule, _picks, _raised, suffix in targets:
        book_cpu, claim_cpu, run_cpu = got[suffix]
        log(f"{size} {schedule}{suffix}: book {book_cpu} runpayouts {run_cpu} claim {claim_cpu}")
        emit(f"contract_book_100_{size}_cpu_us{suffix}", statistics.median(book_cpu), "us")
        emit(f"contract_runpayouts_50_{size}_cpu_us{suffix}", statistics.median(run_cpu), "us")
        emit(f"contract_claim_{size}_cpu_us{suffix}", statistics.median(claim_cpu), "us")


def check_paid(chain: LocalChain, schedule: str, names: list[str], raised: dict[str, int]) -> None:
    """Every recipient of ``schedule`` was paid exactly what was booked (sampled: 2,000)."""
    rng = random.Random(len(names) + 2)
    for who in rng.sample(names, min(2000, len(names))) + list(raised):
        row = recipient_row(chain, schedule, who)
        want = raised.get(who, BASE)
        if int(row["booked_total"]) != want or int(row["paid_total"]) != want:
            raise SystemExit(f"{who} in {schedule}: {row}, expected {want}")


BASE = 2000


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench scale")
    parser.add_argument(
        "--recipients",
        default="10000,100000,1000000",
        help="comma-separated sizes, ascending (default 10000,100000,1000000)",
    )
    parser.add_argument("--keep", type=Path, help="keep the node and the logs in this directory")
    args = parser.parse_args()
    try:
        sizes = sorted({int(x) for x in args.recipients.split(",") if x.strip()})
    except ValueError:
        parser.error("--recipients takes comma-separated whole numbers")
    if not sizes or sizes[0] < 600:
        parser.error("--recipients: every size must be at least 600")
    state_mb = max(1024, sizes[-1] // 1000 * 8)
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp_s:
        tmp = args.keep or Path(tmp_s)
        tmp.mkdir(parents=True, exist_ok=True)
        chain = LocalChain(tmp / "node", state_size_mb=state_mb)
        chain.start()
        daemon: Daemon | None = None
        try:
            chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
            admin_key = setup_daemon_permission(chain)
            sponsor = PrivateKey.generate()
            chain.push(
                sponsor_permission_actions(
                    ADMIN_ACCOUNT, "sponsor", sponsor.public_key, contract=CONTRACT_ACCOUNT
                )
            )
            chain.create_account(PAYER)
            chain.fund(PAYER, f"{format_amount(sum(sizes) * 3000 + 10**8, 4)} TST")
            daemon = Daemon(tmp, chain.url, admin_key)
            names: list[str] = []
            for k, s in enumerate(sizes):
                t = time.monotonic()
                new = [name_of(i) for i in range(len(names), s)]
                create_accounts(chain.url, new)
                names += new
                emit(f"setup_accounts_{s}_s", round(time.monotonic() - t, 1), "s")
                schedule = f"scale.s{k + 1}"
                chain.action(
                    CONTRACT_ACCOUNT,
                    "newschedule",
                    {
                        "payer": PAYER,
                        "schedule_name": schedule,
                        "tkcontract": "eosio.token",
                        "currency": "0.0000 TST",
                        "memo": "scale",
                    },
                    f"{PAYER}@active",
                )
                chain.transfer(
                    PAYER,
                    CONTRACT_ACCOUNT,
                    f"{format_amount(s * 3000, 4)} TST",
                    f"deposit {schedule}",
                )
                log(f"{s}: payer sync")
                measure_sync(tmp, chain.url, schedule, names, random.Random(s))
                log(f"{s}: admin daemon")
                raised = measure_daemon(chain, daemon, schedule, names, new)
                log(f"{s}: status, web, contract")
                measure_status(daemon, s)
                measure_web(tmp, chain.url, sponsor, names, s)
                rng = random.Random(s)
                # recipients spread over the schedule (the figure of the table), neighbours in
                # key order in the same schedule, and — from the second size on — the same in
                # the smallest size's schedule on this chain: what grows with the schedule's
                # tables, with the spread of the rows touched, or with the chain's whole state
                targets = [
                    (schedule, spread_picks(names, rng), raised, ""),
                    (schedule, adjacent_picks(names, rng), raised, "_adjacent"),
                ]
                if k == 0:
                    first_schedule, first_names, first_raised = schedule, list(names), raised
                else:
                    targets.append(
                        (first_schedule, spread_picks(first_names, rng), first_raised, "_smallest")
                    )
                measure_contract(chain, admin_key, targets, size=s)
                check_paid(chain, schedule, names, raised)
                if k > 0:
                    check_paid(chain, first_schedule, first_names, first_raised)
        finally:
            if daemon is not None:
                daemon.stop()
            chain.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
