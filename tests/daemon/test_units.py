"""Logic of the daemon that needs no chain: configuration, count adaptation, trace parsing."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from daemon.anomalies import ChainAnomalies
from daemon.config import load_config
from daemon.contract import NOTHING_TO_PAY
from daemon.metrics import Metrics
from daemon.payouts import CountController, PayoutsJob
from daemon.sender import Sender
from payoutengine.client import ChainClient, Health
from payoutengine.errors import ConfigError, TransactionError
from payoutengine.journal import Journal, Payment
from payoutengine.keys import PrivateKey
from payoutengine.logs import JsonFormatter
from payoutengine.traces import transfers_in_trace

MINIMAL = '[chain]\nendpoints = ["http://127.0.0.1:8888"]\n[admin]\naccount = "pe.admin"\n'


def test_defaults_file_and_environment_overrides(tmp_path: Path) -> None:
    cfg_file = tmp_path / "admin.toml"
    cfg_file.write_text(MINIMAL + '[payouts]\nmax_count = 300\n[journal]\nurl = "sqlite:///j.db"\n')
    env = {
        "PAYOUTENGINE_CHAIN_ENDPOINTS": "http://a:8888, http://b:8888",
        "PAYOUTENGINE_PAYOUTS_MIN_COUNT": "5",
        "PAYOUTENGINE_LOG_JSON": "true",
        "PAYOUTENGINE_ADMIN_PERMISSION": "payout",
    }
    cfg = load_config(cfg_file, env=env)
    assert cfg.chain.endpoints == ["http://a:8888", "http://b:8888"]
    assert (cfg.payouts.min_count, cfg.payouts.max_count) == (5, 300)
    assert cfg.log.json is True
    assert cfg.authority == "pe.admin@payout"
    assert cfg.contract.account == "payoutengine"
    assert cfg.chain.max_lib_stall_s == 60.0
    assert (
        load_config(
            cfg_file, env={**env, "PAYOUTENGINE_CHAIN_MAX_LIB_STALL_S": "90"}
        ).chain.max_lib_stall_s
        == 90.0
    )
    # A relative SQLite path is relative to the configuration file.
    assert cfg.journal.url == f"sqlite:///{tmp_path.resolve() / 'j.db'}"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        pytest.param({"PAYOUTENGINE_PAYOUTS_MAX_COUNT": "lots"}, "must be an integer", id="int"),
        pytest.param({"PAYOUTENGINE_LOG_JSON": "maybe"}, "true or false", id="bool"),
        pytest.param({"PAYOUTENGINE_CHAIN_ENDPOINTS": "ftp://x"}, "not an http(s) URL", id="url"),
        pytest.param({"PAYOUTENGINE_ADMIN_ACCOUNT": "Bad_Name"}, "not a valid", id="name"),
        pytest.param({"PAYOUTENGINE_PAYOUTS_SENDERS": "0"}, "senders", id="senders"),
        pytest.param(
            {"PAYOUTENGINE_CHAIN_MAX_LIB_STALL_S": "2"}, "max_lib_stall_s", id="lib-stall"
        ),
    ],
)
def test_bad_environment_values(tmp_path: Path, env: dict[str, str], fragment: str) -> None:
    cfg_file = tmp_path / "admin.toml"
    cfg_file.write_text(MINIMAL)
    with pytest.raises(ConfigError, match=None) as exc:
        load_config(cfg_file, env=env)
    assert fragment in str(exc.value)
    assert str(exc.value).endswith(".")


def test_count_controller_shrinks_on_cpu_and_grows_below_the_ceiling(tmp_path: Path) -> None:
    cfg_file = tmp_path / "admin.toml"
    cfg_file.write_text(MINIMAL + "[payouts]\nmin_count = 2\nmax_count = 500\nstart_count = 100\n")
    c = CountController(load_config(cfg_file, env={}).payouts, Metrics())
    c.succeeded(100, 100)
    assert c.value == 125
    c.succeeded(125, 60)  # paid fewer than asked: no growth
    assert c.value == 125
    assert c.failed_cpu(125) is True
    assert c.value == 87 and c.ceiling == 125
    for _ in range(5):
        c.succeeded(c.value, c.value)
    assert c.value == int(125 * CountController.HEADROOM)  # capped below the ceiling
    for _ in range(10):
        c.failed_cpu(c.value)
    assert c.value == 2
    assert c.failed_cpu(2) is False  # at the minimum: the caller must look elsewhere


def test_count_stays_within_a_share_of_the_block_cpu(tmp_path: Path) -> None:
    """At 300 µs a payment a 200 ms block holds 666 payments: one transaction of 470 (141 ms)
    would fill it only once; the count stays at 30 % of the block (200) so three fill it."""
    cfg_file = tmp_path / "admin.toml"
    cfg_file.write_text(MINIMAL + "[payouts]\nmin_count = 2\nmax_count = 1000\nstart_count = 400\n")
    c = CountController(load_config(cfg_file, env={}).payouts, Metrics())
    c.succeeded(400, 400, cpu_us=120_000, block_cpu_us=200_000)
    assert c.cpu_per_payment == 300.0
    assert c.value == 200
    for _ in range(5):
        c.succeeded(c.value, c.value, cpu_us=c.value * 300, block_cpu_us=200_000)
    assert c.value == 200
    # cheaper payments (a quieter node) let the count grow again, up to the new share
    for _ in range(20):
        c.succeeded(c.value, c.value, cpu_us=c.value * 100, block_cpu_us=200_000)
    assert 500 < c.value <= 600
    # get_info read late in a full block shows what is left of it (10 ms): the count keeps
    # to a share of a whole block, the largest figure seen
    value = c.value
    c.succeeded(c.value, c.value, cpu_us=c.value * 100, block_cpu_us=10_000)
    assert c.value >= value and c.block_cpu_us == 200_000
    # without CPU figures (an answer lost, read back later) the count is left as it is
    before = c.value
    c.succeeded(10, 5)
    assert c.value == before


def test_transfers_from_a_trace() -> None:
    def at(receiver: str, account: str, name: str, data: dict) -> dict:
        return {"receiver": receiver, "act": {"account": account, "name": name, "data": data}}

    pay = {"from": "payoutengine", "to": "alice", "quantity": "1.2345 TST", "memo": "hi"}
    trace = {
        "processed": {
            "action_traces": [
                at("payoutengine", "payoutengine", "runpayouts", {"count": 5}),
                at("eosio.token", "eosio.token", "transfer", pay),
                at("payoutengine", "eosio.token", "transfer", pay),  # notifications
                at("alice", "eosio.token", "transfer", pay),
                at("eosio.token", "eosio.token", "transfer", {**pay, "from": "bob"}),
            ]
        }
    }
    [t] = transfers_in_trace(trace, "payoutengine")
    assert (t.recipient, t.amount, t.symbol, t.precision, t.memo) == (
        "alice",
        12345,
        "TST",
        4,
        "hi",
    )


def test_json_logs_carry_context_and_never_the_secret() -> None:
    key = PrivateKey.generate()
    rec = logging.LogRecord("daemon", logging.INFO, __file__, 1, "ready", (), None)
    rec.public_key = key.public_key
    rec.key = key  # even a key object passed by mistake shows only its public key
    line = json.loads(JsonFormatter().format(rec))
    assert line["msg"] == "ready" and line["public_key"] == key.public_key
    assert key.to_wif() not in json.dumps(line)


def _health(lib: int, *, ok: bool = True, answered: bool = True) -> Health:
    return Health(
        "http://n:8888",
        ok,
        "ab" * 32 if answered else "",
        lib + 30,
        2.0 if ok else 99.0,
        () if ok else ("http://n:8888: stale",),
        lib,
    )


def test_chain_anomalies_pause_once_and_resume(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    metrics = Metrics()
    watch = ChainAnomalies(max_lib_stall_s=10, metrics=metrics, clock=lambda: now[0])

    def gauge(kind: str) -> float | None:
        return metrics.registry.get_sample_value("payoutengine_chain_anomaly", {"kind": kind})

    assert gauge("lib_stalled") == 0 and gauge("head_behind") == 0
    caplog.set_level(logging.INFO, logger="daemon.anomalies")
    for t in range(0, 30):  # the LIB stands at 100 from t=0
        now[0] = float(t)
        watch.observe(_health(100))
        # a failover to a node that lags is no progress
        watch.observe(_health(90))
        assert watch.paused() == (t > 10), t
    assert watch.active() == ["lib_stalled"] and gauge("lib_stalled") == 1
    watch.observe(_health(0, answered=False))  # no endpoint answered: nothing learned
    assert watch.paused()
    now[0] = 31.0
    watch.observe(_health(101))
    assert not watch.paused() and gauge("lib_stalled") == 0
    watch.observe(_health(101, ok=False))
    assert watch.active() == ["head_behind"] and gauge("head_behind") == 1
    watch.observe(_health(102))
    assert not watch.paused()
    lines = [(r.levelname, r.getMessage(), getattr(r, "kind", None)) for r in caplog.records]
    assert lines == [
        (
            "WARNING",
            "chain anomaly: the last irreversible block has not advanced; new payouts paused",
            "lib_stalled",
        ),
        ("INFO", "chain anomaly over; payouts resume", "lib_stalled"),
        (
            "WARNING",
            "chain anomaly: every endpoint's head block is behind the wall clock; new payouts "
            "paused",
            "head_behind",
        ),
        ("INFO", "chain anomaly over; payouts resume", "head_behind"),
    ]


def test_payments_are_corrected_to_what_the_block_paid(tmp_path: Path) -> None:
    """The answer to a send said alice was paid; the block that took the transaction paid bob
    (the answering node ran it on another state): at irreversibility the journal keeps bob."""

    def trace(to: str) -> dict:
        pay = {"from": "payoutengine", "to": to, "quantity": "0.0005 TST", "memo": ""}
        return {
            "action_traces": [
                {
                    "receiver": "eosio.token",
                    "act": {"account": "eosio.token", "name": "transfer", "data": pay},
                },
            ]
        }

    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    sender = Sender(
        ChainClient(["http://127.0.0.1:9"]),  # never asked: the traces are given
        journal,
        PrivateKey.generate(),
        contract="payoutengine",
        authority="pe.admin@payout",
        expiration_s=60,
        metrics=Metrics(),
    )
    expiration = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    with journal.session() as s:
        row = Journal.record_signed(
            s, tx_id="ab" * 32, kind="runpayouts", data={}, signed_json="{}", expiration=expiration
        )
        sender._record_payments(s, row, trace("alice"))
    for _ in range(2):  # the second time the block agrees with the journal: nothing changes
        with journal.session() as s:
            row = Journal.get(s, "ab" * 32)
            assert row is not None
            sender._confirm_payments(s, row, trace("bob"))
        with journal.session() as s:
            paid = [(p.recipient, p.amount) for p in s.scalars(select(Payment))]
            assert paid == [("bob", 5)]
            assert Journal.get(s, "ab" * 32).payments == 1  # type: ignore[union-attr]
    journal.close()


def test_a_booking_just_after_nothing_to_pay_is_paid_at_the_next_poll(tmp_path: Path) -> None:
    """The contract answers "nothing to pay" and a payer's booking executes right after, before
    the daemon reads anything again: the next poll drains again (the revision moved since the
    drain began), it does not take the booking for part of the idle state and leave it for
    idle_recheck_s (an hour here)."""
    cfg_file = tmp_path / "admin.toml"
    cfg_file.write_text(MINIMAL + "[payouts]\nsenders = 1\nidle_recheck_s = 3600\n")
    cfg = load_config(cfg_file, env={}).payouts

    class View:
        revision = 7
        sends = 0
        client = SimpleNamespace(get_info=lambda: {"head_block_num": 1})

        def settings(self) -> SimpleNamespace:
            return SimpleNamespace(revision=self.revision)

        def has_active(self) -> bool:
            return True

    view = View()

    def send(action: str, data: dict, *, info: dict | None = None) -> None:
        view.sends += 1
        if view.sends == 1:
            view.revision += 1  # the booking, executed just after this refusal
        raise TransactionError(NOTHING_TO_PAY)

    job = PayoutsJob(
        cfg,
        gate=SimpleNamespace(client=lambda: object(), payouts_paused=lambda: False),
        view=view,
        sender=SimpleNamespace(send=send),
        poison=None,
        metrics=Metrics(),
        stop=threading.Event(),
        resources=SimpleNamespace(ensure=lambda: True),
    )  # type: ignore[arg-type]
    job.run()
    assert view.sends == 1
    job.run()  # the booking moved the revision: drain again
    assert view.sends == 2
    job.run()  # nothing moved since: idle until idle_recheck_s
    assert view.sends == 2
