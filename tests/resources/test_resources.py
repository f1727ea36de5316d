"""CPU, NET and RAM handled on mainnet-profile chains (ProfileChain eos and wax): the admin
daemon powers its account up within its daily cap, waits (alerting) past it and resumes when
the cap is raised; payer sync buys the RAM its bookings need; on WAX the keeper reports and
stakes from a funding account. After each: every recipient's balance = paid_total <=
booked_total = the payer's database total."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from payoutengine.contract import setadmin
from payoutengine.deploy import daemon_permission_actions
from payoutengine.errors import TransactionError
from payoutengine.journal import Journal
from payoutengine.keys import PrivateKey
from payoutengine.localchain import CONTRACT_ACCOUNT, DEV_KEY
from payoutengine.resourcekeeper import ResourceKeeper, ResourceMetrics, ResourcesConfig
from payoutengine.resources import account_usage, exhaustion_of
from payoutengine.sending import Sender
from payoutengine.systemchain import ProfileChain
from payoutengine.transactions import Action
from tests.daemon.conftest import DAEMON_PERMISSION, free_port, wait_for, write_config
from tests.node.conftest import unique_name

EOS = [pytest.param("eos", id="eos")]
WAX = [pytest.param("wax", id="wax")]
TOKEN = "eosio.token"


def _admin_without_cpu(chain: ProfileChain) -> tuple[str, PrivateKey]:
    """A fresh admin as on EOS mainnet: RAM, core tokens, a daemon permission linked to its
    contract actions and eosio::powerup — and no CPU or NET at all. The set-up transaction is
    billed to eosio (its first authorizer)."""
    admin = unique_name("ra")
    chain.create_account(admin)
    chain.buy_ram(admin, 16 * 1024)
    key = PrivateKey.generate()
    fund = Action(
        TOKEN,
        "transfer",
        ["eosio@active"],
        {"from": "eosio", "to": admin, "quantity": "100.0000 EOS", "memo": "fees"},
    )
    perm = daemon_permission_actions(
        admin, DAEMON_PERMISSION, key.public_key, contract=CONTRACT_ACCOUNT, powerup=True
    )
    chain.push([fund, *perm])
    current = chain.client.get_table_rows(CONTRACT_ACCOUNT, CONTRACT_ACCOUNT, "settings")["rows"][0]
    who = [f"{CONTRACT_ACCOUNT}@active", f"{current['admin']}@active"]
    chain.push([setadmin(CONTRACT_ACCOUNT, admin, authority=who)])
    chain.wait_blocks(2)
    usage = account_usage(chain.client, admin)
    assert usage.cpu_available_us == 0 and usage.net_available_bytes == 0
    return admin, key


def _payer_with_dues(chain: ProfileChain, n: int, units: int) -> tuple[str, str, dict[str, int]]:
    """A provisioned payer with a TST schedule, n recipients (TST rows open) booked ``units``
    each. Returns (payer, schedule, totals): the payer's "database"."""
    payer, sched = unique_name("rp"), unique_name("rs")
    chain.create_account(payer)
    chain.buy_ram(payer, 128 * 1024)
    chain.provision(payer)
    chain.fund(payer, "1000.0000 TST")
    recipients = [unique_name("rr") for _ in range(n)]
    chain.create_accounts(recipients, open_symbol="4,TST")
    chain.action(
        CONTRACT_ACCOUNT,
        "newschedule",
        {
            "payer": payer,
            "schedule_name": sched,
            "tkcontract": TOKEN,
            "currency": "0.0000 TST",
            "memo": "res",
        },
        f"{payer}@active",
    )
    chain.transfer(payer, CONTRACT_ACCOUNT, "900.0000 TST", "deposit")
    total = f"{units // 10_000}.{units % 10_000:04d} TST"
    chain.action(
        CONTRACT_ACCOUNT,
        "book",
        {
            "schedule_name": sched,
            "records": [{"recipient": r, "new_total": total} for r in recipients],
        },
        f"{payer}@active",
    )
    return payer, sched, {r: units for r in recipients}


def _recipient(chain: ProfileChain, sched: str, account: str) -> dict[str, int]:
    rows = chain.client.get_table_rows(
        CONTRACT_ACCOUNT, sched, "recipients", lower_bound=account, upper_bound=account, limit=1
    )["rows"]
    return (
        {"paid": int(rows[0]["paid_total"]), "booked": int(rows[0]["booked_total"])} if rows else {}
    )


