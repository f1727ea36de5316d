"""Bad configuration, bad keys and unreachable endpoints: one clear sentence, non-zero exit,
no traceback, no secret in the output."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from payoutengine.keys import PrivateKey
from payoutengine.localchain import DEV_KEY
from tests.conftest import refused_ports

from .conftest import PE, daemon_env, payoutengine_cmd, run_status, write_config


def _admin(cfg: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        payoutengine_cmd("admin", "--config", str(cfg)),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _assert_clean_failure(res: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    out = res.stdout + res.stderr
    assert res.returncode == code, out
    assert "Traceback" not in out, out
    for f in fragments:
        assert f in out, out


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        pytest.param("[chain\nendpoints = 1", ["ConfigError:", "not valid TOML"], id="bad-toml"),
        pytest.param(
            '[chain]\nendpoints = ["http://127.0.0.1:1"]\n[payouts]\nmax_cuont = 3\n',
            ["ConfigError:", "Unknown option 'max_cuont'"],
            id="unknown-option",
        ),
        pytest.param(
            '[chain]\nendpoints = ["http://127.0.0.1:1"]\n[admin]\naccount = "pe.admin"\n'
            "[payouts]\nmin_count = 10\nmax_count = 5\n",
            ["ConfigError:", "min_count <= max_count"],
            id="count-bounds",
        ),
        pytest.param(
            '[admin]\naccount = "pe.admin"\n',
            ["ConfigError:", "No chain endpoint"],
            id="no-endpoint",
        ),
        pytest.param(
            '[chain]\nendpoints = ["http://127.0.0.1:1"]\n[admin]\naccount = "pe.admin"\n'
            'key = "5Jxxxx"\n',
            ["ConfigError:", "must not hold the private key"],
            id="key-in-config",
        ),
        pytest.param(
            '[chain]\nendpoints = ["http://127.0.0.1:1"]\n[admin]\naccount = "pe.admin"\n'
            'permission = "owner"\n',
            ["ConfigError:", "must not be 'owner'"],
            id="owner-permission",
        ),
    ],
)
def test_bad_config_is_one_sentence_and_exit_2(
    tmp_path: Path, toml: str, fragments: list[str]
) -> None:
    cfg = tmp_path / "admin.toml"
    cfg.write_text(toml)
    _assert_clean_failure(_admin(cfg, daemon_env(PrivateKey.generate())), 2, *fragments)


def test_missing_config_file(tmp_path: Path) -> None:
    res = _admin(tmp_path / "nope.toml", daemon_env(PrivateKey.generate()))
    _assert_clean_failure(res, 2, "ConfigError:", "does not exist")


def test_unreachable_endpoints_exit_3(tmp_path: Path) -> None:
    with refused_ports(2) as ports:
        dead = [f"http://127.0.0.1:{p}" for p in ports]
        cfg = write_config(tmp_path / "admin.toml", dead, journal=tmp_path / "j.sqlite")
        res = _admin(cfg, daemon_env(PrivateKey.generate()))
    _assert_clean_failure(res, 3, "EndpointError:", "No healthy chain endpoint", dead[0], dead[1])


def test_bad_keys_are_refused(pe: PE, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "admin.toml", [pe.url], journal=tmp_path / "j.sqlite")

    # No key at all.
    _assert_clean_failure(
        _admin(cfg, daemon_env(None)), 2, "KeyFileError:", "PAYOUTENGINE_ADMIN_KEY is not set"
    )
    # Malformed key; the text must not be echoed.
    env = daemon_env(None, PAYOUTENGINE_ADMIN_KEY="5Kthisisnotakey")
    res = _admin(cfg, env)
    _assert_clean_failure(res, 2, "KeyFileError:", "PAYOUTENGINE_ADMIN_KEY")
    assert "5Kthisisnotakey" not in res.stdout + res.stderr
    # A valid key that is not the payout permission's.
    stranger = PrivateKey.generate()
    res = _admin(cfg, daemon_env(stranger))
    _assert_clean_failure(res, 2, "KeyFileError:", "cannot sign for pe.admin@payout")
    assert stranger.to_wif() not in res.stdout + res.stderr
    # The key that controls pe.admin's owner permission (the local chain's development key).
    res = _admin(cfg, daemon_env(DEV_KEY))
    _assert_clean_failure(res, 2, "KeyFileError:", "controls the owner permission of pe.admin")
    assert DEV_KEY.to_wif() not in res.stdout + res.stderr
    # A key file readable by others is refused; mode 0600 is accepted (the run then starts,
    # which the other tests cover).
    key_file = tmp_path / "admin.key"
    key_file.write_text(pe.daemon_key.to_wif() + "\n")
    key_file.chmod(0o644)
    cfg2 = write_config(
        tmp_path / "admin2.toml",
        [pe.url],
        journal=tmp_path / "j2.sqlite",
        admin={"key_file": str(key_file)},
    )
    res = _admin(cfg2, daemon_env(None))
    _assert_clean_failure(res, 2, "KeyFileError:", "chmod 600")
    # The contract's admin must be the configured account.
    cfg3 = write_config(
        tmp_path / "admin3.toml",
        [pe.url],
        journal=tmp_path / "j3.sqlite",
        contract={"account": "eosio.token"},
    )
    res = _admin(cfg3, daemon_env(pe.daemon_key))
    _assert_clean_failure(res, 2, "ConfigError:", "does not hold the payoutengine contract")


def test_status_with_unreachable_chain_shows_the_journal_and_exits_3(tmp_path: Path) -> None:
    with refused_ports(1) as ports:
        dead = [f"http://127.0.0.1:{ports[0]}"]
        cfg = write_config(tmp_path / "admin.toml", dead, journal=tmp_path / "j.sqlite")
        res = run_status(cfg)
        # The table form says the same, with one error line.
        table = subprocess.run(
            payoutengine_cmd("status", "--config", str(cfg)),
            capture_output=True,
            text=True,
            env=daemon_env(None),
            timeout=60,
        )
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    st = json.loads(res.stdout)
    assert st["chain"] is None and dead[0] in st["chain_error"]
    assert st["transactions"]["signed"] == 0 and st["poison"] == []
    assert table.returncode == 3
    assert "unreachable" in table.stdout and table.stderr.startswith("ChainError: ")


def test_metrics_port_taken_is_one_line_and_no_job_starts(pe: PE, tmp_path: Path) -> None:
    """Defect 5: the daemon printed its error, then the jobs it had already started crashed
    with tracebacks while the interpreter shut down."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cfg = write_config(
            tmp_path / "admin.toml", [pe.url], journal=tmp_path / "j.sqlite", metrics={"port": port}
        )
        res = _admin(cfg, daemon_env(pe.daemon_key))
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out, out
    assert res.stderr.strip().splitlines()[-1] == (
        f"ConfigError: The metrics port {port} on 127.0.0.1 is already in use; choose another "
        "[metrics] port or stop the program listening there."
    )
    # Nothing was sent: the jobs never ran.
    assert '"msg":"sent"' not in out
