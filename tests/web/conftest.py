"""Fixtures of the browser tests: a real local chain with the contract, a payer with two
schedules, a recipient account holding a contract (never paid automatically), the sponsor
permission ``pe.admin@sponsor`` linked to ``claim`` only, ``payoutengine web`` as a subprocess
in its own process group, and Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from payoutengine.deploy import sponsor_permission_actions
from payoutengine.keys import PrivateKey
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT, LocalChain
from payoutengine.localchain import process_group_alive as group_alive
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM, create_payer_account, register_process_group
from tests.daemon.conftest import (
    EMPTY_ABI,
    TEST_CONTRACTS,
    daemon_env,
    free_port,
    payoutengine_cmd,
    start_chain,
)

CHROMIUM = Path("/usr/bin/chromium")
SPONSOR_PERMISSION = "sponsor"
PAYER = "webpayer"
VAULT = "web.vault"  # holds a contract: only a claim pays it
PERSON = "webperson"  # a plain account, not approved (no daemon runs here)
SCHEDULES = ("rewards", "bonus")
OPERATOR_TOKEN = "operator-token-for-tests-0123456789"
#: what each schedule books for the vault and the person, in TST units (4 decimals)
BOOKED = {"rewards": 12_345, "bonus": 50_000}


@dataclass
class WebSite:
    chain: LocalChain
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    config: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def balance(self, account: str) -> int:
        a = self.chain.client.get_balance("eosio.token", account, "TST")
        return 0 if a is None else a.amount

    def recipient(self, schedule: str, account: str) -> dict[str, Any]:
        rows = self.chain.client.get_table_rows(
            CONTRACT_ACCOUNT, schedule, "recipients", lower_bound=account, upper_bound=account
        )["rows"]
        return dict(rows[0])


def _setup_chain(chain: LocalChain) -> PrivateKey:
    chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
    sponsor_key = PrivateKey.generate()
    chain.push(
        sponsor_permission_actions(
            ADMIN_ACCOUNT, SPONSOR_PERMISSION, sponsor_key.public_key, contract=CONTRACT_ACCOUNT
        )
    )
    create_payer_account(chain, PAYER)
    chain.create_accounts([VAULT, PERSON], open_symbol="4,TST")
    chain.deploy(VAULT, TEST_CONTRACTS / "forwarder.wasm", EMPTY_ABI)
    chain.transfer("eosio", PAYER, "1000.0000 TST", "fund")
    for s in SCHEDULES:
        chain.action(
            CONTRACT_ACCOUNT,
            "newschedule",
            {
                "payer": PAYER,
                "schedule_name": s,
                "tkcontract": "eosio.token",
                "currency": "0.0000 TST",
                "memo": f"{s} memo",
            },
            f"{PAYER}@active",
        )
    chain.transfer(PAYER, CONTRACT_ACCOUNT, "100.0000 TST", "deposit")
    for s in SCHEDULES:
        records = [
            {"recipient": a, "new_total": f"{BOOKED[s] // 10_000}.{BOOKED[s] % 10_000:04d} TST"}
            for a in (VAULT, PERSON)
        ]
        chain.action(
            CONTRACT_ACCOUNT,
            "book",
            {"schedule_name": s, "records": records},
            f"{PAYER}@active",
        )
    return sponsor_key


def write_web_config(path: Path, chain_url: str, port: int, **sections: dict[str, Any]) -> Path:
    cfg: dict[str, dict[str, Any]] = {
        "chain": {"endpoints": [chain_url], "timeout_s": 3.0},
        "contract": {"account": CONTRACT_ACCOUNT},
        "server": {"host": "127.0.0.1", "port": port, "refresh_s": 1.0},
        "sponsor": {"account": ADMIN_ACCOUNT, "permission": SPONSOR_PERMISSION},
        "journal": {"url": "sqlite:///web-journal.sqlite"},
        "limits": {"claims_per_account": 1, "claims_per_address": 5, "window_s": 600.0},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in cfg.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def start_web(
    config: Path, key: PrivateKey, log: Path, *, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            payoutengine_cmd("web", "--config", str(config)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=daemon_env(None, PAYOUTENGINE_SPONSOR_KEY=key.to_wif(), **env),
            cwd=config.parent,
            start_new_session=True,
        )
    register_process_group(proc.pid)
    return proc


def wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"payoutengine web exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"payoutengine web did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}"
    )


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert not group_alive(proc.pid), "payoutengine web outlived its stop"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    if not CONTRACT_WASM.is_file():
        pytest.fail(f"{CONTRACT_WASM} is missing: run scripts/bootstrap to build the contract.")
    tmp = tmp_path_factory.mktemp("web")
    chain = start_chain(tmp / "node")
    pid = chain.pid
    proc: subprocess.Popen[bytes] | None = None
    try:
        key = _setup_chain(chain)
        port = free_port()
        config = write_web_config(tmp / "web.toml", chain.url, port)
        log = tmp / "web.log"
        proc = start_web(config, key, log, env={"PAYOUTENGINE_OPERATOR_TOKEN": OPERATOR_TOKEN})
        url = f"http://127.0.0.1:{port}"
        wait_up(url, proc, log)
        yield WebSite(chain, url, proc, log, config)
    finally:
        if proc is not None:
            stop_group(proc)
        chain.stop()
    assert pid is not None and not group_alive(pid), "the local node survived stop()"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file() or shutil.which("chromium") is None:
        pytest.fail(
            "Chromium is missing: scripts/bootstrap installs it (apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page the size of a phone's screen."""
    context = browser.new_context(viewport={"width": 412, "height": 915}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
