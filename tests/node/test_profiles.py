"""Mainnet-like local chains (``--profile eos|wax|telos``): system contract, parameters, RAM
market, PowerUp / staking, and the engine bootstrapped on top."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from payoutengine.client import ChainClient
from payoutengine.errors import ConfigError, TransactionError
from payoutengine.localchain import (
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    FEE_ACCOUNT,
    FEE_PERMILLE,
    TOKEN_ACCOUNT,
)
from payoutengine.profiles import PROFILES, get_profile
from payoutengine.systemchain import ProfileChain
from tests.conftest import CONTRACT_WASM, register_process_group
from tests.node.conftest import unique_name
from tests.node.test_localchain import _cli

SYSTEM_PROFILES = [pytest.param(name, id=name) for name in ("eos", "wax", "telos")]


def _next_block(chain: ProfileChain) -> None:
    """Resource limit changes take effect at the end of a block: wait for one more."""
    chain.wait_blocks(2)


@pytest.mark.parametrize("profile_chain", SYSTEM_PROFILES, indirect=True)
def test_system_profile_runs_mainnet_parameters(profile_chain: ProfileChain) -> None:
    params = profile_chain.client.call("/v1/chain/get_consensus_parameters", {})["chain_config"]
    for key, value in profile_chain.profile.params.items():
        assert params[key] == value, key
    abi = profile_chain.client.get_abi("eosio")
    assert abi is not None and "powerup" in {a["name"] for a in abi["actions"]}
    core = profile_chain.profile.core_code
    assert profile_chain.client.get_balance(TOKEN_ACCOUNT, "eosio", core) is not None
    rammarket = profile_chain.client.get_table_rows("eosio", "eosio", "rammarket")["rows"]
    assert len(rammarket) == 1


@pytest.mark.parametrize("profile_chain", SYSTEM_PROFILES, indirect=True)
def test_engine_is_deployed_and_configured(profile_chain: ProfileChain) -> None:
    client = profile_chain.client
    assert (
        client.get_code_hash(CONTRACT_ACCOUNT)
        == hashlib.sha256(CONTRACT_WASM.read_bytes()).hexdigest()
    )
    settings = client.get_table_rows(CONTRACT_ACCOUNT, CONTRACT_ACCOUNT, "settings")["rows"][0]
    assert settings["admin"] == ADMIN_ACCOUNT
    assert settings["feeacc"] == FEE_ACCOUNT
    assert int(settings["fee_permille"]) == FEE_PERMILLE
    tokens = client.get_table_rows(CONTRACT_ACCOUNT, CONTRACT_ACCOUNT, "tokens")["rows"]
    allowed = {row["currency"] for row in tokens}
    assert allowed == {"4,TST", "8,PAY", profile_chain.profile.core_symbol}
    # The engine's accounts live on bought RAM and limited CPU/NET, as on mainnet.
    for account in (CONTRACT_ACCOUNT, ADMIN_ACCOUNT, FEE_ACCOUNT):
        res = profile_chain.resources(account)
        assert 0 < res["ram_usage"] <= res["ram_quota"], account
        assert int(res["cpu_limit"]["max"]) > 0, account
        assert int(res["net_limit"]["max"]) > 0, account


@pytest.mark.parametrize("profile_chain", SYSTEM_PROFILES, indirect=True)
def test_new_account_starts_with_mainnet_resources(profile_chain: ProfileChain) -> None:
    profile = profile_chain.profile
    name = unique_name("r")
    profile_chain.create_account(name)
    _next_block(profile_chain)
    res = profile_chain.resources(name)
    assert res["ram_quota"] < profile.new_account_ram_bytes + 2 * 1024  # bought + the gift
    if profile.resources == "powerup":
        assert int(res["cpu_weight"]) == 0 and int(res["net_weight"]) == 0
        assert int(res["cpu_limit"]["max"]) == 0
    else:
        one = 10 ** int(profile.core_symbol.split(",")[0])
        assert int(res["cpu_weight"]) == one and int(res["net_weight"]) == one
        # a small stake is a small, finite share of the chain
        assert 0 < int(res["cpu_limit"]["max"]) < 10**6


@pytest.mark.parametrize("profile_chain", [pytest.param("eos", id="eos")], indirect=True)
def test_eos_account_needs_powerup(profile_chain: ProfileChain) -> None:
    name = unique_name("p")
    profile_chain.create_account(name)
    profile_chain.fund(name, "10.0000 TST")
    with pytest.raises(TransactionError) as no_net:
        profile_chain.transfer(name, FEE_ACCOUNT, "1.0000 TST")
    assert no_net.value.name == "tx_net_usage_exceeded"
    profile_chain.powerup(name, cpu_frac=0, net_frac=10**10)
    _next_block(profile_chain)
    with pytest.raises(TransactionError) as no_cpu:
        profile_chain.transfer(name, FEE_ACCOUNT, "1.0000 TST")
    assert no_cpu.value.name == "tx_cpu_usage_exceeded"
    profile_chain.powerup(name, cpu_frac=10**10, net_frac=0)
    _next_block(profile_chain)
    profile_chain.transfer(name, FEE_ACCOUNT, "1.0000 TST")


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="choose one of dev, eos, wax, telos"):
        get_profile("solana")
    assert set(PROFILES) == {"dev", "eos", "wax", "telos"}


def test_cli_chain_up_with_profile(tmp_path: Path) -> None:
    data_dir = tmp_path / "cli-eos"
    up = _cli("chain", "up", "--data-dir", str(data_dir), "--profile", "eos")
    state = data_dir / "node.json"
    if state.exists():
        register_process_group(json.loads(state.read_text())["pid"])
    try:
        assert up.returncode == 0, up.stderr
        assert "profile: eos (core token 4,EOS)" in up.stdout
        endpoint = next(
            line.split(": ", 1)[1] for line in up.stdout.splitlines() if line.startswith("endpoint")
        )
        with ChainClient([endpoint]) as client:
            assert client.get_code_hash(CONTRACT_ACCOUNT) != "0" * 64
            params = client.call("/v1/chain/get_consensus_parameters", {})["chain_config"]
            assert params["max_block_cpu_usage"] == 200_000
    finally:
        down = _cli("chain", "down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
