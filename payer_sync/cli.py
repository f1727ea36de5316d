"""``payoutengine sync``: the command line of payer sync.

Exit codes: 0 everything is in order; 1 the sync ran but something needs a human
(discrepancy, invalid name, rejected row, shortfall, failed booking); 2 it could not run
(configuration, key, database or chain unreachable).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from payoutengine.errors import PayoutEngineError

from .config import SyncConfig, load_config
from .engine import LAST_FULL_KEY, Progress, Syncer
from .ledger import init_db, make_engine
from .report import SyncReport

__all__ = ["sync", "main"]

log = logging.getLogger("payer_sync")

EXIT_PROBLEMS = 1
EXIT_ERROR = 2


def _fail(exc: PayoutEngineError) -> None:
    click.echo(f"{type(exc).__name__}: {exc}", err=True)
    sys.exit(EXIT_ERROR)


def _load(ctx: click.Context) -> SyncConfig:
    path: Path | None = ctx.obj["config_path"]
    return load_config(path)


@contextmanager
def _progress() -> Iterator[Progress | None]:
    """A rich progress display on a terminal; nothing otherwise."""
    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=True) as bar:
        tasks: dict[str, object] = {}

        def advance(what: str, n: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=None)
            bar.update(tasks[what], advance=n)  # type: ignore[arg-type]

        yield advance


def _print(report: SyncReport) -> None:
    from rich.console import Console

    Console(soft_wrap=False, width=max(100, _columns())).print(report.render())


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


@click.group("sync")
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="PAYER_SYNC_CONFIG",
    help="TOML config file (also PAYER_SYNC_CONFIG); PAYER_SYNC_<SECTION>_<KEY> overrides.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log every step (to stderr).")
@click.pass_context
def sync(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """Book the payer's database totals on chain: exactly, safely, only increases."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@sync.command("init-db")
@click.option("--url", help="Ledger database URL (default: [source] url from the config).")
@click.pass_context
def init_db_cmd(ctx: click.Context, url: str | None) -> None:
    """Create or upgrade the ledger schema (Alembic migrations; idempotent)."""
    try:
        if url is None:
            cfg = _load(ctx)
            if cfg.source.kind != "ledger":
                raise click.UsageError('init-db is for [source] kind = "ledger".')
            url = cfg.source.url
        init_db(make_engine(url))
    except PayoutEngineError as exc:
        _fail(exc)
    click.echo("ledger schema is up to date")


@sync.command("once")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would be booked, checked by the node without keeping it; send nothing.",
)
@click.option(
    "--incremental",
    is_flag=True,
    help="Compare only recipients changed since the last sync (default: everyone).",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write this sync's metrics to this file in Prometheus text format (for node_exporter's "
    "textfile collector when payer sync runs from cron).",
)
@click.pass_context
def once(ctx: click.Context, dry_run: bool, incremental: bool, metrics_file: Path | None) -> None:
    """Compare once, book the increases, print a summary; exit 1 when anything is wrong."""
    metrics = _Metrics()
    try:
        cfg = _load(ctx)
        with _progress() as progress:
            syncer = Syncer.from_config(cfg, need_key=not dry_run, progress=progress)
            report = syncer.sync(full=not incremental, dry_run=dry_run)
    except PayoutEngineError as exc:
        if metrics_file:
            metrics.errors.inc()
            metrics.write(metrics_file)
        _fail(exc)
    if metrics_file:
        metrics.observe(report)
        metrics.write(metrics_file)
    _print(report)
    sys.exit(0 if report.ok else EXIT_PROBLEMS)


