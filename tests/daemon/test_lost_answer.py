"""What a runpayouts paid is journaled even when its answer never reached the daemon: the
connection dropped after the node executed it, or the daemon was killed right then.

The journal must list every payment the chain made (docs/operations.md: "every payment it
made"), read from the transaction's trace once the tracker finds it in a block."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from daemon.metrics import Metrics
from daemon.sender import Sender
from payoutengine.client import ChainClient
from payoutengine.errors import EndpointError, TransactionError
from payoutengine.journal import IRREVERSIBLE, Journal, JournalTx, Payment
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT
from payoutengine.sending import Tracker
from payoutengine.transactions import SignedTransaction
from tests.fake_endpoints import serve, url_of
from tests.faults.proxy import EndpointProxy

from .conftest import (
    DAEMON_PERMISSION,
    PE,
    DaemonProc,
    daemon_env,
    run_status,
    unique_name,
    wait_for,
    write_config,
)

AUTHORITY = f"{ADMIN_ACCOUNT}@{DAEMON_PERMISSION}"


def _approve(pe: PE, sender: Sender, schedule: str, accounts: list[str]) -> None:
    """approveacc, then wake: what the daemon's approvals and wake jobs do."""
    sender.send("approveacc", {"accounts": accounts})
    wait_for(lambda: all(pe.approved(a) for a in accounts), timeout=20, what="recipients approved")
    sender.send("wake", {"schedule_name": schedule, "accounts": accounts})


def test_payments_of_a_runpayouts_whose_answer_was_lost_are_read_from_the_chain(
    pe: PE, tmp_path: Path
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rla", 5)
    sched = pe.schedule(payer, unique_name("s"), "lost answer")
    amounts = {r: 10_000 + i for i, r in enumerate(recipients)}
    pe.book(sched, payer, {r: f"{u // 10_000}.{u % 10_000:04d} TST" for r, u in amounts.items()})

    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    client = ChainClient([pe.url])
    metrics = Metrics()
    sender = Sender(
        client,
        journal,
        pe.daemon_key,
        contract=CONTRACT_ACCOUNT,
        authority=AUTHORITY,
        expiration_s=60,
        metrics=metrics,
    )
    _approve(pe, sender, sched, recipients)

    # The node executes the next transaction; its answer is lost on the way back.
    real_send = client.send
    dropped: list[str] = []

    def send_and_drop_the_answer(signed: SignedTransaction, **kw: Any) -> dict[str, Any]:
        answer = real_send(signed, **kw)
        if not dropped:
            dropped.append(signed.id)
            raise EndpointError("The connection dropped.", endpoint=pe.url)
        return answer

    client.send = send_and_drop_the_answer  # type: ignore[method-assign]
    try:
        sender.send("runpayouts", {"count": 20})
    except EndpointError:
        pass
    else:
        raise AssertionError("the answer should have been lost")
    assert len(dropped) == 1
    wait_for(
        lambda: all(pe.paid(sched, r) == u for r, u in amounts.items()),
        timeout=20,
        what="the chain paying",
    )

    tracker = Tracker(client, journal, sender.engine, resend_after_s=0.0)

    def settled() -> bool:
        tracker.run_once()
        with journal.session() as s:
            row = Journal.get(s, dropped[0])
            return row is not None and row.status == IRREVERSIBLE

    wait_for(settled, timeout=60, what="the transaction irreversible in the journal")
    with journal.session() as s:
        row = Journal.get(s, dropped[0])
        assert row is not None and row.payments == len(recipients)
        paid = {
            p.recipient: p.amount
            for p in s.scalars(select(Payment).where(Payment.tx_id == dropped[0]))
        }
        assert Journal.get_state(s, "last_payout") is not None
    assert paid == amounts
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in metrics.registry.collect()
        for s in m.samples
    }
    labels = (("symbol", "TST"), ("token", "eosio.token"))
    assert samples[("payoutengine_payments_total", labels)] == len(recipients)
    assert samples[("payoutengine_amount_sent_units_total", labels)] == sum(amounts.values())
    journal.close()
    client.close()