def _all_paid(chain: ProfileChain, sched: str, totals: dict[str, int]) -> bool:
    return all(_recipient(chain, sched, r).get("paid") == t for r, t in totals.items())


def _check_invariant(chain: ProfileChain, sched: str, totals: dict[str, int]) -> None:
    """balance = paid_total <= booked_total = database total, for every recipient."""
    for r, db_total in totals.items():
        row = _recipient(chain, sched, r)
        bal = chain.client.get_balance(TOKEN, r, "TST")
        balance = 0 if bal is None else bal.amount
        assert balance == row["paid"] <= row["booked"] == db_total, (r, balance, row, db_total)


def _journal_rows(path: Path, kind: str) -> list[tuple[str, str]]:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return [
            (str(a), str(b))
            for a, b in con.execute(
                "select tx_id, status from transactions where kind = ?", (kind,)
            ).fetchall()
        ]
    finally:
        con.close()


def _config(tmp: Path, chain: ProfileChain, admin: str, journal: Path, **resources: object) -> Path:
    return write_config(
        tmp / "admin.toml",
        [chain.url],
        journal=journal,
        admin={"account": admin, "permission": DAEMON_PERMISSION},
        resources={
            "min_cpu_us": 20_000,
            "min_net_bytes": 5_000,
            "powerup_cpu_us": 2_000_000,
            "powerup_net_bytes": 200_000,
            "check_interval_s": 1.0,
            **resources,
        },
    )


@pytest.mark.parametrize("profile_chain", EOS, indirect=True)
def test_daemon_without_cpu_powers_up_within_cap_and_pays_once(
    profile_chain: ProfileChain, tmp_path: Path, run_daemon: Callable[..., object]
) -> None:
    chain = profile_chain
    admin, key = _admin_without_cpu(chain)
    _payer, sched, totals = _payer_with_dues(chain, 12, 12_345)
    journal = tmp_path / "journal.sqlite"
    cfg = _config(tmp_path, chain, admin, journal, max_powerup_fee_per_day="5.0000 EOS")
    d = run_daemon(cfg, key)
    wait_for(lambda: _all_paid(chain, sched, totals), timeout=60, what="every due paid", daemon=d)
    _check_invariant(chain, sched, totals)
    powerups = _journal_rows(journal, "powerup")
    assert powerups and all(st != "failed" for _, st in powerups)
    with Journal(f"sqlite:///{journal}").session() as s:
        day = next(v for k, v in _state(s).items() if k.startswith(f"resources:{admin}:powerup:"))
    spent = sum(json.loads(day).values())
    assert 0 < spent <= 5_0000
    assert int(account_usage(chain.client, admin).cpu_max_us or 0) > 1_000_000
    assert "powered up" in d.log_text()  # type: ignore[attr-defined]


def _state(s: object) -> dict[str, str]:
    from sqlalchemy import select

    from payoutengine.journal import StateValue

    return {r.key: r.value for r in s.scalars(select(StateValue))}  # type: ignore[attr-defined]


