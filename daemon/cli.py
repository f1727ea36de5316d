"""``payoutengine admin`` and ``payoutengine status`` (registered by payoutengine/cli.py).

Exit status: 0 after a clean stop; 2 for a configuration or key problem; 3 when no chain
endpoint is usable at start-up; 1 for any other expected failure. Expected failures print one
``ErrorType: message`` line, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from payoutengine.errors import (
    ChainError,
    ConfigError,
    EndpointError,
    KeyFileError,
    PayoutEngineError,
)

from .config import Config, load_config

__all__ = ["admin", "status"]

F = TypeVar("F", bound=Callable[..., object])


def _fail(e: PayoutEngineError) -> None:
    click.echo(f"{type(e).__name__}: {e}", err=True)
    if isinstance(e, (ConfigError, KeyFileError)):
        sys.exit(2)
    if isinstance(e, EndpointError):
        sys.exit(3)
    sys.exit(1)


def _config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="PAYOUTENGINE_CONFIG",
        help="TOML configuration file (env PAYOUTENGINE_CONFIG); every option can also be set "
        "by PAYOUTENGINE_<SECTION>_<OPTION>.",
    )(fn)


def _load(config_path: str | None) -> Config:
    return load_config(config_path)


@click.command("admin")
@_config_option
@click.option("--json-logs/--no-json-logs", default=None, help="Override [log] json.")
def admin(config_path: str | None, json_logs: bool | None) -> None:
    """Run the admin daemon: approvals, payouts, transaction tracking (until SIGTERM/SIGINT)."""
    from .logs import setup_logging
    from .service import AdminDaemon, load_admin_key

    try:
        cfg = _load(config_path)
        setup_logging(
            json_lines=cfg.log.json if json_logs is None else json_logs, level=cfg.log.level
        )
        key = load_admin_key(cfg)
        daemon = AdminDaemon(cfg, key)
        try:
            daemon.preflight()
        except BaseException:
            daemon.shutdown()
            raise
        daemon.run_forever()
    except PayoutEngineError as e:
        logging.getLogger("daemon").debug("start-up failed", exc_info=True)
        _fail(e)
    except OSError as e:  # e.g. the metrics port is taken
        click.echo(f"{type(e).__name__}: {e.strerror or e}.", err=True)
        sys.exit(1)


@click.command("status")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config_path: str | None, as_json: bool) -> None:
    """Show dues, approvals, transactions, payments and poison recipients."""
    from .status import collect_status, render_status

    # The command reports an unreachable chain itself, in one line.
    logging.getLogger("payoutengine.client").setLevel(logging.ERROR)
    try:
        cfg = _load(config_path)
        st = collect_status(cfg)
    except PayoutEngineError as e:
        _fail(e)
        return
    if as_json:
        click.echo(json.dumps(st, indent=2, sort_keys=True))
    else:
        render_status(st)
    if st.get("chain_error"):
        if not as_json:
            click.echo(f"{ChainError.__name__}: {st['chain_error']}", err=True)
        sys.exit(3)


def main() -> None:  # pragma: no cover - `python -m daemon.cli` for development
    group = click.Group(commands={"admin": admin, "status": status})
    group()


if __name__ == "__main__":  # pragma: no cover
    main()
