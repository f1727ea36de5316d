"""`payoutengine deploy` against the local node, as an operator would run it on a real chain."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from payoutengine.localchain import DEV_KEY, LocalChain
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM, REPO_ROOT


def _deploy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payoutengine.cli", "deploy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
    )


def test_deploy_command(
    local_chain: LocalChain, new_account: Callable[..., str], tmp_path: Path
) -> None:
    account = new_account("d")
    admin = new_account("a")
    key_file = tmp_path / "deployer.key"
    key_file.write_text(DEV_KEY.to_wif() + "\n")
    key_file.chmod(0o600)
    common = [
        "--url",
        local_chain.url,
        "--account",
        account,
        "--wasm",
        str(CONTRACT_WASM),
        "--abi",
        str(CONTRACT_ABI),
    ]
    # The fee account needs a balance row in every token the contract allows.
    local_chain.action(
        "eosio.token", "open", {"owner": admin, "symbol": "4,TST", "ram_payer": admin},
        f"{admin}@active",
    )  # fmt: skip
    result = _deploy(
        *common, "--key-file", str(key_file), "--admin", admin,
        "--fee-account", admin, "--fee-permille", "5", "--admin-key-env", "PE_ADMIN_KEY",
        "--allow-token", "eosio.token:4,TST",
        env={"PE_ADMIN_KEY": DEV_KEY.to_wif()},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert DEV_KEY.to_wif() not in result.stdout + result.stderr
    c = local_chain.client
    assert c.get_code_hash(account) == hashlib.sha256(CONTRACT_WASM.read_bytes()).hexdigest()
    info = c.get_account(account)
    assert info is not None
    active = next(p for p in info["permissions"] if p["perm_name"] == "active")
    assert active["required_auth"]["keys"][0]["key"] in (DEV_KEY.public_key, DEV_KEY.public_key_k1)
    assert {"actor": account, "permission": "eosio.code"} in [
        a["permission"] for a in active["required_auth"]["accounts"]
    ]
    settings = c.get_table_rows(account, account, "settings")["rows"][0]
    assert settings["admin"] == admin and int(settings["fee_permille"]) == 5
    tokens = c.get_table_rows(account, account, "tokens")["rows"]
    assert [(t["tkcontract"], t["currency"]) for t in tokens] == [("eosio.token", "4,TST")]

    again = _deploy(*common, "--key-env", "PE_DEPLOY_KEY", env={"PE_DEPLOY_KEY": DEV_KEY.to_wif()})
    assert again.returncode == 0, again.stderr
    assert '"eosio_code_added": false' in again.stdout


def test_deploy_bad_key_is_a_sentence(local_chain: LocalChain) -> None:
    result = _deploy(
        "--url", local_chain.url, "--account", "payoutengine", "--key-env", "PE_BAD_KEY",
        env={"PE_BAD_KEY": "5Knotakey"},
    )  # fmt: skip
    assert result.returncode == 2  # bad input (docs/operations.md, exit statuses)
    assert result.stderr.startswith("KeyFileError: The private key in the environment variable")
    assert "Traceback" not in result.stderr


def test_deploy_unreachable_endpoint(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    key_file.write_text(DEV_KEY.to_wif())
    key_file.chmod(0o600)
    result = _deploy(
        "--url", "http://127.0.0.1:9", "--account", "payoutengine", "--key-file", str(key_file),
        env={},
    )  # fmt: skip
    assert result.returncode == 3  # no endpoint answers
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("EndpointError: No chain API endpoint answered /v1/chain/")
    assert "http://127.0.0.1:9 (ConnectError" in last
    assert "Traceback" not in result.stderr
