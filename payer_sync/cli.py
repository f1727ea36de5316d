"""``payoutengine sync``: the command line of payer sync.

Exit statuses (the common table of docs/operations.md): 0 everything is in order; 1 the sync
ran but something needs a person (discrepancy, invalid name, rejected row, shortfall, failed
booking), or it failed; 2 bad configuration or key; 3 no chain endpoint answers. Errors go
through the one path of :func:`payoutengine.cli.main`.
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

from payoutengine.authority import check_signing_key
from payoutengine.cli import logging_options
from payoutengine.client import ChainClient
from payoutengine.errors import EXIT_FAILED, EXIT_OK, ChainStalledError, PayoutEngineError
from payoutengine.keys import load_key
from payoutengine.resourcekeeper import ResourceMetrics

from .config import SyncConfig, load_config
from .engine import LAST_FULL_KEY, Progress, Syncer
from .ledger import init_db, make_engine
from .report import SyncReport

__all__ = ["sync"]

log = logging.getLogger("payer_sync")


def _load(ctx: click.Context) -> SyncConfig:
    path: Path | None = ctx.obj["config_path"]
    return load_config(path)


def _syncer(
    cfg: SyncConfig,
    *,
    dry_run: bool,
    progress: Progress | None = None,
    metrics: _Metrics | None = None,
) -> Syncer:
    """The syncer; unless it only plans (dry run), with the payer's key, checked on the chain:
    it must sign for the configured permission and must not control the payer's owner."""
    if dry_run:
        return Syncer.from_config(cfg, need_key=False, progress=progress)
    resource_metrics = metrics.resources if metrics is not None else None
    key = load_key(cfg.payer.key_env, cfg.payer.key_file)
    client = ChainClient(list(cfg.chain.endpoints), timeout=cfg.chain.timeout_s)
    check_signing_key(
        client,
        cfg.payer.account,
        cfg.payer.permission,
        key,
        advice="give payer sync the key of a permission that cannot change the account's keys "
        "(active, or a dedicated one), never the owner key.",
    )
    return Syncer.from_config(
        cfg, client=client, key=key, progress=progress, resource_metrics=resource_metrics
    )


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
@logging_options
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="PAYOUTENGINE_SYNC_CONFIG",
    help="TOML config file (also PAYOUTENGINE_SYNC_CONFIG); every option can also be set by "
    "PAYOUTENGINE_<SECTION>_<OPTION>.",
)
@click.pass_context
def sync(ctx: click.Context, config_path: Path | None) -> None:
    """Book the payer's database totals on chain: exactly, safely, only increases."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@sync.command("init-db")
@logging_options
@click.option("--url", help="Ledger database URL (default: [source] url from the config).")
@click.pass_context
def init_db_cmd(ctx: click.Context, url: str | None) -> None:
    """Create or upgrade the ledger schema (Alembic migrations; idempotent)."""
    if url is None:
        cfg = _load(ctx)
        if cfg.source.kind != "ledger":
            raise click.UsageError('init-db is for [source] kind = "ledger".')
        url = cfg.source.url
    init_db(make_engine(url))
    click.echo("ledger schema is up to date")


@sync.command("once")
@logging_options
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
            syncer = _syncer(cfg, dry_run=dry_run, progress=progress, metrics=metrics)
            report = syncer.sync(full=not incremental, dry_run=dry_run)
    except PayoutEngineError:
        if metrics_file:  # a sync that cannot run still leaves a file the alerts read
            metrics.errors.inc()
            metrics.write(metrics_file)
        raise
    if metrics_file:
        metrics.observe(report)
        metrics.write(metrics_file)
    _print(report)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


@sync.command("report")
@logging_options
@click.option("--json", "as_json", is_flag=True, help="Print the lines as a JSON array.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the lines as CSV with a header.")
@click.option("--recipient", default=None, help="Only this recipient's bookings.")
@click.pass_context
def report_cmd(ctx: click.Context, as_json: bool, as_csv: bool, recipient: str | None) -> None:
    """The audit trail of bookings from the local state: per recipient, its booked total
    before and after each booking and the booking's transaction id (needs no chain)."""
    from .audit import booking_lines, render_csv, render_json, render_table
    from .state import open_state

    if as_json and as_csv:
        raise click.UsageError("Choose one of --json and --csv.")
    cfg = _load(ctx)
    journal = open_state(cfg.state.url)
    try:
        lines = booking_lines(journal, recipient=recipient)
    finally:
        journal.close()
    if as_json:
        click.echo(render_json(lines))
    elif as_csv:
        click.echo(render_csv(lines), nl=False)
    else:
        from rich.console import Console

        Console(soft_wrap=False, width=max(100, _columns())).print(render_table(lines))


@sync.command("run")
@logging_options
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
@click.pass_context
def run(ctx: click.Context, dry_run: bool, metrics_port: int | None, metrics_host: str) -> None:
    """Sync continuously: incremental syncs every interval, a full scan periodically (until
    SIGTERM/SIGINT, which stop it after the current sync)."""
    cfg = _load(ctx)
    metrics = None
    if metrics_port:
        metrics = _Metrics()
        metrics.serve(metrics_host, metrics_port)
    syncer = _syncer(cfg, dry_run=dry_run, metrics=metrics)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping after this sync", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    last_full = _last_full(syncer)
    stalled = False
    while not stop.is_set():
        full = time.time() - last_full >= cfg.run.full_scan_every_s
        try:
            report = syncer.sync(full=full, dry_run=dry_run)
        except ChainStalledError as exc:
            if not stalled:  # one line when it begins, one when it ends
                log.warning("%s: %s", type(exc).__name__, exc)
            stalled = True
            if metrics:
                metrics.errors.inc()
        except PayoutEngineError as exc:
            log.error("%s: %s", type(exc).__name__, exc)
            if metrics:
                metrics.errors.inc()
        else:
            if stalled:
                log.info("the chain finalizes blocks again; booking resumed")
                stalled = False
            if report.mode == "full":
                last_full = time.time()
            _log_report(report)
            if metrics:
                metrics.observe(report)
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
    if report.carried:
        log.info(
            "owed below one token unit (carried to later syncs): %d recipients, %d source units",
            len(report.carried),
            sum(report.carried.values()),
        )


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
        #: the payer's CPU/NET/RAM budget (payoutengine.resourcekeeper)
        self.resources = ResourceMetrics(r)

    def serve(self, host: str, port: int) -> None:
        from payoutengine.metrics import serve_metrics

        serve_metrics(self.registry, host, port, setting="--metrics-port")

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