@pytest.mark.parametrize(
    "crash",
    [
        # the node executed it; the daemon never journaled the answer
        pytest.param("after-send", id="after-send"),
        # signed and journaled, never sent: the restarted daemon sends the same bytes
        pytest.param("before-send", id="before-send"),
    ],
)
def test_daemon_killed_around_a_runpayouts_journals_every_payment_once(
    pe: PE, tmp_path: Path, run_daemon: Any, crash: str
) -> None:
    """SIGKILL at the 2nd runpayouts (the test's breakpoint around the real client). The
    restarted daemon resumes from the journal; the chain paid each due exactly once and the
    journal lists every payment."""
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rkx", 12)
    sched = pe.schedule(payer, unique_name("s"), "killed after send")
    pe.book(sched, payer, {r: "1.0000 TST" for r in recipients})
    before = {r: pe.balance_units(r) for r in recipients}
    cfg = write_config(
        tmp_path / "admin.toml",
        [pe.url],
        journal=tmp_path / "journal.sqlite",
        payouts={"start_count": 2, "max_count": 2, "max_in_flight": 1},
    )
    log_path = tmp_path / "killed.log"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.faults.crashpoint",
                "--at",
                f"{crash}:runpayouts:2",
                "--",
                "admin",
                "--config",
                str(cfg),
            ],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=daemon_env(pe.daemon_key),
            cwd=tmp_path,
            start_new_session=True,
        )
    killed = DaemonProc(proc, log_path)
    try:
        proc.wait(timeout=90)
    finally:
        killed.stop(signal.SIGKILL, timeout=5)
    assert proc.returncode == -signal.SIGKILL, killed.log_text()[-3000:]
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    with journal.session() as s:
        kinds = [
            (r.kind, r.status)
            for r in s.scalars(select(JournalTx).where(JournalTx.kind == "runpayouts"))
        ]
    journal.close()
    # its outcome is unknown to the journal (other sender threads may have gone on meanwhile)
    assert ("runpayouts", "signed") in kinds, kinds

    d = run_daemon(cfg, pe.daemon_key, name="restarted")
    wait_for(
        lambda: all(pe.paid(sched, r) == 10_000 for r in recipients),
        timeout=90,
        what="every due paid",
        daemon=d,
    )

    def settled() -> dict[str, Any] | None:
        res = run_status(cfg)
        assert res.returncode == 0, res.stderr
        st: dict[str, Any] = json.loads(res.stdout)
        tx = st["transactions"]
        return st if tx["signed"] == tx["sent"] == tx["included"] == 0 else None

    st = wait_for(settled, timeout=60, what="journal settled", daemon=d)
    # status counts every payment of the daemon (the session's chain may hold other tests'
    # dues, which the daemon pays too); the journal's payments to these recipients are exact
    paid = {p["symbol"]: p for p in st["payments"]}
    assert paid["TST"]["count"] >= len(recipients)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    with journal.session() as s:
        ours = s.execute(
            select(Payment.recipient, Payment.amount)
            .join(JournalTx, JournalTx.tx_id == Payment.tx_id)
            .where(JournalTx.status == IRREVERSIBLE, Payment.recipient.in_(recipients))
        ).all()
    journal.close()
    assert sorted(ours) == sorted((r, 10_000) for r in recipients)
    for r in recipients:
        assert pe.balance_units(r) - before[r] == 10_000
    assert d.stop() == 0


class _RefusingNode(BaseHTTPRequestHandler):
    """A node of the same chain whose state differs (it has not seen what the first endpoint
    ran): it refuses every transaction with the contract's "nothing to pay"."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/chain/get_info":  # the same chain, healthy
            info = httpx.post(self.server.upstream + self.path, content=b"{}").content  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(info)))
            self.end_headers()
            self.wfile.write(info)
            return
        body = {
            "code": 500,
            "message": "Internal Service Error",
            "error": {
                "code": 3050003,
                "name": "eosio_assert_message_exception",
                "what": "eosio_assert_message assertion failure",
                "details": [{"message": "assertion failure with message: nothing to pay"}],
            },
        }
        raw = json.dumps(body).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def test_a_refusal_after_another_endpoint_lost_the_answer_is_not_final(
    pe: PE, tmp_path: Path
) -> None:
    """The first endpoint runs the runpayouts and loses the answer (a proxy drops it); the
    client fails over to a node that refuses the same bytes ("nothing to pay"). That refusal
    says nothing about the first node: the journal keeps the transaction ``sent``, the tracker
    finds it in its block and journals what it paid. (Found by the chaos suite: such a
    transaction was journaled ``idle`` while a block held its payments.)"""
    payer = pe.accounts("pyx", 1, open_token=None)[0]
    recipients = pe.accounts("rrf", 3)
    sched = pe.schedule(payer, unique_name("s"), "refused elsewhere")
    pe.book(sched, payer, {r: "1.0000 TST" for r in recipients})
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    setup = Sender(
        ChainClient([pe.url]),
        Journal(f"sqlite:///{tmp_path / 'setup.sqlite'}"),
        pe.daemon_key,
        contract=CONTRACT_ACCOUNT,
        authority=AUTHORITY,
        expiration_s=60,
        metrics=Metrics(),
    )
    _approve(pe, setup, sched, recipients)
    before = {r: pe.balance_units(r) for r in recipients}
    with EndpointProxy(pe.url, seed=1) as proxy, serve(_RefusingNode, upstream=pe.url) as refusing:
        proxy.set("drop_answer", paths=["/v1/chain/send_transaction"])
        client = ChainClient([proxy.url, url_of(refusing)], timeout=5.0)
        sender = Sender(
            client,
            journal,
            pe.daemon_key,
            contract=CONTRACT_ACCOUNT,
            authority=AUTHORITY,
            expiration_s=60,
            metrics=Metrics(),
        )
        try:
            sender.send("runpayouts", {"count": 20})
        except TransactionError as e:
            assert e.message == "nothing to pay" and e.maybe_elsewhere
        else:
            raise AssertionError("the second endpoint should have refused")
        assert proxy.hits["drop_answer"] == 1
        with journal.session() as s:
            (row,) = s.scalars(select(JournalTx).where(JournalTx.kind == "runpayouts"))
            assert row.status == "sent", row.status  # not idle: the first node may have run it
            tx_id = row.tx_id
        proxy.set("pass")
        tracker = Tracker(ChainClient([pe.url]), journal, sender.engine, resend_after_s=0.0)

        def settled() -> bool:
            tracker.run_once()
            with journal.session() as s:
                row = Journal.get(s, tx_id)
                return row is not None and row.status == IRREVERSIBLE

        wait_for(settled, timeout=60, what="the transaction found and irreversible")
        client.close()
    with journal.session() as s:
        paid = sorted(p.recipient for p in s.scalars(select(Payment).where(Payment.tx_id == tx_id)))
    assert paid == sorted(recipients)
    for r in recipients:
        assert pe.balance_units(r) - before[r] == pe.paid(sched, r) == 10_000
    journal.close()
