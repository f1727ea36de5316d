"""The daemon pays what is booked, approves who it should, and isolates poison recipients."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from payoutengine.amounts import format_amount

from .conftest import (
    PE,
    daemon_env,
    payoutengine_cmd,
    unique_name,
    wait_for,
    write_config,
)


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
    cfg = write_config(tmp_path / "admin.toml", [pe.url], journal=journal)
    d = run_daemon(cfg, pe.daemon_key)
    wait_for(lambda: _all_paid(pe, expected), timeout=60, what="every due paid", daemon=d)

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


def test_recipient_with_code_is_not_approved_nor_paid_and_can_claim(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    plain, with_code = pe.accounts("rcc", 2)
    pe.deploy_rejector(with_code)  # any code at all keeps an account from automatic payouts
    sched = pe.schedule(payer, unique_name("s"), "code test")
    pe.book(sched, payer, {plain: "1.0000 TST", with_code: "2.0000 TST"})

    cfg = write_config(tmp_path / "admin.toml", [pe.url], journal=tmp_path / "j.sqlite")
    d = run_daemon(cfg, pe.daemon_key)
    wait_for(
        lambda: pe.paid(sched, plain) == 10_000,
        timeout=60,
        what="the plain recipient paid",
        daemon=d,
    )
    # Give the daemon a few more cycles: the account with code stays unapproved and unpaid.
    wait_for(lambda: d.log_text().count('"runpayouts sent"') >= 1, timeout=10, what="a payout")
    time.sleep(3)
    assert pe.approved(with_code) is False
    assert pe.approved(plain) is True
    assert pe.paid(sched, with_code) == 0

    # It can claim (anyone can push claim for it); the contract rejects transfers to it only
    # because the rejector refuses them — swap in code that accepts and claim succeeds.
    pe.chain.deploy(
        with_code,
        _accepting_wasm(tmp_path),
        {"version": "eosio::abi/1.1", "structs": [], "actions": [], "tables": [], "types": []},
    )
    pe.chain.action(
        "payoutengine",
        "claim",
        {"schedule_name": sched, "recipient": with_code},
        f"{with_code}@active",
    )
    assert pe.paid(sched, with_code) == 20_000
    assert pe.balance_units(with_code) == 20_000
    assert pe.approved(with_code) is False
    assert d.stop() == 0


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


def test_poison_recipient_is_unapproved_and_everyone_else_paid(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rcx", 8)
    poison = recipients[3]
    sched1 = pe.schedule(payer, unique_name("s"), "poison one")
    sched2 = pe.schedule(payer, unique_name("s"), "poison two")

    cfg = write_config(tmp_path / "admin.toml", [pe.url], journal=tmp_path / "j.sqlite")
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

    # The approved recipient deploys a contract that rejects transfers; new dues are booked.
    pe.deploy_rejector(poison)
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
    logs = d.logs()
    found = [e for e in logs if e.get("msg", "").startswith("poison recipient unapproved")]
    assert [e["account"] for e in found] == [poison]
    # Within one cycle: no runpayouts failure for this recipient after it was unapproved.
    idx = logs.index(found[0])
    assert not any(e.get("msg", "").startswith("poison recipient") for e in logs[idx + 1 :])
    assert d.stop() == 0