def _metric(port: int, name: str, labels: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None  # not serving yet
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize("profile_chain", EOS, indirect=True)
def test_daemon_past_its_cap_alerts_waits_and_resumes_when_raised(
    profile_chain: ProfileChain, tmp_path: Path, run_daemon: Callable[..., object]
) -> None:
    chain = profile_chain
    admin, key = _admin_without_cpu(chain)
    _payer, sched, totals = _payer_with_dues(chain, 8, 20_000)
    journal = tmp_path / "journal.sqlite"
    port = free_port()
    tiny = _config(tmp_path, chain, admin, journal, max_powerup_fee_per_day="0.0001 EOS")
    text = tiny.read_text().replace("port = 0", f"port = {port}")
    tiny.write_text(text)
    d = run_daemon(tiny, key)
    labels = f'account="{admin}",resource="cpu"'
    wait_for(
        lambda: _metric(port, "payoutengine_resource_budget_exhausted", labels) == 1.0,
        timeout=30,
        what="the budget-exhausted alert",
        daemon=d,
    )
    import time

    time.sleep(3)  # it waits: nothing is paid, the alert is one line
    assert all(_recipient(chain, sched, r)["paid"] == 0 for r in totals)
    alerts = [
        line
        for line in d.logs()
        if line.get("msg") == "resource budget exhausted"  # type: ignore[attr-defined]
    ]
    assert 1 <= len(alerts) <= 2, alerts  # one per resource (cpu, net) per episode
    assert "max_powerup_fee_per_day" in alerts[0]["reason"]
    assert d.stop() == 0  # type: ignore[attr-defined]
    # the operator raises the cap and restarts: it powers up and pays everyone, once
    raised = _config(tmp_path, chain, admin, journal, max_powerup_fee_per_day="5.0000 EOS")
    d2 = run_daemon(raised, key)
    wait_for(lambda: _all_paid(chain, sched, totals), timeout=60, what="every due paid", daemon=d2)
    _check_invariant(chain, sched, totals)


def test_exhaustion_names_are_the_nodes() -> None:
    """The texts the eos profile chain answered (see payoutengine.resources)."""
    cpu = TransactionError(
        "billed CPU time (100 us) is greater than the maximum billable CPU time for the "
        "transaction (0 us) reached account cpu limit 0us",
        name="tx_cpu_usage_exceeded",
    )
    big = TransactionError(
        "transaction 06a2 was executing for too long 150122us reached node configured "
        "max-transaction-time 150000us",
        name="tx_cpu_usage_exceeded",
    )
    net = TransactionError(
        "transaction net usage is too high: 128 > 0", name="tx_net_usage_exceeded"
    )
    ram = TransactionError(
        "account probe1 has insufficient ram; needs 6329 bytes has 5488 bytes",
        name="ram_usage_exceeded",
    )
    assert exhaustion_of(cpu) is not None and exhaustion_of(cpu).scope == "account"  # type: ignore[union-attr]
    assert exhaustion_of(big) is not None and exhaustion_of(big).scope == "transaction"  # type: ignore[union-attr]
    assert exhaustion_of(net) is not None and exhaustion_of(net).resource == "net"  # type: ignore[union-attr]
    r = exhaustion_of(ram)
    assert r is not None and (r.resource, r.account, r.needed, r.available) == (
        "ram",
        "probe1",
        6329,
        5488,
    )
    assert (
        exhaustion_of(TransactionError("nothing to pay", name="eosio_assert_message_exception"))
        is None
    )


@pytest.mark.parametrize("profile_chain", EOS, indirect=True)
def test_payer_sync_out_of_ram_buys_it_within_cap_and_books_exactly(
    profile_chain: ProfileChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payer_sync.config import (
        BatchConfig,
        ChainConfig,
        PayerConfig,
        SourceConfig,
        StateConfig,
        SyncConfig,
    )
    from payer_sync.engine import Syncer
    from tests.sync.conftest import ledger

    chain = profile_chain
    monkeypatch.setenv("RES_PAYER_KEY", DEV_KEY.to_wif())
    payer, sched = unique_name("rq"), unique_name("rt")
    chain.create_account(payer)  # mainnet's new-account RAM: a few hundred bytes free
    chain.buy_ram(payer, 1024)  # enough for its schedule row, not for its recipients
    chain.provision(payer)
    chain.fund(payer, "1000.0000 TST")
    chain.transfer("eosio", payer, "20.0000 EOS", "ram")
    chain.action(
        CONTRACT_ACCOUNT,
        "newschedule",
        {
            "payer": payer,
            "schedule_name": sched,
            "tkcontract": TOKEN,
            "currency": "0.0000 TST",
            "memo": "res",
        },
        f"{payer}@active",
    )
    chain.transfer(payer, CONTRACT_ACCOUNT, "900.0000 TST", "deposit")
    recipients = [unique_name("rn") for _ in range(30)]
    chain.create_accounts(recipients)  # no TST rows: payer sync opens them (payer's RAM)
    free_before = account_usage(chain.client, payer).ram_free_bytes
    assert free_before is not None and free_before < 30 * 600
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    credit = ledger(url)
    totals = {r: 1_000 + i for i, r in enumerate(recipients)}
    credit(*[(r, t) for r, t in totals.items()])
    cfg = SyncConfig(
        chain=ChainConfig(endpoints=(chain.url,)),
        payer=PayerConfig(account=payer, schedule=sched, key_env="RES_PAYER_KEY"),
        source=SourceConfig(url=url),
        state=StateConfig(url=f"sqlite:///{tmp_path / 'state.sqlite'}"),
        batch=BatchConfig(records_per_tx=100, confirm_timeout_s=20.0),
        resources=ResourcesConfig(max_ram_fee_per_day="5.0000 EOS"),
    )
    syncer = Syncer.from_config(cfg)
    report = syncer.sync()
    assert not report.failures, report.failures
    assert {i.recipient for i in report.booked} == set(recipients)
    spent = syncer.resources.spent_today("ram")
    assert 0 < spent <= 5_0000
    assert [st for _, st in _journal_rows(tmp_path / "state.sqlite", "buyrambytes")] != []
    assert account_usage(chain.client, payer).ram_free_bytes is not None
    _check_invariant(chain, sched, totals)
    # a second sync finds nothing to book: exactly once
    again = Syncer.from_config(cfg).sync()
    assert not again.booked and not again.failures


@pytest.mark.parametrize("profile_chain", WAX, indirect=True)
def test_wax_keeper_reports_then_stakes_from_the_funding_account_within_its_cap(
    profile_chain: ProfileChain, tmp_path: Path
) -> None:
    chain = profile_chain
    account, funder = unique_name("rw"), unique_name("rf")
    chain.create_account(account)
    chain.create_account(funder)
    chain.transfer("eosio", funder, "1000.00000000 WAX", "stake")
    chain.wait_blocks(2)
    one_wax_cpu = account_usage(chain.client, account).cpu_max_us
    assert one_wax_cpu is not None and one_wax_cpu > 0
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    base = {
        "min_cpu_us": 10 * one_wax_cpu,  # 1 WAX of stake is short; 101 WAX is not
        "powerup_cpu_us": 20 * one_wax_cpu,
        "min_net_bytes": 0,
        "check_interval_s": 0.1,
    }

    def keeper(cfg: ResourcesConfig, registry: CollectorRegistry) -> ResourceKeeper:
        return ResourceKeeper(
            chain.client,
            journal,
            cfg,
            account=account,
            permission="active",
            sender=Sender(chain.client, journal, [DEV_KEY], expiration_s=60),
            stake_sender=Sender(chain.client, journal, [DEV_KEY], expiration_s=60),
            metrics=ResourceMetrics(registry),
        )

    reg = CollectorRegistry()
    reporter = keeper(ResourcesConfig(**base), reg)  # type: ignore[arg-type]
    assert reporter.model == "stake"
    assert reporter.ensure(force=True) is False  # reports: nothing configured to stake with
    assert (
        reg.get_sample_value(
            "payoutengine_resource_budget_exhausted", {"account": account, "resource": "cpu"}
        )
        == 1.0
    )
    cfg = ResourcesConfig(
        **base,  # type: ignore[arg-type]
        stake_from=funder,
        stake_cpu="100.00000000 WAX",
        max_stake_per_day="150.00000000 WAX",
    )
    reg2 = CollectorRegistry()
    staker = keeper(cfg, reg2)
    assert staker.ensure(force=True) is True
    res = chain.resources(account)
    assert int(res["cpu_weight"]) == 101 * 10**8  # its own 1 WAX + 100 from the funder
    assert staker.spent_today("stake") == 100 * 10**8
    assert (
        reg2.get_sample_value(
            "payoutengine_resource_budget_exhausted", {"account": account, "resource": "cpu"}
        )
        == 0.0
    )
    # the cap holds: another 100 WAX would pass 150 today
    assert staker._stake(["cpu"]) is False  # noqa: SLF001 - ask for more, as a refusal would
    assert int(chain.resources(account)["cpu_weight"]) == 101 * 10**8
    journal.close()


def test_resources_config_is_typed_env_overridable_and_checked(tmp_path: Path) -> None:
    from daemon.config import load_config
    from payoutengine.errors import ConfigError

    path = tmp_path / "admin.toml"
    path.write_text(
        '[chain]\nendpoints = ["http://127.0.0.1:8888"]\n[admin]\naccount = "pe.admin"\n'
        '[resources]\nmax_powerup_fee_per_day = "1.0000 EOS"\n'
    )
    cfg = load_config(path, env={})
    assert cfg.resources.max_powerup_fee_per_day == "1.0000 EOS"
    raised = load_config(path, env={"PAYOUTENGINE_RESOURCES_MAX_POWERUP_FEE_PER_DAY": "5.0000 EOS"})
    assert raised.resources.max_powerup_fee_per_day == "5.0000 EOS"
    for env, message in (
        (
            {"PAYOUTENGINE_RESOURCES_MAX_POWERUP_FEE_PER_DAY": "1.0 EOS tokens"},
            "max_powerup_fee_per_day",
        ),
        ({"PAYOUTENGINE_RESOURCES_MAX_RAM_FEE_PER_DAY": "1.00000000 WAX"}, "core token"),
        ({"PAYOUTENGINE_RESOURCES_MODEL": "rex"}, "model must be"),
        ({"PAYOUTENGINE_RESOURCES_STAKE_FROM": "funder"}, "max_stake_per_day"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(path, env=env)
