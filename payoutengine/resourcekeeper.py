"""Acting on CPU, NET and RAM within a budget: the ``[resources]`` section of the admin daemon
and of payer sync.

:class:`ResourceKeeper` watches one signing account. When its available CPU or NET is below
the configured floor (or a transaction was refused because the account is out of it, see
:mod:`payoutengine.resources`) it acts according to the chain's resource model:

- PowerUp (EOS): the account ``powerup``\\ s itself, sized from the market's current state to
  ``powerup_cpu_us`` / ``powerup_net_bytes``, paying at most what is left of
  ``max_powerup_fee_per_day`` today (``max_payment``);
- staking (WAX, Telos): it reports; when ``stake_from`` is configured, that funding account
  ``delegatebw``\\ s ``stake_cpu`` / ``stake_net`` to it, within ``max_stake_per_day``;
- RAM (payer sync): ``buyrambytes`` for what a booking needs, within ``max_ram_fee_per_day``.

Every such transaction goes through the engine's one journaled send path
(:class:`payoutengine.sending.Sender`). What a day costs is kept in the journal's ``state``
table per UTC day, so a restart does not reset a cap: before a transaction is sent its
largest possible cost is reserved there under its id, and replaced by what its trace shows it
cost (released when the chain refuses it; kept when the outcome is unknown).

Past a cap the keeper logs one line, sets ``payoutengine_resource_budget_exhausted{account,
resource}`` to 1 and answers "not ready": the caller's work waits and is retried. It is ready
again by itself the next UTC day, when the configured cap (after a restart) covers what the
market asks, or when the account's usage has decayed above the floor.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from .amounts import Asset, Symbol
from .client import ChainClient
from .errors import AmountError, ChainError, ConfigError, EndpointError, TransactionError
from .journal import Journal
from .keys import PrivateKey, load_key
from .names import name_problem
from .resources import (
    AccountUsage,
    Exhaustion,
    Resource,
    account_usage,
    diagnose,
    exhaustion_of,
    powerup_market,
    refused_fee,
    resource_model,
)
from .sending import Sender
from .transactions import Action

__all__ = [
    "RESOURCE_KINDS",
    "ResourceKeeper",
    "ResourceMetrics",
    "ResourcesConfig",
    "check_resources_config",
    "load_stake_key",
    "spent_in_trace",
]

log = logging.getLogger(__name__)

#: journal kinds of the keeper's transactions
RESOURCE_KINDS = ("powerup", "delegatebw", "buyrambytes")
#: system accounts that receive what a resource transaction costs
_SINKS = frozenset({"eosio.rex", "eosio.ram", "eosio.ramfee", "eosio.stake", "eosio.reserv"})
#: how long new limits may take to show in get_account (they count from the end of a block)
_SETTLE_S = 3.0


@dataclass(frozen=True)
class ResourcesConfig:
    """``[resources]``: what the program may spend on CPU, NET and RAM. Amounts are exact
    assets in the chain's core token ("1.0000 EOS"); an empty cap never spends."""

    #: ``auto`` (read the chain: PowerUp market, staking, or unlimited), ``powerup``,
    #: ``stake`` or ``off`` (recognise and report only).
    model: str = "auto"
    #: below this available CPU (µs) the account gets more.
    min_cpu_us: int = 50_000
    #: below this available NET (bytes) the account gets more.
    min_net_bytes: int = 10_000
    #: the most PowerUp fees per UTC day; empty: never power up.
    max_powerup_fee_per_day: str = ""
    #: CPU (µs, in the chain's current state) one powerup rents.
    powerup_cpu_us: int = 1_000_000
    #: NET (bytes) one powerup rents.
    powerup_net_bytes: int = 100_000
    #: the funding account that stakes CPU/NET to this one (WAX, Telos); empty: report only.
    stake_from: str = ""
    #: the funding account's permission that signs delegatebw.
    stake_permission: str = "active"
    #: environment variable holding the funding account's key.
    stake_key_env: str = "PAYOUTENGINE_STAKE_KEY"
    #: a file (mode 0600) holding the funding account's key, when the variable is not set.
    stake_key_file: str = ""
    #: CPU stake per delegatebw ("10.00000000 WAX"); empty: none.
    stake_cpu: str = ""
    #: NET stake per delegatebw; empty: none.
    stake_net: str = ""
    #: the most staked per UTC day (CPU + NET); empty: never stake.
    max_stake_per_day: str = ""
    #: the most spent on RAM per UTC day (buyrambytes, fees included); empty: never buy.
    max_ram_fee_per_day: str = ""
    #: RAM bought on top of what a refused transaction needed, bytes.
    ram_margin_bytes: int = 8192
    #: how often the account's CPU/NET are looked at while the work runs, seconds.
    check_interval_s: float = 10.0


