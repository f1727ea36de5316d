"""The daemon's reads stay flat in the number of recipients (issue 14): on a real local node with
many approved accounts and a few new ones, the approvals job reads only the accounts that are not
approved, the wake job wakes as the pages come (not after reading whole tables), and status counts
page by page. Every table read goes through a client that records it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from daemon.approvals import ApprovalsJob
from daemon.config import ApprovalsConfig
from daemon.health import HealthGate
from daemon.metrics import Metrics
from daemon.sender import Sender
from daemon.wakes import WAKE_BATCH, WakeJob
from payoutengine.client import ChainClient
from payoutengine.contract import ContractTables
from payoutengine.contract import tables as tables_module
from payoutengine.journal import Journal
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT

from .conftest import DAEMON_PERMISSION, PE, bootstrapped, unique_name

AUTHORITY = f"{ADMIN_ACCOUNT}@{DAEMON_PERMISSION}"
#: accounts approved before the tests; the few new ones are booked after them
APPROVED = 230
NEW = 3
#: rows per page of the views under test: the approved accounts span several pages
PAGE = 50


class RecordingClient(ChainClient):
    """A ChainClient that records every table page it reads, in order:
    ``("rows", table, index_position, rows, json)``; :meth:`World.sender` adds the actions sent
    (``("send", action)``)."""

    def __init__(self, endpoints: list[str]) -> None:
        super().__init__(endpoints)
        self.events: list[tuple[Any, ...]] = []

    def get_table_rows(self, code: str, scope: str | int, table: str, **kw: Any) -> dict[str, Any]:
        page = super().get_table_rows(code, scope, table, **kw)
        index = kw.get("index_position")
        self.events.append(("rows", table, index, len(page["rows"]), kw.get("json", True)))
        return page

    def rows_read(self, table: str, *, index: Any = "any") -> int:
        return sum(
            e[3]
            for e in self.events
            if e[0] == "rows" and e[1] == table and (index == "any" or e[2] == index)
        )


@dataclass
class World:
    pe: PE
    schedule: str
    approved: list[str]
    new: list[str]
    tmp: Path
    clients: list[ChainClient] = field(default_factory=list)

    def client(self) -> RecordingClient:
        c = RecordingClient([self.pe.url])
        self.clients.append(c)
        return c

    def sender(self, client: ChainClient) -> Sender:
        journal = self.tmp / f"journal-{unique_name('j')}.sqlite"
        sender = Sender(
            client,
            Journal(f"sqlite:///{journal}"),
            self.pe.daemon_key,
            contract=CONTRACT_ACCOUNT,
            authority=AUTHORITY,
            expiration_s=60,
            metrics=Metrics(),
        )
        if isinstance(client, RecordingClient):
            send = sender.send

            def recorded(action: str, data: dict[str, Any]) -> Any:
                client.events.append(("send", action))
                return send(action, data)

            sender.send = recorded  # type: ignore[method-assign]
        return sender


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A node of its own (the jobs act on every account of the contract): APPROVED accounts
    booked and approved (not woken: their dues stay parked), then NEW accounts booked."""
    tmp = tmp_path_factory.mktemp("streaming")
    gen = bootstrapped(tmp / "node")
    pe = next(gen)
    try:
        payer = pe.accounts("pys", 1, open_token=None)[0]
        approved = pe.accounts("rsa", APPROVED)
        new = pe.accounts("rsn", NEW)
        sched = pe.schedule(payer, unique_name("s"), "streaming")
        pe.book(sched, payer, {r: "0.0100 TST" for r in approved})
        w = World(pe, sched, sorted(approved), sorted(new), tmp)
        setup = w.sender(ChainClient([pe.url]))
        for i in range(0, len(approved), 100):
            setup.send("approveacc", {"accounts": approved[i : i + 100]})
        pe.book(sched, payer, {r: "0.0100 TST" for r in new})
        yield w
    finally:
        gen.close()


def test_approvals_job_reads_only_the_accounts_not_approved(world: World) -> None:
    client = world.client()
    view = ContractTables(client, CONTRACT_ACCOUNT, page_size=PAGE)
    assert set(view.pending_approvals()) == set(world.new)
    client.events.clear()
    metrics = Metrics()
    job = ApprovalsJob(
        ApprovalsConfig(interval_s=0.5, batch_size=20, recheck_interval_s=3600.0),
        gate=HealthGate(client, metrics=metrics),
        view=view,
        sender=world.sender(client),
        metrics=metrics,
        stop=threading.Event(),
    )
    job.approve_new()
    assert all(world.pe.approved(a) for a in world.new)
    # The approvals table was read through the pending index only, and only its NEW entries:
    # none of the APPROVED rows (the old scan read all of them, on every revision).
    assert client.rows_read("approvals", index=None) == 0
    assert client.rows_read("approvals", index=2) == NEW
    assert ("send", "approveacc") in client.events
    assert list(view.pending_approvals()) == []


def test_wake_job_streams_and_wakes_as_the_pages_come(world: World) -> None:
    """Every due is parked and approved: all are woken, a batch at a time, the first batch
    before the last page of dues is read; the approvals table is never read row by row."""
    client = world.client()
    view = ContractTables(client, CONTRACT_ACCOUNT, page_size=PAGE)
    everyone = set(world.approved) | set(world.new)
    assert set(view.approved_parked_dues(world.schedule)) == everyone
    assert not world.pe.client.get_table_rows(
        CONTRACT_ACCOUNT, world.schedule, "dues", index_position=2, key_type="i64", lower_bound=1
    )["rows"]
    client.events.clear()
    job = WakeJob(
        gate=HealthGate(client, metrics=Metrics()),
        view=view,
        sender=world.sender(client),
        stop=threading.Event(),
    )
    job.run()
    assert set(view.ready_dues(world.schedule)) == everyone
    assert list(view.parked_dues(world.schedule)) == []
    assert client.rows_read("approvals", index=None) == 0
    pages = [e for e in client.events if e[0] == "rows"]
    assert max(e[3] for e in pages) <= PAGE
    sends = [i for i, e in enumerate(client.events) if e == ("send", "wake")]
    assert len(sends) == -(-len(everyone) // WAKE_BATCH)
    last_dues_page = max(i for i, e in enumerate(client.events) if e[:3] == ("rows", "dues", None))
    assert sends[0] < last_dues_page  # woken while the dues were still being read


def test_counts_for_status_are_read_page_by_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status and the gauges count rows from undecoded pages: correct counts, no page larger
    than the page size, whatever the table's size."""
    monkeypatch.setattr(tables_module, "COUNT_PAGE_ROWS", PAGE)
    client = world.client()
    view = ContractTables(client, CONTRACT_ACCOUNT, page_size=PAGE)
    assert view.approval_counts() == (APPROVED + NEW, 0)
    assert view.dues_per_schedule() == {world.schedule: APPROVED + NEW}
    pages = [e for e in client.events if e[0] == "rows" and e[1] in ("approvals", "dues")]
    assert max(e[3] for e in pages) <= PAGE
    assert len(pages) >= 2 * (APPROVED + NEW) // PAGE
    assert all(e[4] is False for e in pages)  # counted, not decoded
