"""Alembic environment of the engine journal (run by :func:`payoutengine.journal.migrate`)."""

from __future__ import annotations

from payoutengine.journal import VERSION_TABLE, JournalBase, run_migrations_env

run_migrations_env(JournalBase.metadata, VERSION_TABLE)
