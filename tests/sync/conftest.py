"""Fixtures of the payer sync suite.

- ``local_chain`` / ``new_account``: the real nodeos of tests/node (re-used, not copied).
- ``db_url``: a real ledger database: SQLite (a file), PostgreSQL (its own schema in the
  database of ``PAYOUTENGINE_TEST_PG``) and MariaDB (its own database on the server of
  ``PAYOUTENGINE_TEST_MARIADB``), each dropped afterwards; ``server_db_url``: the two servers
  only (concurrent writers).
- ``payer``: a fresh payer with a TST schedule and a deposit, plus helpers to read the chain.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from payer_sync.config import (
    BatchConfig,
    ChainConfig,
    PayerConfig,
    SourceConfig,
    StateConfig,
    SyncConfig,
    TopUpConfig,
)
from payer_sync.engine import Syncer
from payer_sync.ledger import add_credits, init_db, make_engine
from payoutengine.amounts import Asset
from payoutengine.localchain import CONTRACT_ACCOUNT, DEV_KEY, LocalChain
from tests.conftest import create_payer_account
from tests.node.conftest import local_chain, new_account, unique_name  # noqa: F401

PG_DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
MARIADB_DEFAULT = "mysql+pymysql://root@127.0.0.1:3306"
KEY_ENV = "PAYER_SYNC_TEST_KEY"


def pg_base_url() -> str:
    return os.environ.get("PAYOUTENGINE_TEST_PG", PG_DEFAULT)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (dropped afterwards)."""
    base = pg_base_url()
    schema = f"payer_sync_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - a clear failure, not a skip
        pytest.fail(
            f"PostgreSQL at {base} is not usable ({exc.__class__.__name__}: {exc}); run "
            f"scripts/services or set PAYOUTENGINE_TEST_PG."
        )
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def mariadb_base_url() -> str:
    return os.environ.get("PAYOUTENGINE_TEST_MARIADB", MARIADB_DEFAULT)


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A MariaDB URL of a fresh database (dropped afterwards)."""
    base = mariadb_base_url().rstrip("/")
    db = f"payer_sync_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4"))
    except Exception as exc:  # noqa: BLE001 - a clear failure, not a skip
        pytest.fail(
            f"MariaDB at {base} is not usable ({exc.__class__.__name__}: {exc}); run "
            f"scripts/services or set PAYOUTENGINE_TEST_MARIADB."
        )
    try:
        yield f"{base}/{db}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE `{db}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    url: str = request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    return url


@pytest.fixture(params=["postgresql", "mariadb"])
def server_db_url(request: pytest.FixtureRequest) -> str:
    """A database on a server with concurrent connections: PostgreSQL, then MariaDB."""
    url: str = request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    return url


@dataclass
class Payer:
    """A payer with a TST schedule on the local chain."""

    chain: LocalChain
    name: str
    schedule: str

    def deposit(self, quantity: str) -> None:
        self.chain.transfer(self.name, CONTRACT_ACCOUNT, quantity, "deposit")

    def booked(self) -> dict[str, int]:
        return {
            str(r["account"]): int(r["booked_total"])
            for r in self.chain.client.iter_table(
                CONTRACT_ACCOUNT, self.schedule, "recipients", page_size=1000
            )
        }

    def funds(self) -> tuple[int, int]:
        """(deposited, dues) of the TST funds row."""
        for r in self.chain.client.iter_table(CONTRACT_ACCOUNT, self.name, "funds"):
            if str(r["deposited"]).endswith(" TST"):
                return Asset.parse(r["deposited"]).amount, Asset.parse(r["dues"]).amount
        raise AssertionError("no TST funds row")

    def free(self) -> int:
        deposited, dues = self.funds()
        return deposited - dues

    def has_balance_row(self, account: str) -> bool:
        return self.chain.client.get_balance("eosio.token", account, "TST") is not None

    def config(
        self,
        source_url: str,
        state_url: str,
        *,
        kind: str = "ledger",
        query: str | None = None,
        total_unit: str = "smallest",
        records_per_tx: int = 100,
        topup: str | None = None,
    ) -> SyncConfig:
        return SyncConfig(
            chain=ChainConfig(endpoints=(self.chain.url,)),
            payer=PayerConfig(account=self.name, schedule=self.schedule, key_env=KEY_ENV),
            source=SourceConfig(
                kind=kind,  # type: ignore[arg-type]
                url=source_url,
                query=query,
                total_unit=total_unit,  # type: ignore[arg-type]
            ),
            state=StateConfig(url=state_url),
            batch=BatchConfig(records_per_tx=records_per_tx, confirm_timeout_s=20.0),
            topup=TopUpConfig(max_per_run=topup),
        )


def create_accounts(chain: LocalChain, names: list[str], *, per_tx: int = 50) -> None:
    """Create many accounts in multi-action transactions (halved when one runs out of CPU)."""
    chain.create_accounts(names, per_tx=per_tx)


@pytest.fixture
def payer(local_chain: LocalChain, monkeypatch: pytest.MonkeyPatch) -> Payer:  # noqa: F811
    monkeypatch.setenv(KEY_ENV, DEV_KEY.to_wif())
    name = unique_name("py")
    schedule = unique_name("sc")
    create_payer_account(local_chain, name)
    local_chain.fund(name, "100000.0000 TST")
    local_chain.action(
        CONTRACT_ACCOUNT,
        "newschedule",
        {
            "payer": name,
            "schedule_name": schedule,
            "tkcontract": "eosio.token",
            "currency": "0.0000 TST",
            "memo": "payout",
        },
        f"{name}@active",
    )
    return Payer(local_chain, name, schedule)


@pytest.fixture
def accounts(local_chain: LocalChain) -> Callable[[int], list[str]]:  # noqa: F811
    """``accounts(n)``: n fresh recipient accounts."""

    def make(n: int) -> list[str]:
        names = [unique_name("r") for _ in range(n)]
        create_accounts(local_chain, names)
        return names

    return make


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.sqlite'}"


def ledger(url: str) -> Callable[..., None]:
    """``credit((recipient, amount[, memo]), ...)`` into the ledger at ``url``."""
    engine = make_engine(url)
    init_db(engine)
    from sqlalchemy.orm import Session

    def credit(*rows: tuple, created_at=None) -> None:  # type: ignore[no-untyped-def,type-arg]
        with Session(engine) as s, s.begin():
            add_credits(s, rows, created_at=created_at)

    return credit


def syncer(cfg: SyncConfig) -> Syncer:
    return Syncer.from_config(cfg)
