"""Alembic environment of payer sync's state tables. :func:`payer_sync.state.open_state` runs
it with the caller's connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from payer_sync.models import StateBase
from payer_sync.state import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the state migrations run through payer_sync.state.open_state()")

context.configure(
    connection=connection,
    target_metadata=StateBase.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
