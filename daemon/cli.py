"""``payoutengine admin`` and ``payoutengine status`` (registered by payoutengine/cli.py).

Errors go through the one path of :func:`payoutengine.cli.main`: one ``ErrorType: message``
line, exit 2 for a configuration or key problem (a taken metrics port included), 3 when no
chain endpoint is usable, 1 otherwise; ``status`` exits 3 while the chain is unreachable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from payoutengine.cli import configure_logging, logging_options
from payoutengine.errors import EXIT_UNREACHABLE, ChainError

from .config import Config, load_config

__all__ = ["admin", "status"]

F = TypeVar("F", bound=Callable[..., object])


def _config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="PAYOUTENGINE_CONFIG",
        help="TOML configuration file (env PAYOUTENGINE_CONFIG); every option can also be set "
        "by PAYOUTENGINE_<SECTION>_<OPTION>.",
    )(fn)


@click.command("admin")
@logging_options
@_config_option
@click.pass_context
def admin(ctx: click.Context, config_path: Path | None) -> None:
    """Run the admin daemon: approvals, payouts, transaction tracking (until SIGTERM/SIGINT)."""
    from payoutengine.resourcekeeper import load_stake_key

    from .service import AdminDaemon, load_admin_key

    cfg: Config = load_config(config_path)
    configure_logging(ctx, level=cfg.log.level, json_lines=cfg.log.json)
    daemon = AdminDaemon(cfg, load_admin_key(cfg), stake_key=load_stake_key(cfg.resources))
    try:
        daemon.preflight()
        daemon.run_forever()
    except BaseException:
        daemon.shutdown()  # no job may outlive a failed start
        raise


@click.command("status")
@logging_options
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Show dues, approvals, transactions, payments and poison recipients."""
    import logging

    from .status import collect_status, render_status

    # The command reports an unreachable chain itself, in one line.
    logging.getLogger("payoutengine.client").setLevel(logging.ERROR)
    st = collect_status(load_config(config_path))
    if as_json:
        click.echo(json.dumps(st, indent=2, sort_keys=True))
    else:
        render_status(st)
    if st.get("chain_error"):
        if not as_json:
            click.echo(f"{ChainError.__name__}: {st['chain_error']}", err=True)
        sys.exit(EXIT_UNREACHABLE)
