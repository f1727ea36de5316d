"""The pages on the demo's chain (``payoutengine demo --keep``): a sponsor permission linked to
``claim`` only, a ``web.toml`` next to the demo's other configurations (the key in a 0600 file
beside it, never in the file), and ``payoutengine web`` left running in its own session."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..deploy import sponsor_permission_actions
from ..keys import PrivateKey
from ..transactions import Action

__all__ = ["DemoWeb", "start_demo_web"]

SPONSOR_PERMISSION = "sponsor"


@dataclass(frozen=True)
class DemoWeb:
    url: str
    pid: int
    config: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo_web(
    workdir: Path,
    *,
    push: Callable[[Sequence[Action]], object],
    chain_url: str,
    contract: str,
    sponsor: str,
    daemon_journal: Path,
    sync_states: Sequence[Path],
    command: Sequence[str],
    env: Mapping[str, str],
    timeout_s: float = 30.0,
) -> DemoWeb | None:
    """Start the pages for the demo's chain; None when the ``web`` extra is not installed."""
    if importlib.util.find_spec("starlette") is None:
        return None
    key = PrivateKey.generate()
    push(sponsor_permission_actions(sponsor, SPONSOR_PERMISSION, key.public_key, contract=contract))
    key_file = workdir / "sponsor.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.to_wif() + "\n")
    port = _free_port()
    states = ", ".join(f'"sqlite:///{p}"' for p in sync_states)
    config = workdir / "web.toml"
    config.write_text(
        "# payoutengine web on the demo chain (written by payoutengine demo); the sponsor's key\n"
        "# is in sponsor.key (mode 0600), never in this file\n"
        f'[chain]\nendpoints = ["{chain_url}"]\n\n'
        f'[contract]\naccount = "{contract}"\n\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        f'[sponsor]\naccount = "{sponsor}"\npermission = "{SPONSOR_PERMISSION}"\n'
        'key_env = ""\nkey_file = "sponsor.key"\n\n'
        '[journal]\nurl = "sqlite:///web-journal.sqlite"\n\n'
        f'[daemon]\njournal_url = "sqlite:///{daemon_journal}"\n\n'
        f"[payer_sync]\nstate_urls = [{states}]\n"
    )
    log = workdir / "web.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "web", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=workdir,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                (workdir / "web.pid").write_text(f"{proc.pid}\n")
                return DemoWeb(url, proc.pid, config)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
    return None
