"""Fixtures of the guide suite.

``guide_chain`` (session) is a local nodeos on loopback prepared the way a real chain is
before an operator follows docs/operations.md: protocol features, eosio.token with TST and
PAY, and the accounts ``payoutengine``, ``pe.admin`` and ``pe.fees`` — but *no* contract: the
guide's own ``payoutengine deploy`` command deploys it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from payoutengine.localchain import process_group_alive
from payoutengine.systemchain import ProfileChain
from tests.conftest import CONTRACT_WASM, REPO_ROOT

VENV_BIN = REPO_ROOT / ".venv" / "bin"


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains ``text`` (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append((int(entry.name), cmd))
    return found


@pytest.fixture(scope="session", params=["dev", "eos"])
def guide_chain(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProfileChain]:
    """Once the development chain, once a chain booted like EOS mainnet (its system contract,
    RAM market and PowerUp: every account the guide's situations create needs RAM, CPU and
    NET there, as on mainnet)."""
    if not CONTRACT_WASM.is_file():
        pytest.fail(f"{CONTRACT_WASM} is missing: run scripts/bootstrap to build the contract.")
    chain = ProfileChain(tmp_path_factory.mktemp("guide-chain"), profile=request.param)
    chain.start()
    pid = chain.pid
    assert pid is not None
    try:
        chain.bootstrap_tokens()  # the guide's own `payoutengine deploy` deploys the contract
        yield chain
    finally:
        chain.stop()
    assert not process_group_alive(pid), "the guide's local node survived stop()"
