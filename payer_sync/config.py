"""Configuration of payer sync: its typed sections and their validation.

Every value has a documented default except the chain endpoints, the payer, the schedule and
the key. An invalid value or combination raises :class:`~payoutengine.errors.ConfigError` at
load time with a sentence that says how to fix it.

::

    [chain]
    endpoints = ["http://127.0.0.1:8888"]   # tried in order (failover)
    contract = "payoutengine"               # the engine's account
    timeout_s = 10
    max_lib_lag_s = 300                     # book nothing while the LIB lags the head more

    [payer]
    account = "mypayer"
    schedule = "salaries"
    permission = "active"
    key_env = "PAYER_SYNC_KEY"              # or key_file = "/run/secrets/payer.wif"

    [source]
    kind = "ledger"                         # our own credits table, or "query"
    url = "sqlite:///ledger.sqlite"         # any SQLAlchemy URL
    # kind = "query": a query returning (recipient, total[, memo]) rows, one per recipient
    # query = "SELECT account, SUM(owed) FROM payouts GROUP BY account"
    # total_unit = "smallest"               # "smallest": integers in the token's smallest
    #                                       # unit; "token": decimal amounts like '1.2500'
    default_memo = ""                       # memo when a credit/row has none

    [state]
    url = "sqlite:///payer-sync-state.sqlite"   # local cache: invalid names, journal, watermark

    [batch]
    records_per_tx = 100                    # bookm records (and open actions) per transaction
    expiration_s = 120
    confirm = "lib"                         # wait for irreversibility ("lib") or not ("none")

    [topup]                                 # absent: never deposit on our own
    max_per_run = "100.0000 TST"            # the most one sync may deposit
    memo = "payer sync top-up"

    [run]
    interval_s = 5                          # incremental sync period
    full_scan_every_s = 3600                # full comparison period
    invalid_recheck_s = 86400               # nonexistent accounts are asked again after this

Environment overrides: ``PAYOUTENGINE_<SECTION>_<OPTION>`` (upper case), e.g.
``PAYOUTENGINE_SOURCE_URL``, ``PAYOUTENGINE_CHAIN_ENDPOINTS`` (comma-separated),
``PAYOUTENGINE_BATCH_RECORDS_PER_TX``; an empty variable counts as not set, and a relative
SQLite path is relative to the config file (the rules of :mod:`payoutengine.config`, shared
with the admin daemon).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_type_hints

from payoutengine.amounts import Asset
from payoutengine.config import env_name, load_sections
from payoutengine.errors import AmountError, ConfigError
from payoutengine.names import name_problem

__all__ = [
    "BatchConfig",
    "ChainConfig",
    "PayerConfig",
    "RunConfig",
    "SourceConfig",
    "StateConfig",
    "SyncConfig",
    "TopUpConfig",
    "load_config",
]

#: nodeos' default max-transaction-time is 30 ms; a bookm record for a brand-new recipient plus
#: its eosio.token open costs well under 0.1 ms (measured by bench/sync.py), so 100 records stay
#: far below both the CPU limit and the 512 KiB transaction size.
DEFAULT_RECORDS_PER_TX = 100
MAX_RECORDS_PER_TX = 2000
MAX_MEMO_BYTES = 256


@dataclass(frozen=True, slots=True)
class ChainConfig:
    endpoints: tuple[str, ...] = ()
    contract: str = "payoutengine"
    timeout_s: float = 10.0
    #: a sync books nothing while the last irreversible block is more than this many seconds
    #: behind the head block (blocks are not becoming final); above the chain's normal lag.
    max_lib_lag_s: float = 300.0


@dataclass(frozen=True, slots=True)
class PayerConfig:
    account: str
    schedule: str
    permission: str = "active"
    key_env: str | None = None
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class SourceConfig:
    kind: Literal["ledger", "query"] = "ledger"
    url: str = "sqlite:///ledger.sqlite"
    query: str | None = None
    total_unit: Literal["smallest", "token"] = "smallest"
    default_memo: str = ""


@dataclass(frozen=True, slots=True)
class StateConfig:
    url: str = "sqlite:///payer-sync-state.sqlite"


@dataclass(frozen=True, slots=True)
class BatchConfig:
    records_per_tx: int = DEFAULT_RECORDS_PER_TX
    expiration_s: int = 120
    confirm: Literal["lib", "none"] = "lib"
    confirm_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class TopUpConfig:
    #: the most one sync may deposit, as a token amount text ("100.0000 TST"); None = never
    max_per_run: str | None = None
    memo: str = "payer sync top-up"


@dataclass(frozen=True, slots=True)
class RunConfig:
    interval_s: float = 5.0
    full_scan_every_s: float = 3600.0
    invalid_recheck_s: float = 86400.0


@dataclass(frozen=True, slots=True)
class SyncConfig:
    chain: ChainConfig
    payer: PayerConfig
    source: SourceConfig = field(default_factory=SourceConfig)
    state: StateConfig = field(default_factory=StateConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    topup: TopUpConfig = field(default_factory=TopUpConfig)
    run: RunConfig = field(default_factory=RunConfig)


def _check_name(value: str, what: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ConfigError(f"{what} {value!r} is not a valid account name: {problem}.")
    return value


def load_config(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> SyncConfig:
    """Read ``path`` (TOML; optional when everything comes from the environment), apply the
    ``PAYOUTENGINE_*`` overrides of ``env`` (default: ``os.environ``; rules in
    :mod:`payoutengine.config`) and validate."""
    m = load_sections(path, get_type_hints(SyncConfig), env=env)

    chain: ChainConfig = m["chain"]
    if not chain.endpoints:
        raise ConfigError(
            'No chain endpoint is configured; set [chain] endpoints = ["http://host:8888"] '
            f"or {env_name('chain', 'endpoints')}."
        )
    for url in chain.endpoints:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"The endpoint {url!r} must start with http:// or https://.")
    _check_name(chain.contract, "[chain] contract")
    if chain.timeout_s <= 0:
        raise ConfigError("[chain] timeout_s must be a positive number of seconds.")
    if chain.max_lib_lag_s < 5:
        raise ConfigError(
            "[chain] max_lib_lag_s must be at least 5 seconds: even on a healthy chain the last "
            "irreversible block is a few blocks behind the head (300 suits most chains)."
        )

    payer: PayerConfig = m["payer"]
    if (payer.key_env is None) == (payer.key_file is None):
        raise ConfigError(
            'Give the payer\'s key in exactly one way: [payer] key_env = "VAR" (an environment '
            'variable holding the key) or [payer] key_file = "/path/to/key" (mode 0600).'
        )
    _check_name(payer.account, "[payer] account")
    _check_name(payer.schedule, "[payer] schedule")
    _check_name(payer.permission, "[payer] permission")

    source: SourceConfig = m["source"]
    if source.kind not in ("ledger", "query"):
        raise ConfigError(f'[source] kind must be "ledger" or "query", not {source.kind!r}.')
    if source.kind == "query" and not source.query:
        raise ConfigError(
            '[source] kind = "query" needs [source] query = "SELECT recipient, total[, memo] '
            'FROM ...".'
        )
    if source.kind == "ledger" and source.query:
        raise ConfigError(
            '[source] query is only used with kind = "query"; remove it or set kind = "query".'
        )
    if source.total_unit not in ("smallest", "token"):
        raise ConfigError(
            f'[source] total_unit must be "smallest" (integers in the token\'s smallest unit) '
            f"or \"token\" (decimal amounts like '1.2500'), not {source.total_unit!r}."
        )
    if len(source.default_memo.encode()) > MAX_MEMO_BYTES:
        raise ConfigError(f"[source] default_memo is longer than {MAX_MEMO_BYTES} bytes.")

    state: StateConfig = m["state"]
    batch: BatchConfig = m["batch"]
    if not 1 <= batch.records_per_tx <= MAX_RECORDS_PER_TX:
        raise ConfigError(
            f"[batch] records_per_tx must be between 1 and {MAX_RECORDS_PER_TX}, not "
            f"{batch.records_per_tx}."
        )
    if not 10 <= batch.expiration_s <= 3600:
        raise ConfigError("[batch] expiration_s must be between 10 and 3600 seconds.")
    if batch.confirm not in ("lib", "none"):
        raise ConfigError('[batch] confirm must be "lib" or "none".')

    topup: TopUpConfig = m["topup"]
    if topup.max_per_run is not None:
        try:
            cap = Asset.parse(topup.max_per_run)
        except AmountError as exc:
            raise ConfigError(f"[topup] max_per_run: {exc}") from None
        if cap.amount <= 0:
            raise ConfigError("[topup] max_per_run must be positive; remove [topup] to disable.")

    run: RunConfig = m["run"]
    if run.interval_s <= 0 or run.full_scan_every_s <= 0 or run.invalid_recheck_s < 0:
        raise ConfigError("[run] intervals must be positive numbers of seconds.")
    return SyncConfig(
        chain=chain, payer=payer, source=source, state=state, batch=batch, topup=topup, run=run
    )