def _asset(value: str, where: str) -> Asset | None:
    if not value:
        return None
    try:
        asset = Asset.parse(value)
    except AmountError as e:
        raise ConfigError(f"[resources] {where}: {e}") from None
    if asset.amount <= 0:
        raise ConfigError(f"[resources] {where} must be positive; leave it empty to disable.")
    return asset


def check_resources_config(r: ResourcesConfig) -> None:
    """Raise ConfigError with a fix for an invalid ``[resources]`` section."""
    if r.model not in ("auto", "powerup", "stake", "off"):
        raise ConfigError(
            f"[resources] model must be auto, powerup, stake or off, not {r.model!r}."
        )
    if min(r.min_cpu_us, r.min_net_bytes, r.ram_margin_bytes) < 0:
        raise ConfigError(
            "[resources] min_cpu_us, min_net_bytes and ram_margin_bytes must be >= 0."
        )
    if r.powerup_cpu_us <= r.min_cpu_us or r.powerup_net_bytes <= r.min_net_bytes:
        raise ConfigError(
            "[resources] powerup_cpu_us and powerup_net_bytes must exceed min_cpu_us and "
            "min_net_bytes (a powerup must lift the account above its floor)."
        )
    if r.check_interval_s <= 0:
        raise ConfigError("[resources] check_interval_s must be positive.")
    caps = {
        name: _asset(getattr(r, name), name)
        for name in (
            "max_powerup_fee_per_day",
            "max_stake_per_day",
            "max_ram_fee_per_day",
            "stake_cpu",
            "stake_net",
        )
    }
    symbols = {a.symbol for a in caps.values() if a is not None}
    if len(symbols) > 1:
        raise ConfigError(
            "[resources] amounts must all be in the chain's core token with its precision "
            f"(got {', '.join(sorted(str(s) for s in symbols))})."
        )
    if r.stake_from:
        problem = name_problem(r.stake_from)
        if problem:
            raise ConfigError(f"[resources] stake_from {r.stake_from!r} is not valid: {problem}.")
        if caps["max_stake_per_day"] is None or (
            caps["stake_cpu"] is None and caps["stake_net"] is None
        ):
            raise ConfigError(
                "[resources] stake_from needs max_stake_per_day and stake_cpu or stake_net "
                '(e.g. stake_cpu = "10.00000000 WAX").'
            )
        if not r.stake_key_env and not r.stake_key_file:
            raise ConfigError("[resources] stake_from needs stake_key_env or stake_key_file.")
        if r.stake_permission == "owner":
            raise ConfigError("[resources] stake_permission must not be owner.")


def load_stake_key(r: ResourcesConfig) -> PrivateKey | None:
    """The funding account's key (env variable first, then the file); None without
    ``stake_from``."""
    if not r.stake_from:
        return None
    return load_key(r.stake_key_env or None, Path(r.stake_key_file) if r.stake_key_file else None)


