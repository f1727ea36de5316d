"""Fixtures of the resources suite: mainnet-profile chains (tests/node) and the daemon as a
subprocess (tests/daemon), re-used, not copied."""

from __future__ import annotations

from tests.daemon.conftest import run_daemon  # noqa: F401
from tests.node.conftest import local_chain_factory, profile_chain  # noqa: F401
