"""Alembic environment of payer sync's state tables (run by
:func:`payer_sync.state.open_state`)."""

from __future__ import annotations

from payer_sync.models import StateBase
from payer_sync.state import VERSION_TABLE
from payoutengine.journal import run_migrations_env

run_migrations_env(StateBase.metadata, VERSION_TABLE)