@sync.command("run")
@click.option("--dry-run", is_flag=True, help="Show what would be booked; send nothing.")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve Prometheus metrics on this port.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics server listens on.",
)
@click.option(
    "--iterations",
    type=int,
    default=None,
    hidden=True,
    help="Stop after this many syncs (for tests).",
)
@click.pass_context
def run(
    ctx: click.Context,
    dry_run: bool,
    metrics_port: int | None,
    metrics_host: str,
    iterations: int | None,
) -> None:
    """Sync continuously: incremental syncs every interval, a full scan periodically."""
    try:
        cfg = _load(ctx)
        syncer = Syncer.from_config(cfg, need_key=not dry_run)
    except PayoutEngineError as exc:
        _fail(exc)
    metrics = None
    if metrics_port:
        metrics = _Metrics()
        metrics.serve(metrics_host, metrics_port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping after this sync", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done = 0
    last_full = _last_full(syncer)
    while not stop.is_set():
        full = time.time() - last_full >= cfg.run.full_scan_every_s
        try:
            report = syncer.sync(full=full, dry_run=dry_run)
        except PayoutEngineError as exc:
            log.error("%s: %s", type(exc).__name__, exc)
            if metrics:
                metrics.errors.inc()
        else:
            if report.mode == "full":
                last_full = time.time()
            _log_report(report)
            if metrics:
                metrics.observe(report)
        done += 1
        if iterations is not None and done >= iterations:
            break
        stop.wait(cfg.run.interval_s)


def _last_full(syncer: Syncer) -> float:
    import datetime as dt

    text = syncer.value(LAST_FULL_KEY)
    if not text:
        return 0.0
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def _log_report(report: SyncReport) -> None:
    log.log(
        logging.WARNING if not report.ok else logging.INFO,
        "%s sync: %d compared, %d booked (%s), %d already, %d discrepancies, %d invalid, "
        "%d rejected, shortfall %s, %d failed, %.2f s",
        report.mode,
        report.compared,
        len(report.booked),
        report.amount(report.booked_amount),
        len(report.already),
        len(report.discrepancies),
        len(report.invalid),
        len(report.rejected),
        report.amount(report.shortfall),
        sum(len(f.recipients) for f in report.failures),
        report.elapsed_s,
    )
    for kind, subject, detail in report.problems():
        log.warning("%s: %s: %s", kind, subject, detail)


class _Metrics:
    """Payer sync's metrics, in a registry of their own: served over HTTP in ``run`` mode,
    written to a textfile by ``once --metrics-file``."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = r = CollectorRegistry()
        self.discrepancies = Gauge(
            "payer_sync_discrepancies",
            "Recipients whose database total is below the chain's",
            registry=r,
        )
        self.invalid = Gauge(
            "payer_sync_invalid_names", "Recipients skipped as invalid", registry=r
        )
        self.rejected = Gauge("payer_sync_rejected_rows", "Source rows rejected", registry=r)
        self.shortfall = Gauge(
            "payer_sync_shortfall_units", "Missing free funds (smallest units)", registry=r
        )
        self.failed = Gauge(
            "payer_sync_failed_bookings", "Recipients whose booking failed", registry=r
        )
        self.booked = Counter(
            "payer_sync_booked_units", "Units booked (smallest units)", registry=r
        )
        self.errors = Counter("payer_sync_errors", "Syncs that could not run", registry=r)
        self.last = Gauge(
            "payer_sync_last_sync_timestamp", "Unix time of the last sync", registry=r
        )

    def serve(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)

    def write(self, path: Path) -> None:
        """Write atomically (a temporary file renamed into place), as the textfile collector
        expects."""
        from prometheus_client import write_to_textfile

        write_to_textfile(str(path), self.registry)

    def observe(self, report: SyncReport) -> None:
        self.discrepancies.set(len(report.discrepancies))
        self.invalid.set(len(report.invalid))
        self.rejected.set(len(report.rejected))
        self.shortfall.set(report.shortfall)
        self.failed.set(sum(len(f.recipients) for f in report.failures))
        self.booked.inc(report.booked_amount)
        self.last.set(time.time())


def main() -> None:
    """Run the ``sync`` group on its own (``python -m payer_sync``)."""
    sync(prog_name="payoutengine sync")
