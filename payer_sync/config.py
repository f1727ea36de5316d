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
    # kind = "redis": a mining pool's Redis in open-ethereum-pool's layout (see [redis])
    # url = "redis://127.0.0.1:6379/0"

    [redis]                                 # only with [source] kind = "redis"
    prefix = "eth"                          # the pool's key prefix: <prefix>:miners:<login>
    total_fields = ["balance"]              # summed: a miner's lifetime total in pool units
    units_per_token_unit = 1                # pool units per smallest token unit (exact ratio)
    accounts_key = ""                       # hash login -> account ("" = no Redis mapping)
    accounts_url = ""                       # or an SQL database with ...
    accounts_query = ""                     # ... "SELECT login, account FROM ..."
    logins_as_accounts = true               # an unmapped login that is an account name is one
    changes = "credits"                     # incremental from <prefix>:credits:all, or "none"

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

    [resources]                             # CPU/NET/RAM budget (payoutengine.resourcekeeper)
    max_ram_fee_per_day = "1.0000 EOS"      # buyrambytes for bookings and open rows
    max_powerup_fee_per_day = "1.0000 EOS"  # EOS: the payer powers itself up

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
from payoutengine.resourcekeeper import ResourcesConfig, check_resources_config

__all__ = [
    "BatchConfig",
    "ChainConfig",
    "PayerConfig",
    "RedisConfig",
    "ResourcesConfig",
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
    kind: Literal["ledger", "query", "redis"] = "ledger"
    url: str = "sqlite:///ledger.sqlite"
    query: str | None = None
    total_unit: Literal["smallest", "token"] = "smallest"
    default_memo: str = ""


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """A mining pool's Redis (docs/operations.md, "Moving a mining pool onto the engine")."""

    #: open-ethereum-pool's ``[redis] prefix`` / coin name: miners are ``<prefix>:miners:<login>``
    prefix: str = "eth"
    #: hash fields summed into a miner's lifetime total, integers in pool units
    total_fields: tuple[str, ...] = ("balance",)
    #: how many pool units make one smallest token unit; totals are divided exactly and the
    #: remainder stays owed in the pool (booked once it adds up to a whole unit)
    units_per_token_unit: int = 1
    #: a Redis hash login -> chain account ("" = none)
    accounts_key: str = ""
    #: or an SQL database (SQLAlchemy URL) and a query returning (login, account) rows
    accounts_url: str = ""
    accounts_query: str = ""
    #: an unmapped login that is a valid account name is booked to that account
    logins_as_accounts: bool = True
    #: "credits": incremental syncs read the matured-block credits the pool logs in
    #: <prefix>:credits:all; "none": every sync is a full scan
    changes: Literal["credits", "none"] = "credits"


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
    redis: RedisConfig = field(default_factory=RedisConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)


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
    if source.kind not in ("ledger", "query", "redis"):
        raise ConfigError(
            f'[source] kind must be "ledger", "query" or "redis", not {source.kind!r}.'
        )
    if source.kind == "query" and not source.query:
        raise ConfigError(
            '[source] kind = "query" needs [source] query = "SELECT recipient, total[, memo] '
            'FROM ...".'
        )
    if source.kind != "query" and source.query:
        raise ConfigError(
            '[source] query is only used with kind = "query"; remove it or set kind = "query".'
        )
    redis: RedisConfig = m["redis"]
    _check_redis(source, redis)
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
    resources: ResourcesConfig = m["resources"]
    check_resources_config(resources)
    return SyncConfig(
        chain=chain,
        payer=payer,
        source=source,
        state=state,
        batch=batch,
        topup=topup,
        run=run,
        redis=redis,
        resources=resources,
    )


def _check_redis(source: SourceConfig, redis: RedisConfig) -> None:
    if source.kind != "redis":
        return
    if not source.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f'[source] kind = "redis" needs a Redis URL such as redis://127.0.0.1:6379/0 in '
            f"[source] url, not {source.url!r}."
        )
    if not redis.prefix or ":" in redis.prefix or "*" in redis.prefix:
        raise ConfigError(
            "[redis] prefix must be the pool's key prefix without ':' or '*', e.g. \"eth\"."
        )
    if not redis.total_fields:
        raise ConfigError('[redis] total_fields must name at least one hash field ("balance").')
    if redis.units_per_token_unit < 1:
        raise ConfigError(
            "[redis] units_per_token_unit must be a whole number of pool units (1 or more) per "
            "smallest token unit, e.g. 100000 for Shannon (10^9 per coin) into a 4-decimal token."
        )
    if bool(redis.accounts_url) != bool(redis.accounts_query):
        raise ConfigError(
            "[redis] accounts_url and accounts_query go together: a database and a query "
            'returning (login, account) rows, e.g. "SELECT login, account FROM miner_accounts".'
        )
    if redis.accounts_key and redis.accounts_url:
        raise ConfigError(
            "Map logins to accounts in one place: [redis] accounts_key (a Redis hash) or "
            "[redis] accounts_url with accounts_query (an SQL table), not both."
        )
    if redis.changes not in ("credits", "none"):
        raise ConfigError('[redis] changes must be "credits" or "none".')
