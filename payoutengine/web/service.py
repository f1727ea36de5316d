"""Everything the pages need, built once from the configuration: the chain client and its
reads, the claim desk (sponsor key, journal, limits), the operator reads; short caches for
the payer and operator pages, which read more than one account's rows."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..authority import check_signing_key
from ..client import ChainClient
from ..errors import ConfigError, KeyFileError
from ..journal import Journal
from ..keys import PrivateKey, load_key
from .chainview import ChainView, PayerView
from .claims import ClaimDesk
from .config import WebConfig
from .limits import CpuBudget, SlidingWindow
from .operator import OperatorReader, PaymentSeen, _engine, now_utc, recent_payments

__all__ = ["WebService", "load_operator_token", "load_sponsor_key"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: recent payments shown per journal on a recipient's page.
PAYMENTS_SHOWN = 20


def load_sponsor_key(cfg: WebConfig) -> PrivateKey:
    """The sponsor key from ``[sponsor] key_env`` when that variable is set, else ``key_file``."""
    return load_key(
        cfg.sponsor.key_env or None, Path(cfg.sponsor.key_file) if cfg.sponsor.key_file else None
    )


def load_operator_token(cfg: WebConfig, env: dict[str, str] | None = None) -> str:
    """The operator token ("" when none is configured: the page answers loopback only)."""
    import os

    env = dict(os.environ) if env is None else env
    if cfg.operator.token_env and env.get(cfg.operator.token_env, ""):
        token = env[cfg.operator.token_env].strip()
    elif cfg.operator.token_file:
        path = Path(cfg.operator.token_file)
        try:
            if path.stat().st_mode & 0o077:
                raise KeyFileError(
                    f"The operator token file {path} is readable by others; chmod 600 it."
                )
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(f"The operator token file {path} does not exist.") from None
    else:
        return ""
    if len(token) < 16:
        raise ConfigError("The operator token must have at least 16 characters.")
    return token


@dataclass
class _Cache:
    ttl_s: float
    values: dict[str, tuple[float, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str, read: Callable[[], T]) -> T:
        with self.lock:
            hit = self.values.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]  # type: ignore[no-any-return]
        value = read()
        with self.lock:
            if len(self.values) > 1000:
                self.values.clear()
            self.values[key] = (time.monotonic(), value)
        return value


class WebService:
    def __init__(self, config: WebConfig, *, sponsor_key: PrivateKey, operator_token: str) -> None:
        self.config = config
        self.operator_token = operator_token
        c = config.chain
        self.client = ChainClient(
            c.endpoints,
            timeout=c.timeout_s,
            max_head_age_s=c.max_head_age_s,
            expected_chain_id=c.chain_id or None,
        )
        self.view = ChainView(self.client, config.contract.account)
        self.journal = Journal(config.journal.url)
        lim = config.limits
        self.claims = ClaimDesk(
            client=self.client,
            view=self.view,
            journal=self.journal,
            key=sponsor_key,
            contract=config.contract.account,
            authority=config.sponsor_authority,
            budget=CpuBudget(self.journal, lim.cpu_us_per_day),
            per_account=SlidingWindow(lim.claims_per_account, lim.window_s),
            per_address=SlidingWindow(lim.claims_per_address, lim.window_s),
        )
        same = config.daemon.journal_url == config.journal.url
        self.daemon_engine = (
            _engine(config.daemon.journal_url) if config.daemon.journal_url and not same else None
        )
        self.operator = OperatorReader(
            client=self.client,
            view=self.view,
            daemon_journal_url=config.daemon.journal_url,
            metrics_url=config.daemon.metrics_url,
            alerts_url=config.operator.alerts_url,
            sync_state_urls=config.payer_sync.state_urls,
            admin_account=config.daemon.account,
            sponsor_account=config.sponsor.account,
        )
        self._payer_cache = _Cache(ttl_s=max(2.0, config.server.refresh_s / 2))
        self._operator_cache = _Cache(ttl_s=2.0)

    def preflight(self, key: PrivateKey) -> None:
        """The chain answers and the sponsor key signs for its permission, not for owner."""
        check_signing_key(
            self.client,
            self.config.sponsor.account,
            self.config.sponsor.permission,
            key,
            advice="give the web server a key of a permission linked to claim only (docs/web.md).",
        )

    def start(self) -> None:
        self.claims.start()

    def stop(self) -> None:
        self.claims.stop()
        self.view.close()
        self.operator.close()
        if self.daemon_engine is not None:
            self.daemon_engine.dispose()
        self.journal.close()
        self.client.close()

    def recent_payments(self, account: str) -> list[PaymentSeen]:
        """Payments to ``account`` the daemon's journal and this server's claims know of."""
        seen = recent_payments(self.journal.engine, account, limit=PAYMENTS_SHOWN)
        if self.daemon_engine is not None:
            try:
                seen += recent_payments(self.daemon_engine, account, limit=PAYMENTS_SHOWN)
            except Exception as e:  # the page still shows what it has
                log.warning("the daemon journal cannot be read", extra={"error": str(e)})
        return seen

    def payer_view(self, payer: str) -> PayerView:
        return self._payer_cache.get(payer, lambda: self.view.payer(payer))

    def operator_context(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            v = self.operator.read()
            budget = self.claims.budget.state()
            v.sponsor_cpu = {
                "day": budget.day,
                "spent_us": budget.spent_us,
                "limit_us": budget.limit_us,
                "left_us": budget.left_us,
            }
            if budget.exhausted:
                from .operator import Alert

                v.alerts.append(
                    Alert(
                        "SponsorBudgetExhausted",
                        "warning",
                        "the sponsor's CPU budget for today is used up; claims are refused",
                        "web",
                    )
                )
            with self.journal.session() as s:
                v.claims = Journal.count_by_status(s)
            return {"op": v, "read_at": now_utc()}

        return self._operator_cache.get("operator", read)
