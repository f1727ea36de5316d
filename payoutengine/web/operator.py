"""What the operator page shows: the daemon's journal (in flight, failed, last irreversible),
poison recipients, approvals waiting, the resources of the admin and sponsor accounts, the
alerts that are firing, and the last report of each payer sync.

The daemon's journal and payer sync's state databases are read, never written or migrated
here (plain engines on the configured URLs).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, desc, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from ..client import ChainClient
from ..errors import ChainError
from ..journal import FAILED, IRREVERSIBLE, OPEN_STATUSES, JournalTx, Payment, Poison
from .chainview import ChainView

__all__ = [
    "Alert",
    "OperatorReader",
    "OperatorView",
    "PaymentSeen",
    "Resources",
    "TxLine",
    "parse_metrics",
    "recent_payments",
]

log = logging.getLogger(__name__)

#: the report payer sync keeps in its state database after each sync
SYNC_REPORT_KEY = "last_report"


@dataclass(frozen=True)
class TxLine:
    tx_id: str
    kind: str
    status: str
    block_num: int | None
    updated_at: str
    error: str | None = None


@dataclass(frozen=True)
class PaymentSeen:
    tx_id: str
    token: str
    amount: str
    memo: str
    status: str
    block_num: int | None
    source: str


@dataclass(frozen=True)
class Resources:
    account: str
    role: str
    cpu_used_us: int | None = None
    cpu_max_us: int | None = None
    net_used: int | None = None
    net_max: int | None = None
    ram_usage: int | None = None
    ram_quota: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    summary: str
    source: str


@dataclass
class OperatorView:
    counts: dict[str, int] = field(default_factory=dict)
    in_flight: list[TxLine] = field(default_factory=list)
    failed: list[TxLine] = field(default_factory=list)
    last_irreversible: TxLine | None = None
    journal_error: str | None = None
    poison: list[dict[str, str]] = field(default_factory=list)
    approvals_waiting: list[str] = field(default_factory=list)
    approvals_waiting_count: int = 0
    approvals_scanned_all: bool = True
    resources: list[Resources] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    alerts_source: str = ""
    sync_reports: list[dict[str, Any]] = field(default_factory=list)
    claims: dict[str, int] = field(default_factory=dict)
    sponsor_cpu: dict[str, int | str] = field(default_factory=dict)


def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        from sqlalchemy import event

        def _busy(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        event.listen(engine, "connect", _busy)
    return engine


def parse_metrics(text_body: str) -> dict[str, float]:
    """Samples of a /metrics page by name (labels summed)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text_body):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + float(sample.value)
    return out


