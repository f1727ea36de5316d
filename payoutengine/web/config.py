"""Configuration of ``payoutengine web``: typed sections, loaded by :mod:`payoutengine.config`
(the same rules as the other programs: ``PAYOUTENGINE_<SECTION>_<OPTION>`` overrides, relative
SQLite paths relative to the file, no secret in the file).

Two secrets, neither ever in the file nor sent to a browser:

- the sponsor's private key (it signs ``claim`` for recipients): the environment variable named
  by ``[sponsor] key_env`` (default ``PAYOUTENGINE_SPONSOR_KEY``) or ``[sponsor] key_file``;
- the operator page's bearer token: the variable named by ``[operator] token_env`` (default
  ``PAYOUTENGINE_OPERATOR_TOKEN``) or ``[operator] token_file``. Without a token the operator
  page answers loopback clients only.

A minimal file::

    [chain]
    endpoints = ["http://127.0.0.1:8888"]

    [sponsor]
    account = "pe.admin"
    permission = "sponsor"
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_type_hints

from ..config import ENV_PREFIX, load_sections, resolve_sqlite_url
from ..errors import ConfigError
from ..names import name_problem

__all__ = [
    "ChainSection",
    "ContractSection",
    "DaemonSection",
    "JournalSection",
    "LimitsSection",
    "LogSection",
    "OperatorSection",
    "PayerSyncSection",
    "ServerSection",
    "SponsorSection",
    "WebConfig",
    "load_web_config",
]

_URL_RE = re.compile(r"^https?://[^\s/]+(/.*)?$")
_CHAIN_ID_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ChainSection:
    """How to reach the chain (as the daemon's ``[chain]``)."""

    endpoints: list[str] = field(default_factory=list)
    chain_id: str = ""
    timeout_s: float = 5.0
    max_head_age_s: float = 10.0


@dataclass(frozen=True)
class ContractSection:
    account: str = "payoutengine"


@dataclass(frozen=True)
class ServerSection:
    """Where the pages are served."""

    #: address to listen on; loopback by default (put a TLS reverse proxy in front).
    host: str = "127.0.0.1"
    port: int = 8090
    #: addresses of reverse proxies whose X-Forwarded-For is trusted (comma-separated or a
    #: list); empty: the TCP peer is the client address the limits count.
    trusted_proxies: list[str] = field(default_factory=list)
    #: seconds between live updates of a page (faster while a claim is on its way).
    refresh_s: float = 5.0


@dataclass(frozen=True)
class SponsorSection:
    """The operator's account that signs (and pays the CPU of) recipients' claims."""

    account: str = ""
    #: a permission linked to ``claim`` only (docs/web.md); never ``owner`` or ``active``.
    permission: str = "sponsor"
    key_env: str = "PAYOUTENGINE_SPONSOR_KEY"
    key_file: str = ""


@dataclass(frozen=True)
class JournalSection:
    """The web server's own journal: the claims it signs, followed to irreversibility, and
    the sponsor's CPU spent per day."""

    url: str = "sqlite:///payoutengine-web.sqlite"


@dataclass(frozen=True)
class DaemonSection:
    """What the admin daemon leaves for the pages to read (all optional)."""

    #: the daemon's journal ([journal] url of admin.toml), read only: payments with their
    #: transaction ids, in-flight and failed transactions, poison recipients.
    journal_url: str = ""
    #: the daemon's /metrics, e.g. http://127.0.0.1:9108/metrics.
    metrics_url: str = ""
    #: the admin account, for its resource usage (default: settings.admin on chain).
    account: str = ""


@dataclass(frozen=True)
class PayerSyncSection:
    #: payer sync state databases ([state] url of each sync.toml): their last reports.
    state_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OperatorSection:
    """Who may see the operator page."""

    token_env: str = "PAYOUTENGINE_OPERATOR_TOKEN"
    token_file: str = ""
    #: a Prometheus (or Alertmanager) base URL whose /api/v1/alerts lists the firing alerts.
    alerts_url: str = ""


@dataclass(frozen=True)
class LimitsSection:
    """What keeps the sponsor from being drained."""

    #: claims one recipient account may ask for per window.
    claims_per_account: int = 3
    #: claims one client address may ask for per window.
    claims_per_address: int = 10
    #: the window of both counts, seconds.
    window_s: float = 3600.0
    #: page views and lookups one client address may make per minute.
    lookups_per_minute: int = 120
    #: CPU the sponsor may spend on claims per UTC day, microseconds (persisted in the journal).
    cpu_us_per_day: int = 200_000


@dataclass(frozen=True)
class LogSection:
    json: bool = False
    level: str = "INFO"


@dataclass(frozen=True)
class WebConfig:
    chain: ChainSection = field(default_factory=ChainSection)
    contract: ContractSection = field(default_factory=ContractSection)
    server: ServerSection = field(default_factory=ServerSection)
    sponsor: SponsorSection = field(default_factory=SponsorSection)
    journal: JournalSection = field(default_factory=JournalSection)
    daemon: DaemonSection = field(default_factory=DaemonSection)
    payer_sync: PayerSyncSection = field(default_factory=PayerSyncSection)
    operator: OperatorSection = field(default_factory=OperatorSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    log: LogSection = field(default_factory=LogSection)

    @property
    def sponsor_authority(self) -> str:
        return f"{self.sponsor.account}@{self.sponsor.permission}"


def _check_name(what: str, value: str) -> None:
    problem = name_problem(value)
    if problem:
        raise ConfigError(f"{what} {value!r} is not a valid account or permission name: {problem}.")


def _validate(cfg: WebConfig) -> None:
    if not cfg.chain.endpoints:
        raise ConfigError(
            "No chain endpoint is configured: set [chain] endpoints in the configuration file "
            f"or {ENV_PREFIX}CHAIN_ENDPOINTS."
        )
    for url in [*cfg.chain.endpoints, cfg.daemon.metrics_url, cfg.operator.alerts_url]:
        if url and not _URL_RE.match(url):
            raise ConfigError(f"{url!r} is not an http(s) URL such as http://127.0.0.1:8888.")
    if cfg.chain.chain_id and not _CHAIN_ID_RE.match(cfg.chain.chain_id):
        raise ConfigError("[chain] chain_id must be 64 lowercase hex characters.")
    if cfg.chain.timeout_s <= 0 or cfg.chain.max_head_age_s <= 0:
        raise ConfigError("[chain] timeout_s and max_head_age_s must be positive.")
    _check_name("[contract] account", cfg.contract.account)
    if not cfg.sponsor.account:
        raise ConfigError(
            "[sponsor] account is not set; it names the operator's account whose permission "
            "linked to claim signs recipients' claims (docs/web.md)."
        )
    _check_name("[sponsor] account", cfg.sponsor.account)
    _check_name("[sponsor] permission", cfg.sponsor.permission)
    if cfg.sponsor.permission in ("owner", "active"):
        raise ConfigError(
            f"[sponsor] permission must not be {cfg.sponsor.permission!r}: create a permission "
            "linked to claim only (docs/web.md, 'The sponsor permission')."
        )
    if not cfg.sponsor.key_env and not cfg.sponsor.key_file:
        raise ConfigError(
            "Set [sponsor] key_env or [sponsor] key_file so the server finds its key."
        )
    if cfg.daemon.account:
        _check_name("[daemon] account", cfg.daemon.account)
    if not 1 <= cfg.server.port <= 65535:
        raise ConfigError("[server] port must lie between 1 and 65535.")
    if cfg.server.refresh_s < 0.5:
        raise ConfigError("[server] refresh_s must be at least 0.5 seconds.")
    lim = cfg.limits
    if min(lim.claims_per_account, lim.claims_per_address, lim.lookups_per_minute) < 1:
        raise ConfigError(
            "[limits] claims_per_account, claims_per_address and lookups_per_minute must be at "
            "least 1."
        )
    if lim.window_s <= 0 or lim.cpu_us_per_day < 0:
        raise ConfigError("[limits] window_s must be positive and cpu_us_per_day not negative.")
    if "://" not in cfg.journal.url:
        raise ConfigError(
            "[journal] url must be an SQLAlchemy URL such as sqlite:///payoutengine-web.sqlite."
        )
    if cfg.daemon.journal_url and "://" not in cfg.daemon.journal_url:
        raise ConfigError(
            "[daemon] journal_url must be the admin daemon's [journal] url, an SQLAlchemy URL."
        )
    if cfg.log.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("[log] level must be DEBUG, INFO, WARNING or ERROR.")


def load_web_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> WebConfig:
    """Read ``path`` (the environment only when None), apply the overrides, validate; raises
    ConfigError with one sentence saying what to fix."""
    sections = load_sections(
        None if path is None else Path(path), get_type_hints(WebConfig), env=env
    )
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    sync = sections["payer_sync"]
    sections["payer_sync"] = PayerSyncSection(
        state_urls=[resolve_sqlite_url(u, base) for u in sync.state_urls]
    )
    cfg = WebConfig(**sections)
    _validate(cfg)
    return cfg
