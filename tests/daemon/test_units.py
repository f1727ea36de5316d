"""Logic of the daemon that needs no chain: configuration, count adaptation, trace parsing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from daemon.config import load_config
from daemon.metrics import Metrics
from daemon.payouts import CountController
from payoutengine.errors import ConfigError
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