class ResourceMetrics:
    """The keeper's metrics, registered in the program's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.exhausted = Gauge(
            "payoutengine_resource_budget_exhausted",
            "1 while an account lacks a resource and its budget cannot get more (the work "
            "waits), else 0.",
            ["account", "resource"],
            registry=registry,
        )
        self.available = Gauge(
            "payoutengine_resource_available",
            "What an account has available: CPU in µs, NET and RAM in bytes (-1: unlimited).",
            ["account", "resource"],
            registry=registry,
        )
        self.spent = Counter(
            "payoutengine_resource_spent_units",
            "Core tokens spent on resources (PowerUp fees, RAM, stake), smallest units.",
            ["account", "action"],
            registry=registry,
        )
        self.actions = Counter(
            "payoutengine_resource_actions",
            "Resource transactions sent (powerup, delegatebw, buyrambytes), by outcome.",
            ["account", "action", "outcome"],
            registry=registry,
        )


def spent_in_trace(trace: Mapping[str, Any], payer: str, symbol: Symbol) -> int:
    """Core tokens ``payer`` sent to the system's resource accounts in a trace (smallest units;
    each transfer counted once, at eosio.token)."""
    inner = trace.get("processed")
    traces = (inner if isinstance(inner, Mapping) else trace).get("action_traces") or []
    total = 0
    for t in traces:
        act = t.get("act") or {}
        data = act.get("data")
        if (
            act.get("name") != "transfer"
            or t.get("receiver") != act.get("account")
            or not isinstance(data, Mapping)
            or data.get("from") != payer
            or data.get("to") not in _SINKS
        ):
            continue
        try:
            asset = Asset.parse(str(data.get("quantity")))
        except AmountError:
            continue
        if asset.symbol == symbol:
            total += asset.amount
    return total


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


class _Budget:
    """What ``account`` spent on ``what`` per UTC day, in the journal's state table:
    ``resources:<account>:<what>:<day>`` = ``{tx_id: units}``."""

    def __init__(self, journal: Journal, account: str, what: str) -> None:
        self.journal, self.account, self.what = journal, account, what

    def _key(self, day: str) -> str:
        return f"resources:{self.account}:{self.what}:{day}"

    def _read(self, day: str) -> dict[str, int]:
        with self.journal.session() as s:
            raw = Journal.get_state(s, self._key(day))
        return {k: int(v) for k, v in json.loads(raw).items()} if raw else {}

    def spent(self, day: str | None = None) -> int:
        return sum(self._read(day or _today()).values())

    def put(self, tx_id: str, units: int | None, day: str) -> None:
        with self.journal.session() as s:
            raw = Journal.get_state(s, self._key(day))
            entries = json.loads(raw) if raw else {}
            if units is None:
                entries.pop(tx_id, None)
            else:
                entries[tx_id] = units
            Journal.set_state(s, self._key(day), json.dumps(entries, sort_keys=True))


@dataclass
class _Block:
    """Why a resource cannot be had now, and what would change that."""

    day: str
    cap: int
    need: int | None
    reason: str


class ResourceKeeper:
    """Keeps ``account`` supplied with CPU, NET and RAM within ``cfg``'s budget.

    Args:
        sender: the account's own journaled sender (signs as ``account@permission``).
        stake_sender: the funding account's journaled sender (staking model, optional).
        metrics: where gauges and counters go (optional).
    """

    def __init__(
        self,
        client: ChainClient,
        journal: Journal,
        cfg: ResourcesConfig,
        *,
        account: str,
        permission: str,
        sender: Sender,
        stake_sender: Sender | None = None,
        metrics: ResourceMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.journal, self.cfg = client, journal, cfg
        self.account, self.permission = account, permission
        self.sender, self.stake_sender = sender, stake_sender
        self.metrics = metrics
        self._clock = clock
        self._lock = threading.RLock()
        self._model: str | None = None if cfg.model == "auto" else cfg.model
        self._checked_at = -1e18
        self._ready = True
        self._blocks: dict[str, _Block] = {}
        self._alerting: set[str] = set()
        self._ram_ok = True
        self._budgets = {w: _Budget(journal, account, w) for w in ("powerup", "stake", "ram")}

    # -- state ---------------------------------------------------------------------------

    @property
    def model(self) -> str:
        if self._model is None:
            self._model = resource_model(self.client)
            log.info("resource model", extra={"account": self.account, "model": self._model})
        return self._model

    def spent_today(self, what: str) -> int:
        """Core tokens (smallest units) spent today on ``powerup``, ``stake`` or ``ram``."""
        return self._budgets[what].spent()

    def usage(self) -> AccountUsage:
        usage = account_usage(self.client, self.account)
        if self.metrics is not None:
            for res in ("cpu", "net", "ram"):
                value = usage.available(res)  # type: ignore[arg-type]
                self.metrics.available.labels(self.account, res).set(-1 if value is None else value)
        return usage

    def _short(self, usage: AccountUsage) -> list[Resource]:
        out: list[Resource] = []
        if usage.cpu_available_us is not None and usage.cpu_available_us < self.cfg.min_cpu_us:
            out.append("cpu")
        if (
            usage.net_available_bytes is not None
            and usage.net_available_bytes < self.cfg.min_net_bytes
        ):
            out.append("net")
        return out

    # -- the entry points ---------------------------------------------------------------

    def ensure(self, *, force: bool = False) -> bool:
        """Look at the account (at most every ``check_interval_s`` unless ``force``) and get
        CPU/NET when it is below the floors. True when the work can go on."""
        with self._lock:
            now = self._clock()
            if not force and now - self._checked_at < self.cfg.check_interval_s:
                return self._ready
            self._checked_at = now
            try:
                self._ready = self._supply(self._short(self.usage()))
            except EndpointError:
                raise
            except ChainError as e:
                log.warning("could not check the account's resources", extra={"error": str(e)})
                self._ready = True
            return self._ready

    def handle(self, error: TransactionError) -> Exhaustion | None:
        """Recognise a refusal for want of a resource and act on it when the account is out of
        it. Returns the diagnosis (None: not about resources); the caller retries when
        :meth:`ready`, shrinks the transaction when the scope is ``transaction``."""
        exh = exhaustion_of(error)
        if exh is None or exh.scope == "block":
            return exh
        if exh.resource == "ram":
            if exh.account in ("", self.account) and exh.needed is not None:
                # "needs N bytes has Q": N is the usage the transaction would bring the
                # account to; it needs N - usage free bytes
                with self._lock:
                    used = self.usage().ram_usage_bytes
                    self._ram_ok = self.ensure_ram(exh.needed - used)
            return exh
        with self._lock:
            try:
                usage = self.usage()
            except ChainError:
                usage = None
            floor = self.cfg.min_cpu_us if exh.resource == "cpu" else self.cfg.min_net_bytes
            exh = diagnose(exh, usage, floor=floor)
            if exh.scope != "account":
                return exh
            log.info(
                "the account is out of a resource",
                extra={
                    "account": self.account,
                    "resource": exh.resource,
                    "needed": exh.needed,
                    "available": exh.available,
                },
            )
            now = usage.available(exh.resource) if usage is not None else None
            if usage is not None and (now is None or now >= max(floor, exh.needed or 0)):
                return exh  # supplied meanwhile (another thread's refusal): just retry
            short = self._short(usage) if usage is not None else []
            if exh.resource not in short:
                short.append(exh.resource)
            self._checked_at = self._clock()
            self._ready = self._supply(short)
        return exh

    def satisfied(self, exh: Exhaustion) -> bool:
        """After :meth:`handle`: True when the account now has what ``exh`` lacked (retry the
        work), False when the budget could not get it (the work waits)."""
        if exh.resource == "ram":
            return self._ram_ok
        return self._ready

    def ready(self) -> bool:
        """False while a resource is missing and the budget cannot get it (the work waits)."""
        return self.ensure()

    # -- CPU / NET ------------------------------------------------------------------------

    def _supply(self, short: Sequence[Resource]) -> bool:
        for res in ("cpu", "net"):
            if res not in short:
                self._clear(res)
        if not short:
            return True
        model = self.model
        if self.cfg.model == "off" or model == "unlimited":
            for res in short:
                self._exhausted(res, "resources are not managed ([resources] model = off)")
            return False
        if model == "powerup":
            return self._powerup(short)
        return self._stake(short)

    def _powerup(self, short: Sequence[Resource]) -> bool:
        cap = (
            Asset.parse(self.cfg.max_powerup_fee_per_day)
            if self.cfg.max_powerup_fee_per_day
            else None
        )
        if cap is None:
            for res in short:
                self._exhausted(res, "no PowerUp budget: set [resources] max_powerup_fee_per_day")
            return False
        day = _today()
        budget = self._budgets["powerup"]
        left = cap.amount - budget.spent(day)
        block = self._blocks.get("powerup")
        if (
            block is not None
            and block.day == day
            and block.cap == cap.amount
            and (block.need is None or left < block.need)
        ):
            for res in short:
                self._exhausted(res, block.reason)
            return False
        market = powerup_market(self.client)
        if left < max(1, market.min_fee):
            return self._blocked(short, "powerup", day, cap, None)
        cpu_frac = market.frac_for("cpu", self.cfg.powerup_cpu_us) if "cpu" in short else 0
        net_frac = market.frac_for("net", self.cfg.powerup_net_bytes) if "net" in short else 0
        max_payment = Asset(left, market.symbol)
        action = Action(
            "eosio",
            "powerup",
            [f"{self.account}@{self.permission}"],
            {
                "payer": self.account,
                "receiver": self.account,
                "days": market.days,
                "net_frac": net_frac,
                "cpu_frac": cpu_frac,
                "max_payment": str(max_payment),
            },
        )
        try:
            spent = self._send(self.sender, action, budget, left, day, market.symbol, "powerup")
        except TransactionError as e:
            fee = refused_fee(e)
            if fee is not None:
                return self._blocked(short, "powerup", day, cap, fee.amount)
            log.error(
                "powerup was refused",
                extra={"account": self.account, "error": e.message, "error_name": e.name},
            )
            return False
        self._blocks.pop("powerup", None)
        log.info(
            "powered up",
            extra={
                "account": self.account,
                "cpu_frac": cpu_frac,
                "net_frac": net_frac,
                "fee": str(Asset(spent, market.symbol)),
                "spent_today": str(Asset(budget.spent(day), market.symbol)),
                "cap": str(cap),
            },
        )
        return self._settled(short)

    def _stake(self, short: Sequence[Resource]) -> bool:
        cfg = self.cfg
        if not cfg.stake_from or self.stake_sender is None:
            for res in short:
                self._exhausted(
                    res,
                    "the account's stake is used up; it recovers as usage decays, or configure "
                    "[resources] stake_from to stake more",
                )
            return False
        cap = Asset.parse(cfg.max_stake_per_day)
        cpu = Asset.parse(cfg.stake_cpu) if cfg.stake_cpu and "cpu" in short else None
        net = Asset.parse(cfg.stake_net) if cfg.stake_net and "net" in short else None
        if cpu is None and net is None:
            for res in short:
                self._exhausted(res, f"no [resources] stake_{res} is configured")
            return False
        zero = Asset(0, cap.symbol)
        total = (cpu or zero).amount + (net or zero).amount
        day = _today()
        budget = self._budgets["stake"]
        if budget.spent(day) + total > cap.amount:
            return self._blocked(short, "stake", day, cap, total)
        action = Action(
            "eosio",
            "delegatebw",
            [f"{cfg.stake_from}@{cfg.stake_permission}"],
            {
                "from": cfg.stake_from,
                "receiver": self.account,
                "stake_net_quantity": str(net or zero),
                "stake_cpu_quantity": str(cpu or zero),
                "transfer": False,
            },
        )
        try:
            self._send(
                self.stake_sender,
                action,
                budget,
                total,
                day,
                cap.symbol,
                "delegatebw",
                payer=cfg.stake_from,
            )
        except TransactionError as e:
            log.error(
                "delegatebw was refused",
                extra={"account": self.account, "from": cfg.stake_from, "error": e.message},
            )
            return False
        log.info(
            "staked",
            extra={
                "account": self.account,
                "from": cfg.stake_from,
                "cpu": str(cpu or zero),
                "net": str(net or zero),
                "staked_today": str(Asset(budget.spent(day), cap.symbol)),
            },
        )
        return self._settled(short)

    def _settled(self, short: Sequence[Resource]) -> bool:
        """Wait until get_account shows the new limits (they count from the end of a block)."""
        deadline = self._clock() + _SETTLE_S
        while True:
            still = [r for r in self._short(self.usage()) if r in short]
            if not still:
                for res in short:
                    self._clear(res)
                return True
            if self._clock() > deadline:
                log.warning(
                    "the account's new resources do not show yet",
                    extra={"account": self.account, "short": still},
                )
                return True  # the refusal, if any, brings us back here
            time.sleep(0.2)

    # -- RAM ------------------------------------------------------------------------------

    def ensure_ram(self, needed_bytes: int) -> bool:
        """Make sure the account has ``needed_bytes`` of free RAM (plus the margin), buying it
        within ``max_ram_fee_per_day``. True when it has it."""
        with self._lock:
            usage = self.usage()
            free = usage.ram_free_bytes
            if free is None or free >= needed_bytes:
                self._clear("ram")
                return True
            to_buy = needed_bytes - free + self.cfg.ram_margin_bytes
            if not self.cfg.max_ram_fee_per_day:
                self._exhausted("ram", "no RAM budget: set [resources] max_ram_fee_per_day")
                return False
            cap = Asset.parse(self.cfg.max_ram_fee_per_day)
            day = _today()
            budget = self._budgets["ram"]
            cost = self._ram_cost(to_buy)
            if budget.spent(day) + cost > cap.amount:
                self._blocked(["ram"], "ram", day, cap, cost)
                return False
            action = Action(
                "eosio",
                "buyrambytes",
                [f"{self.account}@{self.permission}"],
                {"payer": self.account, "receiver": self.account, "bytes": to_buy},
            )
            try:
                spent = self._send(
                    self.sender, action, budget, cost, day, cap.symbol, "buyrambytes"
                )
            except TransactionError as e:
                log.error(
                    "buyrambytes was refused", extra={"account": self.account, "error": e.message}
                )
                return False
            log.info(
                "bought RAM",
                extra={
                    "account": self.account,
                    "bytes": to_buy,
                    "cost": str(Asset(spent, cap.symbol)),
                    "spent_today": str(Asset(budget.spent(day), cap.symbol)),
                    "cap": str(cap),
                },
            )
            self._clear("ram")
            return True

    def _ram_cost(self, num_bytes: int) -> int:
        """The most ``buyrambytes(num_bytes)`` can cost now (Bancor price from ``rammarket``,
        the 0.5 % fee, rounded up), in the core token's smallest units."""
        rows = self.client.get_table_rows("eosio", "eosio", "rammarket", limit=1)["rows"]
        if not rows:
            raise ChainError("This chain has no RAM market (eosio rammarket).")
        ram = int(str(rows[0]["base"]["balance"]).split(" ")[0])
        core = Asset.parse(str(rows[0]["quote"]["balance"])).amount
        if num_bytes >= ram:
            raise ChainError("The RAM market cannot sell that many bytes.")
        cost = core * num_bytes // (ram - num_bytes) + 1
        return cost * 200 // 199 + 2

    # -- sending and budgets -------------------------------------------------------------

    def _send(
        self,
        sender: Sender,
        action: Action,
        budget: _Budget,
        reserve: int,
        day: str,
        symbol: Symbol,
        kind: str,
        *,
        payer: str | None = None,
    ) -> int:
        """Sign, journal, reserve ``reserve`` in today's budget, send; the cost its trace shows
        replaces the reservation (released on a refusal; kept when the outcome is unknown)."""
        payer = payer or self.account
        info = self.client.get_info()
        signed = sender.sign([action], info=info)
        sender.record(signed, kind=kind, data=action.data, search_from=int(info["head_block_num"]))
        budget.put(signed.id, reserve, day)
        try:
            res = sender.send_journaled(signed)
        except TransactionError:
            budget.put(signed.id, None, day)
            self._count(kind, "refused")
            raise
        spent = reserve if res.trace is None else spent_in_trace(res.trace, payer, symbol)
        budget.put(signed.id, spent, day)
        self._count(kind, "sent")
        if self.metrics is not None:
            self.metrics.spent.labels(self.account, kind).inc(spent)
        return spent

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.actions.labels(self.account, kind, outcome).inc()

    def _blocked(
        self,
        short: Sequence[Resource],
        what: str,
        day: str,
        cap: Asset,
        need: int | None,
    ) -> bool:
        spent = self._budgets[what].spent(day)
        asks = f"; the next one costs {Asset(need, cap.symbol)}" if need is not None else ""
        setting = {
            "powerup": "max_powerup_fee_per_day",
            "stake": "max_stake_per_day",
            "ram": "max_ram_fee_per_day",
        }[what]
        reason = (
            f"the daily {what} budget cannot pay for more ({Asset(spent, cap.symbol)} of "
            f"{cap} spent today{asks}); the work waits until the next UTC day or until "
            f"[resources] {setting} is raised"
        )
        self._blocks[what] = _Block(day, cap.amount, need, reason)
        for res in short:
            self._exhausted(res, reason)
        return False

    def _exhausted(self, resource: str, reason: str) -> None:
        """Alert once per episode: one log line, and the gauge at 1 while it lasts."""
        if self.metrics is not None:
            self.metrics.exhausted.labels(self.account, resource).set(1)
        if resource not in self._alerting:
            self._alerting.add(resource)
            log.warning(
                "resource budget exhausted",
                extra={"account": self.account, "resource": resource, "reason": reason},
            )

    def _clear(self, resource: str) -> None:
        if resource in self._alerting:
            self._alerting.discard(resource)
            log.info(
                "resource available again", extra={"account": self.account, "resource": resource}
            )
        if self.metrics is not None:
            self.metrics.exhausted.labels(self.account, resource).set(0)
