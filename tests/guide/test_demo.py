"""``payoutengine demo`` end to end, as README tells a newcomer to run it, and its time-out."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from payoutengine.amounts import format_amount
from payoutengine.demo import (
    CONTRACT_RECIPIENT,
    INVALID_NAME,
    SCHEDULES,
    _deposit_for,
    demo_credits,
)
from payoutengine.localchain import FEE_PERMILLE
from tests.conftest import run_in_own_group

from .conftest import VENV_BIN, processes_mentioning

CLI = VENV_BIN / "payoutengine"


def _demo(data_dir: Path, *args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYOUTENGINE_", "PAYER_"))}
    env["COLUMNS"] = "120"
    return run_in_own_group(
        [str(CLI), "demo", "--data-dir", str(data_dir), *args], env=env, timeout=timeout
    )


def _no_process_left(data_dir: Path) -> None:
    deadline = time.monotonic() + 10
    while processes_mentioning(str(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(data_dir)) == []


def _row(text: str, title: str, schedule: str) -> list[str]:
    """The cells of ``schedule``'s row in the table after ``title``."""
    table = text[text.index(title) :]
    line = next(ln for ln in table.splitlines() if re.match(rf"^│ {schedule}\s", ln))
    return [cell.strip() for cell in line.strip("│").split("│")]


@pytest.mark.parametrize("profile", ["dev", "eos"])
def test_demo_runs_end_to_end_and_its_figures_are_right(tmp_path: Path, profile: str) -> None:
    """The same figures on the dev chain and on a chain booted like EOS mainnet (system
    contract, RAM market, PowerUp: every account there needs RAM, CPU and NET)."""
    data_dir = tmp_path / "demo"
    t0 = time.monotonic()
    res = _demo(data_dir, "--profile", profile)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr == ""
    assert elapsed < 120, f"the demo took {elapsed:.0f} s"
    out = res.stdout

    credits = demo_credits()
    for s in SCHEDULES:
        p, code = s.symbol.precision, s.symbol.code
        valid = credits.valid_totals(s.name)
        booked = sum(valid.values())
        claim = valid[CONTRACT_RECIPIENT]
        fee = _deposit_for(booked, p) * FEE_PERMILLE // 1000
        assert _row(out, "per schedule", s.name) == [
            s.name,
            code,
            str(len(valid)),
            format_amount(booked, p),
            format_amount(booked - claim, p),
            format_amount(fee, p),
            f"1: {format_amount(claim, p)}",
        ]
        invalid = credits.totals(s.name)[INVALID_NAME]
        assert re.search(
            rf"│ {s.name}\s+│ {INVALID_NAME}\s+│\s+{re.escape(format_amount(invalid, p))} {code} │",
            out,
        )
        assert f"claim({s.name}, {CONTRACT_RECIPIENT}) → received {format_amount(claim, p)}" in out
        assert (
            f"{s.name:<10} paid {format_amount(booked, p)} of {format_amount(booked, p)} "
            f"{code} booked; 0 due"
        ) in out
    total = sum(len(credits.valid_totals(s.name)) for s in SCHEDULES)
    assert f"checked: all {total} balances equal the payer database's totals" in out
    # the commands a user would run, their problems report, the progress lines
    assert "$ payoutengine sync -c" in out and f"invalid name │ {INVALID_NAME}" in out
    assert re.search(r"paid\s+0/302\s+outstanding 302", out)
    assert re.search(r"approved 180/181\s+paid 300/302\s+outstanding\s+2", out)
    assert "admin daemon stopped (SIGTERM, exit 0)" in out
    if profile == "eos":
        assert "profile eos: acmepayer bought 512 KiB of RAM and got a day of powerup" in out
    # the daemon's key is never shown
    assert "PAYOUTENGINE_ADMIN_KEY=…" in out and not re.search(r"\b5[HJK]\w{49}\b", out)
    _no_process_left(data_dir)
    assert not data_dir.exists(), "the demo left its directory behind after success"


def test_demo_timeout_fails_with_a_reason_and_leaves_nothing_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    res = _demo(data_dir, "--timeout", "1", timeout=90)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith("DemoError: The demo timed out after 1 s while ")
    ), res.stderr
    _no_process_left(data_dir)


def test_demo_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    data_dir = tmp_path / "mine"
    data_dir.mkdir()
    (data_dir / "precious.txt").write_text("keep me")
    res = _demo(data_dir, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"DemoError: The directory {data_dir} exists and was not made by the demo; remove it "
        "or choose another --data-dir."
    )
    assert (data_dir / "precious.txt").read_text() == "keep me"
