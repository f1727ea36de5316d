"""The one command line: every command takes the logging options; one exit status per error."""

from __future__ import annotations

import click
import pytest

from payoutengine.cli import cli
from payoutengine.errors import (
    AmountError,
    ChainError,
    ConfigError,
    EndpointError,
    KeyFileError,
    TransactionError,
    exit_status,
)


def _commands(group: click.Group, ctx: click.Context, path: str) -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = [(path, group)]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            out += _commands(command, ctx, f"{path} {name}")
        else:
            out.append((f"{path} {name}", command))
    return out


def test_every_command_takes_verbose_and_json_logs() -> None:
    with click.Context(cli) as ctx:
        commands = _commands(cli, ctx, "payoutengine")
    names = {path for path, _ in commands}
    assert {"payoutengine admin", "payoutengine sync once", "payoutengine chain up"} <= names
    for path, command in commands:
        opts = {o for p in command.params for o in p.opts}
        assert {"-v", "--json-logs"} <= opts, path


@pytest.mark.parametrize(
    ("error", "status"),
    [
        pytest.param(ConfigError("x."), 2, id="config"),
        pytest.param(KeyFileError("x."), 2, id="key"),
        pytest.param(AmountError("x."), 2, id="amount"),
        pytest.param(EndpointError("x.", endpoint="http://a"), 3, id="endpoint"),
        pytest.param(TransactionError("nothing due"), 1, id="rejected"),
        pytest.param(ChainError("x."), 1, id="chain"),
    ],
)
def test_exit_status_per_error(error: Exception, status: int) -> None:
    assert exit_status(error) == status  # type: ignore[arg-type]
