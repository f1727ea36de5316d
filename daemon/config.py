"""Configuration of the admin daemon: its typed sections and their validation.

The file and the environment are read by :mod:`payoutengine.config` (the same rules as payer
sync): every option can be overridden by ``PAYOUTENGINE_<SECTION>_<OPTION>``, for example
``PAYOUTENGINE_CHAIN_ENDPOINTS="http://a:8888,http://b:8888"`` or
``PAYOUTENGINE_PAYOUTS_MAX_COUNT=200``; an empty variable counts as not set; a relative SQLite
path is relative to the configuration file.

The admin's private key is never part of the file: it comes from the environment variable
named by ``admin.key_env`` (default ``PAYOUTENGINE_ADMIN_KEY``) or from ``admin.key_file``.

A minimal file::

    [chain]
    endpoints = ["http://127.0.0.1:8888"]

    [admin]
    account = "pe.admin"
    permission = "payout"
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_type_hints

from payoutengine.config import ENV_PREFIX, load_sections
from payoutengine.errors import ConfigError
from payoutengine.names import name_problem
from payoutengine.resourcekeeper import ResourcesConfig, check_resources_config

__all__ = [
    "AdminConfig",
    "ApprovalsConfig",
    "ChainConfig",
    "Config",
    "ContractConfig",
    "JournalConfig",
    "LogConfig",
    "MetricsConfig",
    "PayoutsConfig",
    "ResourcesConfig",
    "load_config",
]

_URL_RE = re.compile(r"^https?://[^\s/]+(/.*)?$")
_CHAIN_ID_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ChainConfig:
    """How to reach the chain."""

    #: API endpoints, tried in this order (failover with back-off).
    endpoints: list[str] = field(default_factory=list)
    #: expected chain id (hex); empty = take it from the first healthy endpoint.
    chain_id: str = ""
    #: HTTP timeout per request, seconds.
    timeout_s: float = 5.0
    #: an endpoint whose head block is older than this is unhealthy, seconds; when every
    #: endpoint is, new payouts wait (the ``head_behind`` anomaly).
    max_head_age_s: float = 10.0
    #: when the last irreversible block has not advanced for this long, new payouts wait
    #: (the ``lib_stalled`` anomaly), seconds. Above the chain's normal finality pauses.
    max_lib_stall_s: float = 60.0


@dataclass(frozen=True)
class ContractConfig:
    """Where the payout contract lives."""

    #: the account the payoutengine contract is deployed on.
    account: str = "payoutengine"


@dataclass(frozen=True)
class AdminConfig:
    """The admin account the daemon acts as, and where its key comes from."""

    #: the contract's admin account (``settings.admin``).
    account: str = ""
    #: the permission to sign with; make a dedicated one (docs/daemon.md), never ``owner``.
    permission: str = "active"
    #: name of the environment variable holding the private key (WIF or PVT_K1_).
    key_env: str = "PAYOUTENGINE_ADMIN_KEY"
    #: a file holding the private key (used when the variable is not set); mode 0600.
    key_file: str = ""


@dataclass(frozen=True)
class PayoutsConfig:
    """The payouts job: ``runpayouts(count)`` until nothing is due."""

    #: how often the revision counter and the ``active`` table are polled, seconds.
    interval_s: float = 1.0
    #: lower bound of ``count`` (payments per transaction).
    min_count: int = 1
    #: upper bound of ``count``.
    max_count: int = 400
    #: ``count`` at start.
    start_count: int = 50
    #: transactions sent but not yet seen in a block, at most.
    max_in_flight: int = 8
    #: threads sending runpayouts concurrently (the node executes one while the daemon signs,
    #: journals and reads the trace of another).
    senders: int = 3
    #: transaction expiration, seconds after the head block time.
    expiration_s: int = 60
    #: pause after a transaction with nothing left to pay, before the next poll, seconds.
    idle_recheck_s: float = 30.0


@dataclass(frozen=True)
class ApprovalsConfig:
    """The approvals job."""

    #: how often unapproved accounts are looked for, seconds.
    interval_s: float = 5.0
    #: accounts per approveacc/unapproveacc transaction.
    batch_size: int = 50
    #: how often approved accounts are re-checked for deployed code, seconds.
    recheck_interval_s: float = 300.0


@dataclass(frozen=True)
class JournalConfig:
    """The local transaction journal."""

    #: SQLAlchemy URL; a SQLite file by default.
    url: str = "sqlite:///payoutengine-admin.sqlite"


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus endpoint."""

    #: address to listen on (loopback by default).
    host: str = "127.0.0.1"
    #: port of ``/metrics``; 0 disables the endpoint.
    port: int = 9108
    #: how often chain-derived gauges (dues per schedule, unapproved accounts) refresh, seconds.
    refresh_s: float = 15.0


