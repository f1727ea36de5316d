"""Crash safety, for real: the sync process is killed with SIGKILL between sending a batch and
journaling its answer (and before sending one); the rerun books exactly what is missing.

The test owns the crash: ``tests/faults/crashpoint.py`` runs the real ``payoutengine sync``
entry point with a breakpoint around the chain client's send that SIGKILLs the process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from payer_sync.engine import BOOKING_KIND
from payer_sync.state import open_state
from payoutengine.journal import Journal
from payoutengine.localchain import DEV_KEY
from tests.conftest import run_in_own_group

from .conftest import KEY_ENV, Payer, ledger

REPO = Path(__file__).resolve().parents[2]


def write_config(payer: Payer, tmp_path: Path, ledger_url: str, state_url: str) -> Path:
    path = tmp_path / "sync.toml"
    path.write_text(
        f"""
[chain]
endpoints = ["{payer.chain.url}"]

[payer]
account = "{payer.name}"
schedule = "{payer.schedule}"
key_env = "{KEY_ENV}"

[source]
url = "{ledger_url}"

[state]
url = "{state_url}"

[batch]
records_per_tx = 10
"""
    )
    return path


def run_sync(config: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    env = {**os.environ, KEY_ENV: DEV_KEY.to_wif()}
    cmd = [sys.executable, "-m", "payoutengine.cli", "sync", "-c", str(config), *args]
    if crash:
        at = ["--at", crash, "--", "sync", "-c", str(config), *args]
        cmd = [sys.executable, "-m", "tests.faults.crashpoint", *at]
    return run_in_own_group(cmd, env=env, timeout=120)


def open_bookings(state_url: str) -> list[str]:
    """Statuses of the bookings the journal still follows."""
    journal = open_state(state_url)
    try:
        with journal.session() as s:
            return [r.status for r in Journal.open_transactions(s, kinds=[BOOKING_KIND])]
    finally:
        journal.close()


@pytest.mark.parametrize(
    ("crash", "journaled", "recovered"),
    [
        # killed right after the 2nd batch was sent, before it was recorded as sent
        pytest.param(
            "after-send:bookm:2",
            ["sent", "signed"],
            "0 landed now, 2 had landed, 0 expired",
            id="after-send",
        ),
        # killed after signing and journaling the 3rd batch, before sending it
        pytest.param(
            "before-send:bookm:3",
            ["sent", "sent", "signed"],
            "1 landed now, 2 had landed, 0 expired",
            id="before-send",
        ),
    ],
)
def test_sigkill_then_rerun_books_exactly_once(
    payer: Payer,
    accounts: Callable[[int], list[str]],
    tmp_path: Path,
    state_url: str,
    crash: str,
    journaled: list[str],
    recovered: str,
) -> None:
    payer.deposit("1000.0000 TST")
    names = accounts(35)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger(url)(*[(n, 1000 + i) for i, n in enumerate(names)])
    expected = {n: 1000 + i for i, n in enumerate(names)}
    deposited0, dues0 = payer.funds()
    assert dues0 == 0
    cfg = write_config(payer, tmp_path, url, state_url)

    killed = run_sync(cfg, "once", crash=crash)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # batches that were sent but not confirmed irreversible yet stay journaled
    assert sorted(open_bookings(state_url)) == journaled
    partial = payer.booked()
    assert len(partial) == 20 and all(partial[n] == expected[n] for n in partial)

    # credits added while the sync was down are booked too
    ledger(url)((names[0], 5))
    expected[names[0]] += 5

    rerun = run_sync(cfg, "once")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert recovered in rerun.stdout
    assert payer.booked() == expected
    # nothing booked twice: the dues on chain are exactly the database's totals
    deposited, dues = payer.funds()
    assert deposited == deposited0 and dues == sum(expected.values())
    assert open_bookings(state_url) == []

    again = run_sync(cfg, "once")
    assert again.returncode == 0 and payer.booked() == expected
