"""The local chain: bootstrap result, start-up errors, and `payoutengine chain up/down`."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from payoutengine.client import ChainClient
from payoutengine.errors import ChainError
from payoutengine.localchain import (
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    FEE_ACCOUNT,
    FEE_PERMILLE,
    TOKEN_ACCOUNT,
    LocalChain,
    process_group_alive,
)
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM, REPO_ROOT, register_process_group


def test_bootstrap_deploys_tokens_and_contract(local_chain: LocalChain) -> None:
    client = local_chain.client
    for account in (TOKEN_ACCOUNT, CONTRACT_ACCOUNT, FEE_ACCOUNT, ADMIN_ACCOUNT):
        assert client.get_account(account) is not None, account
    assert (
        client.get_code_hash(CONTRACT_ACCOUNT)
        == hashlib.sha256(CONTRACT_WASM.read_bytes()).hexdigest()
    )
    assert client.get_token_precision(TOKEN_ACCOUNT, "TST") == 4
    assert client.get_token_precision(TOKEN_ACCOUNT, "PAY") == 8
    assert str(client.get_balance(TOKEN_ACCOUNT, "eosio", "TST")).endswith(" TST")


def test_contract_has_eosio_code_permission(local_chain: LocalChain) -> None:
    account = local_chain.client.get_account(CONTRACT_ACCOUNT)
    assert account is not None
    active = next(p for p in account["permissions"] if p["perm_name"] == "active")
    levels = [a["permission"] for a in active["required_auth"]["accounts"]]
    assert {"actor": CONTRACT_ACCOUNT, "permission": "eosio.code"} in levels


def test_contract_abi_on_chain_matches_file(local_chain: LocalChain) -> None:
    on_chain = local_chain.client.get_abi(CONTRACT_ACCOUNT)
    assert on_chain is not None
    local = json.loads(CONTRACT_ABI.read_text())
    assert sorted(a["name"] for a in on_chain["actions"]) == sorted(
        a["name"] for a in local["actions"]
    )


def test_admin_and_fee_are_configured(local_chain: LocalChain) -> None:
    abi = local_chain.client.abi_for(CONTRACT_ACCOUNT)
    assert abi is not None
    if not (abi.has_action("setadmin") and "settings" in abi.tables):
        pytest.fail("the contract ABI lacks setadmin or the settings table")
    rows = local_chain.client.get_table_rows(CONTRACT_ACCOUNT, CONTRACT_ACCOUNT, "settings")
    assert len(rows["rows"]) == 1
    settings = rows["rows"][0]
    assert settings["admin"] == ADMIN_ACCOUNT
    assert settings["feeacc"] == FEE_ACCOUNT
    assert int(settings["fee_permille"]) == FEE_PERMILLE


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        node = LocalChain(tmp_path / "busy", port=port)
        before = list(LocalChain.started_pids)
        with pytest.raises(ChainError, match=f"port {port} on 127.0.0.1 is already in use"):
            node.start()
        assert LocalChain.started_pids == before  # nothing was started


def test_second_start_on_same_dir_is_refused(local_chain: LocalChain) -> None:
    other = LocalChain(local_chain.data_dir)
    with pytest.raises(ChainError, match="already running"):
        other.start()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payoutengine.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_cli_chain_up_status_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "cli-chain"
    up = _cli("chain", "up", "--data-dir", str(data_dir))
    state = data_dir / "node.json"
    if state.exists():
        register_process_group(json.loads(state.read_text())["pid"])
    try:
        assert up.returncode == 0, up.stderr
        endpoint = next(
            line.split(": ", 1)[1] for line in up.stdout.splitlines() if line.startswith("endpoint")
        )
        pid = json.loads(state.read_text())["pid"]
        with ChainClient([endpoint]) as client:
            assert client.get_code_hash(CONTRACT_ACCOUNT) != "0" * 64
        status = _cli("chain", "status", "--data-dir", str(data_dir))
        assert status.returncode == 0 and endpoint in status.stdout
        again = _cli("chain", "up", "--data-dir", str(data_dir))
        assert again.returncode == 1
        assert again.stderr.startswith("ChainError: A local chain is already running")
        assert "Traceback" not in again.stderr
    finally:
        down = _cli("chain", "down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert not process_group_alive(pid)
    assert not state.exists()
    status = _cli("chain", "status", "--data-dir", str(data_dir))
    assert status.returncode == 3 and "not running" in status.stdout


def test_cli_port_in_use_message(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = _cli("chain", "up", "--data-dir", str(tmp_path / "x"), "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ChainError: The port {port} on 127.0.0.1 is already in use; choose another port "
        "(--port) or stop the program listening there."
    )
