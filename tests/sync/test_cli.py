"""``payoutengine sync`` as a user runs it: exit codes, summary, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from payoutengine.localchain import DEV_KEY, DEV_PUBLIC_KEY
from tests.conftest import run_in_own_group

from .conftest import KEY_ENV, Payer, ledger
from .test_crash import write_config

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".venv" / "bin" / "payoutengine"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, KEY_ENV: DEV_KEY.to_wif(), "COLUMNS": "200", **(env or {})}
    return run_in_own_group([str(CLI), *args], env=full_env, timeout=120)


def test_once_dry_run_then_real_then_problems(
    payer: Payer, accounts: Callable[[int], list[str]], tmp_path: Path, state_url: str
) -> None:
    payer.deposit("100.0000 TST")
    a, b = accounts(2)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    credit = ledger(url)
    credit((a, 12_345), (b, 1))
    cfg = write_config(payer, tmp_path, url, state_url)

    dry = cli("sync", "-c", str(cfg), "once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "recipients would book" in dry.stdout and "1.2346 TST" in dry.stdout
    assert payer.booked() == {}

    real = cli("sync", "-c", str(cfg), "once")
    assert real.returncode == 0, real.stderr
    assert payer.booked() == {a: 12_345, b: 1}

    credit(("Not.Valid", 5))
    bad = cli("sync", "-c", str(cfg), "once")
    assert bad.returncode == 1
    assert "invalid name" in bad.stdout and "Not.Valid" in bad.stdout
    assert "Traceback" not in bad.stderr


def test_errors_are_one_sentence_and_exit_2(payer: Payer, tmp_path: Path, state_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    cfg = write_config(payer, tmp_path, url, state_url)
    no_key = cli("sync", "-c", str(cfg), "once", env={KEY_ENV: ""})
    assert no_key.returncode == 2
    assert no_key.stderr.strip() == (
        f"KeyFileError: The environment variable {KEY_ENV} is not set or empty."
    )
    wrong = cli("sync", "-c", str(cfg), "once", env={"PAYOUTENGINE_PAYER_SCHEDULE": "nosuchsched"})
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "ConfigError: The schedule 'nosuchsched' does not exist in contract payoutengine; "
        "create it with newschedule or fix [payer] schedule."
    )
    missing = cli("sync", "-c", str(tmp_path / "nope.toml"), "once")
    assert missing.returncode == 2 and missing.stderr.startswith("ConfigError: The config file")
    assert "Traceback" not in no_key.stderr + wrong.stderr + missing.stderr


def test_a_key_file_others_can_read_is_refused(
    payer: Payer, tmp_path: Path, state_url: str
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    key_file = tmp_path / "payer.key"
    key_file.write_text(DEV_KEY.to_wif() + "\n")
    key_file.chmod(0o644)
    cfg = write_config(payer, tmp_path, url, state_url)
    cfg.write_text(cfg.read_text().replace(f'key_env = "{KEY_ENV}"', 'key_file = "payer.key"'))

    res = cli("sync", "-c", str(cfg), "once", env={KEY_ENV: ""})
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip() == (
        f"KeyFileError: The key file {key_file} can be read by other users (mode 0644); "
        f"run 'chmod 600 {key_file}'."
    )
    assert DEV_KEY.to_wif() not in res.stdout + res.stderr
    key_file.chmod(0o600)  # the same file, readable by its owner only, is accepted
    res = cli("sync", "-c", str(cfg), "once", env={KEY_ENV: ""})
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_key_that_controls_owner_is_refused(
    payer: Payer, new_account: Callable[..., str], tmp_path: Path, state_url: str
) -> None:
    taken = new_account("own")  # created with the development key as owner and active
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    cfg = write_config(payer, tmp_path, url, state_url)
    cfg.write_text(cfg.read_text().replace(f'account = "{payer.name}"', f'account = "{taken}"'))
    res = cli("sync", "-c", str(cfg), "once")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip() == (
        f"KeyFileError: The key {DEV_PUBLIC_KEY} controls the owner permission of {taken}; give "
        "payer sync the key of a permission that cannot change the account's keys (active, or a "
        "dedicated one), never the owner key."
    )
    dry = cli("sync", "-c", str(cfg), "once", "--dry-run")  # signs nothing: no key needed
    assert "KeyFileError" not in dry.stderr


def run_until_syncs(
    *args: str, env: dict[str, str], log: Path, syncs: int, timeout: float = 90
) -> tuple[int, str]:
    """Start ``payoutengine ARGS`` (``sync ... run``) in its own process group, wait until its
    log shows ``syncs`` finished syncs, stop it with SIGTERM as an operator would, and return
    (exit status, log)."""
    full_env = {**os.environ, KEY_ENV: DEV_KEY.to_wif(), **env}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(CLI), *args],
            cwd=REPO,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while len(re.findall(r"(full|incremental) sync: ", log.read_text())) < syncs:
            assert proc.poll() is None, f"sync run exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"fewer than {syncs} syncs:\n{log.read_text()}"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGTERM)
        status = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return status, log.read_text()


def test_run_mode_books_new_credits_incrementally(
    payer: Payer, accounts: Callable[[int], list[str]], tmp_path: Path, state_url: str
) -> None:
    payer.deposit("100.0000 TST")
    a, b = accounts(2)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    credit = ledger(url)
    credit((a, 100))
    cfg = write_config(payer, tmp_path, url, state_url)
    env = {"PAYOUTENGINE_RUN_INTERVAL_S": "0.2"}
    # -v before the command's name ...
    status, first = run_until_syncs(
        "-v", "sync", "-c", str(cfg), "run", env=env, log=tmp_path / "first.log", syncs=2
    )
    assert status == 0, first
    assert "full sync: 1 compared, 1 booked (0.0100 TST)" in first
    assert "incremental sync: 0 compared, 0 booked" in first
    assert "stopping after this sync" in first
    credit((b, 7), (a, 1))
    # ... and after it (`payoutengine sync -v` used to log nothing).
    status, second = run_until_syncs(
        "sync", "-v", "-c", str(cfg), "run", env=env, log=tmp_path / "second.log", syncs=1
    )
    assert status == 0, second
    assert "incremental sync: 2 compared, 2 booked (0.0008 TST)" in second
    assert payer.booked() == {a: 101, b: 7}
    assert "Traceback" not in first + second


def test_json_logs_work_on_sync(
    payer: Payer, accounts: Callable[[int], list[str]], tmp_path: Path, state_url: str
) -> None:
    payer.deposit("100.0000 TST")
    (a,) = accounts(1)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger(url)((a, 100))
    cfg = write_config(payer, tmp_path, url, state_url)
    res = cli("sync", "-c", str(cfg), "once", "-v", "--json-logs")
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stderr.splitlines() if line.strip()]
    assert records and all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    assert {r["level"] for r in records} <= {"info", "warning", "error"}
    quiet = cli("sync", "-c", str(cfg), "once")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_once_writes_a_metrics_textfile_for_cron(
    payer: Payer, accounts: Callable[[int], list[str]], tmp_path: Path, state_url: str
) -> None:
    payer.deposit("100.0000 TST")
    (a,) = accounts(1)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger(url)((a, 2_500), ("Not.Valid", 5))
    cfg = write_config(payer, tmp_path, url, state_url)
    prom = tmp_path / "payer_sync.prom"

    res = cli("sync", "-c", str(cfg), "once", "--metrics-file", str(prom))
    assert res.returncode == 1, res.stderr  # the invalid name needs a person
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in prom.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert values["payer_sync_invalid_names"] == 1
    assert values["payer_sync_booked_units_total"] == 2_500
    assert values["payer_sync_discrepancies"] == 0
    assert values["payer_sync_errors_total"] == 0
    assert values["payer_sync_last_sync_timestamp"] > 0

    # A sync that cannot run still leaves a file the alert rules can read.
    broken = tmp_path / "broken.toml"
    broken.write_text(cfg.read_text().replace(url, "sqlite:////nonexistent/dir/ledger.sqlite"))
    res = cli("sync", "-c", str(broken), "once", "--metrics-file", str(prom))
    assert res.returncode == 2
    assert "payer_sync_errors_total 1.0" in prom.read_text()


def test_dry_run_checks_every_batch_on_the_node(
    payer: Payer, accounts: Callable[[int], list[str]], tmp_path: Path, state_url: str
) -> None:
    """compute_transaction runs the bookings without keeping them: a nonexistent account is
    found by the dry run, nothing is booked, and the real sync then books the rest."""
    payer.deposit("100.0000 TST")
    a, b = accounts(2)
    ghost = "ghost" + a[-7:]  # a valid name that no account has
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger(url)((a, 100), (ghost, 7), (b, 200))
    cfg = write_config(payer, tmp_path, url, state_url)

    dry = cli("sync", "-c", str(cfg), "once", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert ghost in dry.stdout and "does not exist" in dry.stdout
    assert re.search(r"recipients would book\s*│\s*2\s*│", dry.stdout)
    assert re.search(r"amount would book\s*│\s*0\.0300 TST", dry.stdout)
    assert payer.booked() == {}

    real = cli("sync", "-c", str(cfg), "once")
    assert real.returncode == 1
    assert payer.booked() == {a: 100, b: 200}