@dataclass(frozen=True)
class LogConfig:
    """Logging."""

    #: one JSON object per line instead of plain text.
    json: bool = False
    #: DEBUG, INFO, WARNING or ERROR.
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    """The whole daemon configuration."""

    chain: ChainConfig = field(default_factory=ChainConfig)
    contract: ContractConfig = field(default_factory=ContractConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    payouts: PayoutsConfig = field(default_factory=PayoutsConfig)
    approvals: ApprovalsConfig = field(default_factory=ApprovalsConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    @property
    def authority(self) -> str:
        """``account@permission`` of the admin."""
        return f"{self.admin.account}@{self.admin.permission}"


def _validate(cfg: Config) -> None:
    if not cfg.chain.endpoints:
        raise ConfigError(
            "No chain endpoint is configured: set [chain] endpoints in the configuration file "
            f"or {ENV_PREFIX}CHAIN_ENDPOINTS."
        )
    for url in cfg.chain.endpoints:
        if not _URL_RE.match(url):
            raise ConfigError(
                f"Endpoint {url!r} is not an http(s) URL such as http://127.0.0.1:8888."
            )
    if cfg.chain.chain_id and not _CHAIN_ID_RE.match(cfg.chain.chain_id):
        raise ConfigError("[chain] chain_id must be 64 lowercase hex characters.")
    if cfg.chain.timeout_s <= 0 or cfg.chain.max_head_age_s <= 0:
        raise ConfigError("[chain] timeout_s and max_head_age_s must be positive.")
    if cfg.chain.max_lib_stall_s < 5:
        raise ConfigError(
            "[chain] max_lib_stall_s must be at least 5 seconds: the last irreversible block "
            "advances in steps, even on a healthy chain (60 suits most chains)."
        )
    for what, name in (
        ("[contract] account", cfg.contract.account),
        ("[admin] account", cfg.admin.account),
        ("[admin] permission", cfg.admin.permission),
    ):
        if not name:
            raise ConfigError(f"{what} is not set; it names an account such as 'pe.admin'.")
        problem = name_problem(name)
        if problem:
            raise ConfigError(
                f"{what} {name!r} is not a valid account or permission name: {problem}."
            )
    if cfg.admin.permission == "owner":
        raise ConfigError(
            "[admin] permission must not be 'owner': create a dedicated permission linked to "
            "runpayouts, approveacc and unapproveacc (see docs/daemon.md)."
        )
    if not cfg.admin.key_env and not cfg.admin.key_file:
        raise ConfigError("Set [admin] key_env or [admin] key_file so the daemon finds its key.")
    p = cfg.payouts
    if not 1 <= p.min_count <= p.max_count <= 65535:
        raise ConfigError(
            "[payouts] needs 1 <= min_count <= max_count <= 65535 "
            f"(got min_count={p.min_count}, max_count={p.max_count})."
        )
    if not p.min_count <= p.start_count <= p.max_count:
        raise ConfigError("[payouts] start_count must lie between min_count and max_count.")
    if p.max_in_flight < 1:
        raise ConfigError("[payouts] max_in_flight must be at least 1.")
    if not 1 <= p.senders <= 32:
        raise ConfigError("[payouts] senders must lie between 1 and 32.")
    if not 5 <= p.expiration_s <= 3600:
        raise ConfigError("[payouts] expiration_s must lie between 5 and 3600 seconds.")
    if p.interval_s <= 0 or p.idle_recheck_s <= 0:
        raise ConfigError("[payouts] interval_s and idle_recheck_s must be positive.")
    a = cfg.approvals
    if not 1 <= a.batch_size <= 500:
        raise ConfigError("[approvals] batch_size must lie between 1 and 500.")
    if a.interval_s <= 0 or a.recheck_interval_s <= 0:
        raise ConfigError("[approvals] interval_s and recheck_interval_s must be positive.")
    if not 0 <= cfg.metrics.port <= 65535:
        raise ConfigError("[metrics] port must lie between 0 (disabled) and 65535.")
    if cfg.log.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("[log] level must be DEBUG, INFO, WARNING or ERROR.")
    check_resources_config(cfg.resources)
    if not cfg.journal.url or "://" not in cfg.journal.url:
        raise ConfigError(
            "[journal] url must be an SQLAlchemy URL such as sqlite:///payoutengine-admin.sqlite."
        )


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Config:
    """Read ``path`` (or only the environment when None), apply ``PAYOUTENGINE_*`` overrides
    (rules in :mod:`payoutengine.config`), validate.

    Raises ConfigError with one sentence saying what to fix.
    """
    sections = load_sections(None if path is None else Path(path), get_type_hints(Config), env=env)
    cfg = Config(**sections)
    _validate(cfg)
    return cfg
