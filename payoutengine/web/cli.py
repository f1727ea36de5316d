"""``payoutengine web``: serve the recipient, payer and operator pages (registered by
payoutengine/cli.py; needs the ``web`` extra)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import click

from ..cli import configure_logging, logging_options
from ..errors import ConfigError

__all__ = ["web"]

log = logging.getLogger(__name__)


@click.command("web")
@logging_options
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="PAYOUTENGINE_CONFIG",
    help="TOML configuration file (env PAYOUTENGINE_CONFIG); every option can also be set "
    "by PAYOUTENGINE_<SECTION>_<OPTION>. See docs/web.md.",
)
@click.pass_context
def web(ctx: click.Context, config_path: Path | None) -> None:
    """Serve the recipient, payer and operator pages (until SIGTERM/SIGINT)."""
    missing = [m for m in ("starlette", "jinja2", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"The web pages need {', '.join(missing)}: install payoutengine[web] "
            "(pip install 'payoutengine[web]')."
        )
    import uvicorn

    from .app import create_app
    from .config import load_web_config
    from .service import WebService, load_operator_token, load_sponsor_key

    cfg = load_web_config(config_path)
    configure_logging(ctx, level=cfg.log.level, json_lines=cfg.log.json)
    key = load_sponsor_key(cfg)
    token = load_operator_token(cfg)
    service = WebService(cfg, sponsor_key=key, operator_token=token)
    try:
        service.preflight(key)
    except BaseException:
        service.stop()
        raise
    app = create_app(service)
    host, port = cfg.server.host, cfg.server.port
    click.echo(f"payoutengine web: http://{host}:{port}/", err=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            lifespan="on",
        )
    )
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits when the address is taken
        raise ConfigError(
            f"The web server could not listen on {host}:{port}; free it or set [server] port."
        ) from e