def recent_payments(engine: Engine, account: str, *, limit: int) -> list[PaymentSeen]:
    """The latest payments to ``account`` in a journal, with their transaction's status and
    what made them (a claim, or the daemon's automatic payouts)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Payment.tx_id,
                Payment.token,
                Payment.amount,
                Payment.symbol,
                Payment.precision,
                Payment.memo,
                JournalTx.status,
                JournalTx.block_num,
                JournalTx.kind,
            )
            .join(JournalTx, JournalTx.tx_id == Payment.tx_id, isouter=True)
            .where(Payment.recipient == account)
            .order_by(desc(Payment.id))
            .limit(limit)
        ).all()
    from ..amounts import format_amount

    return [
        PaymentSeen(
            tx_id=str(tx),
            token=str(token),
            amount=f"{format_amount(int(amount), int(prec))} {sym}",
            memo=str(memo),
            status=str(status or "unknown"),
            block_num=int(block) if block is not None else None,
            source="claim" if kind == "claim" else "automatic payout",
        )
        for tx, token, amount, sym, prec, memo, status, block, kind in rows
    ]


def _tx_line(row: JournalTx) -> TxLine:
    return TxLine(
        tx_id=row.tx_id,
        kind=row.kind,
        status=row.status,
        block_num=row.block_num,
        updated_at=row.updated_at.isoformat(timespec="seconds") + "Z",
        error=(row.error or None),
    )


class OperatorReader:
    """Reads everything the operator page shows; each part fails alone, with its reason."""

    def __init__(
        self,
        *,
        client: ChainClient,
        view: ChainView,
        daemon_journal_url: str,
        metrics_url: str,
        alerts_url: str,
        sync_state_urls: Sequence[str],
        admin_account: str,
        sponsor_account: str,
    ) -> None:
        self.client = client
        self.view = view
        self.daemon_engine = _engine(daemon_journal_url) if daemon_journal_url else None
        self.metrics_url = metrics_url
        self.alerts_url = alerts_url.rstrip("/")
        self.sync_engines = [(u, _engine(u)) for u in sync_state_urls]
        self.admin_account = admin_account
        self.sponsor_account = sponsor_account
        self._http = httpx.Client(timeout=3.0)

    def close(self) -> None:
        self._http.close()
        if self.daemon_engine is not None:
            self.daemon_engine.dispose()
        for _u, e in self.sync_engines:
            e.dispose()

    def read(self) -> OperatorView:
        v = OperatorView()
        self._journal(v)
        self._approvals(v)
        self._resources(v)
        self._alerts(v)
        self._sync_reports(v)
        return v

    def _journal(self, v: OperatorView) -> None:
        if self.daemon_engine is None:
            v.journal_error = "no daemon journal configured ([daemon] journal_url)"
            return
        try:
            with self.daemon_engine.connect() as conn:
                counts = conn.execute(
                    select(JournalTx.status, func.count()).group_by(JournalTx.status)
                ).all()
                v.counts = {str(s): int(n) for s, n in counts}
                v.in_flight = [
                    _tx_line(JournalTx(**r._mapping))
                    for r in conn.execute(
                        select(*JournalTx.__table__.c)
                        .where(JournalTx.status.in_(OPEN_STATUSES))
                        .order_by(desc(JournalTx.id))
                        .limit(20)
                    )
                ]
                v.failed = [
                    _tx_line(JournalTx(**r._mapping))
                    for r in conn.execute(
                        select(*JournalTx.__table__.c)
                        .where(JournalTx.status == FAILED)
                        .order_by(desc(JournalTx.id))
                        .limit(10)
                    )
                ]
                last = conn.execute(
                    select(*JournalTx.__table__.c)
                    .where(JournalTx.status == IRREVERSIBLE)
                    .order_by(desc(JournalTx.id))
                    .limit(1)
                ).first()
                v.last_irreversible = _tx_line(JournalTx(**last._mapping)) if last else None
                v.poison = [
                    {
                        "account": str(p.account),
                        "detected_at": p.detected_at.isoformat(timespec="seconds") + "Z",
                        "tx_id": str(p.tx_id or ""),
                        "reason": str(p.reason),
                    }
                    for p in conn.execute(
                        select(*Poison.__table__.c).order_by(desc(Poison.id)).limit(50)
                    )
                ]
        except SQLAlchemyError as e:
            v.journal_error = f"the daemon journal cannot be read: {str(e).splitlines()[0]}"

    def _approvals(self, v: OperatorView) -> None:
        try:
            waiting, count, whole = self.view.approvals_waiting()
        except ChainError as e:
            log.warning("approvals could not be read", extra={"error": str(e)})
            return
        v.approvals_waiting, v.approvals_waiting_count, v.approvals_scanned_all = (
            waiting,
            count,
            whole,
        )

    def _resources(self, v: OperatorView) -> None:
        admin = self.admin_account
        if not admin:
            try:
                settings = self.view.tables.settings()
                admin = settings.admin if settings else ""
            except ChainError:
                admin = ""
        roles: dict[str, str] = {}
        for account, role in ((admin, "admin (daemon)"), (self.sponsor_account, "sponsor")):
            if account:
                roles[account] = f"{roles[account]}, {role}" if account in roles else role
        for account, role in roles.items():
            try:
                info = self.client.get_account(account)
            except ChainError as e:
                v.resources.append(Resources(account, role, error=str(e)))
                continue
            if info is None:
                v.resources.append(Resources(account, role, error="no such account"))
                continue
            cpu = info.get("cpu_limit") or {}
            net = info.get("net_limit") or {}
            v.resources.append(
                Resources(
                    account,
                    role,
                    _int(cpu.get("used")),
                    _int(cpu.get("max")),
                    _int(net.get("used")),
                    _int(net.get("max")),
                    _int(info.get("ram_usage")),
                    _int(info.get("ram_quota")),
                )
            )

    def _alerts(self, v: OperatorView) -> None:
        if self.alerts_url:
            v.alerts_source = f"{self.alerts_url}/api/v1/alerts"
            try:
                data = self._http.get(v.alerts_source).json()
                for a in (data.get("data") or {}).get("alerts") or []:
                    if a.get("state") != "firing":
                        continue
                    labels = a.get("labels") or {}
                    notes = a.get("annotations") or {}
                    v.alerts.append(
                        Alert(
                            str(labels.get("alertname", "?")),
                            str(labels.get("severity", "")),
                            str(notes.get("summary", "")),
                            "prometheus",
                        )
                    )
            except (httpx.HTTPError, ValueError, AttributeError) as e:
                v.alerts.append(Alert("AlertSourceUnreachable", "warning", str(e), "web"))
            return
        if not self.metrics_url:
            v.alerts_source = "none configured ([operator] alerts_url or [daemon] metrics_url)"
            return
        v.alerts_source = f"{self.metrics_url} (instant values)"
        try:
            m = parse_metrics(self._http.get(self.metrics_url).text)
        except (httpx.HTTPError, ValueError) as e:
            v.alerts.append(
                Alert("DaemonMetricsUnreachable", "page", f"{self.metrics_url}: {e}", "web")
            )
            return
        if m.get("payoutengine_chain_healthy", 1.0) == 0:
            v.alerts.append(
                Alert(
                    "PayoutChainUnhealthy",
                    "page",
                    "no healthy chain endpoint; the daemon has paused sending",
                    "metrics",
                )
            )
        since = m.get("payoutengine_seconds_since_last_successful_payout", -1.0)
        if m.get("payoutengine_payable_dues", 0.0) == 1 and since > 1800:
            v.alerts.append(
                Alert(
                    "PayoutsStalled",
                    "page",
                    f"payable dues open and no payout for {since / 60:.0f} minutes",
                    "metrics",
                )
            )

    def _sync_reports(self, v: OperatorView) -> None:
        for url, engine in self.sync_engines:
            entry: dict[str, Any] = {"database": _safe(url)}
            try:
                with engine.connect() as conn:
                    raw = conn.execute(
                        text("SELECT value FROM sync_state WHERE key = :k"), {"k": SYNC_REPORT_KEY}
                    ).scalar()
                entry["report"] = json.loads(raw) if raw else None
            except (SQLAlchemyError, ValueError) as e:
                entry["error"] = str(e).splitlines()[0]
            v.sync_reports.append(entry)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as nothing rather than leaked
        return "(database)"


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
