"""Alembic environment of the engine journal. :func:`payoutengine.journal.migrate` runs it with
the caller's connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from payoutengine.journal import VERSION_TABLE, JournalBase

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the journal migrations run through payoutengine.journal.migrate()")

context.configure(
    connection=connection,
    target_metadata=JournalBase.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
