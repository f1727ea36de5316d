"""Recipient page benchmark on a local nodeos: ``scripts/bench web``.

Creates N recipient accounts (default 100,000) and books each in one of 3 schedules, runs
``payoutengine web`` (a real subprocess, as in production) and asks it for the recipient page
of randomly chosen recipients, one request at a time over one keep-alive connection. Prints
JSON lines ``{"metric", "value", "unit", "baseline", "ratio"}``:

- ``recipient_page_median_ms_at_1k`` / ``recipient_page_median_ms`` (and ``_p95_ms``): the
  whole HTTP answer (chain reads + template) after the first 1,000 recipients and after all N;
  ``baseline`` is the goal, 200 ms; the two medians staying close shows that the page reads
  only the asked account's rows, not tables that grow with recipients;
- ``recipient_chain_read_median_ms``: the chain-read part alone (the page's own timing);
- ``setup_s``: creating and booking the N recipients (not a goal; informative).

``WEB_BENCH_N`` changes N, ``WEB_BENCH_SAMPLES`` the requests per measurement (default 200).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import emit  # noqa: E402
from payoutengine.deploy import sponsor_permission_actions  # noqa: E402
from payoutengine.errors import TransactionError  # noqa: E402
from payoutengine.keys import PrivateKey  # noqa: E402
from payoutengine.localchain import (  # noqa: E402
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    LocalChain,
    account_actions,
)
from payoutengine.transactions import Action  # noqa: E402
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM  # noqa: E402
from tests.daemon.conftest import daemon_env, free_port, payoutengine_cmd  # noqa: E402
from tests.web.conftest import write_web_config  # noqa: E402

N = int(os.environ.get("WEB_BENCH_N", "100000"))
SAMPLES = int(os.environ.get("WEB_BENCH_SAMPLES", "200"))
SCHEDULES = ("wbench1", "wbench2", "wbench3")
PAYER = "wbenchpayer"
GOAL_MS = 200.0
#: accounts per newaccount transaction, and records per book transaction
ACCOUNTS_PER_TX = 50
RECORDS_PER_TX = 200


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def name_of(i: int) -> str:
    letters = ""
    n = i
    for _ in range(7):
        n, r = divmod(n, 26)
        letters = chr(ord("a") + r) + letters
    return "wb" + letters


def push_split(chain: LocalChain, actions: list[Action]) -> None:
    """Push; a transaction that runs out of CPU (the node's 30 ms) is split in halves, a
    lone book action by its records."""
    try:
        chain.push(actions)
    except TransactionError as exc:
        if not exc.cpu_exceeded:
            raise
        if len(actions) > 1:
            push_split(chain, actions[: len(actions) // 2])
            push_split(chain, actions[len(actions) // 2 :])
            return
        act = actions[0]
        assert not isinstance(act.data, bytes)
        records = list(act.data["records"])
        if len(records) < 2:
            raise
        for part in (records[: len(records) // 2], records[len(records) // 2 :]):
            data = {**act.data, "records": part}
            push_split(chain, [Action(act.account, act.name, list(act.authorization), data)])


def push_all(chain: LocalChain, batches: list[list[Action]]) -> None:
    # a few transactions in flight at once: the node executes one while the next is signed
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda b: push_split(chain, b), batches))


def create_and_book(chain: LocalChain, names: list[str]) -> None:
    push_all(
        chain,
        [
            account_actions(names[i : i + ACCOUNTS_PER_TX])
            for i in range(0, len(names), ACCOUNTS_PER_TX)
        ],
    )
    batches: list[list[Action]] = []
    for si, s in enumerate(SCHEDULES):
        mine = names[si :: len(SCHEDULES)]
        for i in range(0, len(mine), RECORDS_PER_TX):
            records = [
                {"recipient": r, "new_total": "0.0100 TST"} for r in mine[i : i + RECORDS_PER_TX]
            ]
            batches.append(
                [
                    Action(
                        CONTRACT_ACCOUNT,
                        "book",
                        [f"{PAYER}@active"],
                        {"schedule_name": s, "records": records},
                    )
                ]
            )
    push_all(chain, batches)


def setup_payer(chain: LocalChain) -> None:
    chain.create_account(PAYER)
    chain.transfer("eosio", PAYER, "10000.0000 TST", "bench")
    for s in SCHEDULES:
        chain.action(
            CONTRACT_ACCOUNT,
            "newschedule",
            {
                "payer": PAYER,
                "schedule_name": s,
                "tkcontract": "eosio.token",
                "currency": "0.0000 TST",
                "memo": f"bench {s}",
            },
            f"{PAYER}@active",
        )
    chain.transfer(PAYER, CONTRACT_ACCOUNT, "9000.0000 TST", "deposit")


def measure(url: str, names: list[str], rng: random.Random) -> tuple[list[float], list[float]]:
    """Page times (ms) and the page's own chain-read times (ms) for SAMPLES random names."""
    page_ms: list[float] = []
    read_ms: list[float] = []
    with httpx.Client(timeout=10.0) as http:
        for name in rng.sample(names, min(5, len(names))):  # warm-up
            http.get(f"{url}/recipient/{name}").raise_for_status()
        for name in rng.sample(names, min(SAMPLES, len(names))):
            t0 = time.perf_counter()
            r = http.get(f"{url}/recipient/{name}")
            page_ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            if 'class="amount due">0.0100 TST<' not in r.text:
                raise SystemExit(f"the page of {name} does not show its due: {r.text[:400]}")
            data = http.get(f"{url}/api/recipient/{name}").json()
            read_ms.append(float(data["read_ms"]))
    return page_ms, read_ms


def wait_up(url: str, web: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and web.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("payoutengine web did not start; see its log")


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp_s:
        tmp = Path(tmp_s)
        chain = LocalChain(tmp / "node")
        chain.start()
        web: subprocess.Popen[bytes] | None = None
        try:
            chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
            sponsor = PrivateKey.generate()
            chain.push(
                sponsor_permission_actions(
                    ADMIN_ACCOUNT, "sponsor", sponsor.public_key, contract=CONTRACT_ACCOUNT
                )
            )
            setup_payer(chain)
            port = free_port()
            config = write_web_config(
                tmp / "web.toml",
                chain.url,
                port,
                limits={"lookups_per_minute": 1_000_000},
                log={"level": "WARNING"},
            )
            with open(tmp / "web.log", "wb") as out:
                web = subprocess.Popen(
                    payoutengine_cmd("web", "--config", str(config)),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=daemon_env(None, PAYOUTENGINE_SPONSOR_KEY=sponsor.to_wif()),
                    cwd=tmp,
                    start_new_session=True,
                )
            url = f"http://127.0.0.1:{port}"
            wait_up(url, web)
            names = [name_of(i) for i in range(N)]
            first = min(1000, N)
            t0 = time.monotonic()
            create_and_book(chain, names[:first])
            setup_s = time.monotonic() - t0
            page_1k, _ = measure(url, names[:first], rng)
            emit("recipient_page_median_ms_at_1k", statistics.median(page_1k), "ms", GOAL_MS)
            for start in range(first, N, 10_000):
                t1 = time.monotonic()
                create_and_book(chain, names[start : start + 10_000])
                setup_s += time.monotonic() - t1
                log(f"{min(N, start + 10_000)} recipients on chain ({setup_s:.0f} s)")
            emit("setup_s", setup_s, "s")
            page, read = measure(url, names, rng)
            emit("recipient_page_median_ms", statistics.median(page), "ms", GOAL_MS)
            emit("recipient_page_p95_ms", p95(page), "ms", GOAL_MS)
            emit("recipient_chain_read_median_ms", statistics.median(read), "ms", GOAL_MS)
            emit("recipients_on_chain", float(N), "recipients")
        finally:
            if web is not None and web.poll() is None:
                os.killpg(web.pid, 15)
                web.wait(timeout=10)
            chain.stop()


if __name__ == "__main__":
    main()
