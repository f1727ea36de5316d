"""The engine journal on real databases: a SQLite file and a PostgreSQL schema of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sync.conftest import pg_url  # noqa: F401

DATA = Path(__file__).with_name("data")


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url
