"""What the engine costs in CPU, NET and RAM per 1,000 payments on each local chain profile:
``scripts/bench resources [eos wax telos]``.

For each profile (ProfileChain: the chain's system contract, parameters and resource model)
it books 1,000 brand-new recipients in one schedule (book, 100 per transaction), approves
and wakes them (approveacc + wake, as the daemon does) and pays them
(``runpayouts`` with count 100, signed by the admin), then prints JSON lines
``{"metric", "value", "unit", "baseline", "ratio"}``:

- ``<profile>_cpu_us_per_1000_payments`` / ``<profile>_net_bytes_per_1000_payments``: billed
  CPU and NET of the runpayouts transactions (receipts of the blocks holding them);
- ``<profile>_approve_cpu_us_per_1000``: the approveacc and wake transactions for them;
- ``<profile>_payer_ram_bytes_per_1000_new_recipients``: the payer's RAM for their dues;
  ``<profile>_admin_ram_bytes_per_1000_approvals_and_payments``: the admin's;
- EOS: ``eos_powerup_fee_per_100000_payments``: the fee a fresh account paid (read from its
  trace) to rent, for a day, 100 times that CPU and NET from the PowerUp market in its
  current state (the fee for 1,000 payments alone is below the market's 0.0001 EOS minimum);
- WAX/Telos: ``<profile>_cpu_stake_per_1000_payments_per_day`` (and ``net``): the stake
  that gives that much CPU (NET) per 24 h window in the chain's current state, from the
  limits get_account reports for one token of stake.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import emit  # noqa: E402
from payoutengine import contract as pc  # noqa: E402
from payoutengine.amounts import Symbol  # noqa: E402
from payoutengine.errors import TransactionError  # noqa: E402
from payoutengine.localchain import ADMIN_ACCOUNT, CONTRACT_ACCOUNT, DEV_KEY  # noqa: E402
from payoutengine.resourcekeeper import spent_in_trace  # noqa: E402
from payoutengine.resources import account_usage, powerup_market  # noqa: E402
from payoutengine.systemchain import ProfileChain  # noqa: E402
from tests.conftest import CONTRACT_ABI, CONTRACT_WASM  # noqa: E402

N = 1000
TST = Symbol("TST", 4)


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def names(prefix: str) -> list[str]:
    out = []
    for i in range(N):
        s, n = "", i
        for _ in range(4):
            n, r = divmod(n, 26)
            s = chr(ord("a") + r) + s
        out.append(prefix + s)
    return out


def receipts(chain: ProfileChain, answers: list[dict[str, Any]]) -> tuple[int, int]:
    """(CPU µs, NET bytes) billed to these transactions, from their blocks' receipts."""
    by_block: dict[int, set[str]] = {}
    for a in answers:
        p = a["processed"]
        by_block.setdefault(int(p["block_num"]), set()).add(str(p["id"]))
    chain.wait_blocks(2)
    cpu = net = 0
    for num, ids in by_block.items():
        for t in chain.client.get_block(num).get("transactions") or []:
            trx = t.get("trx")
            tid = trx.get("id") if isinstance(trx, dict) else trx
            if tid in ids:
                cpu += int(t["cpu_usage_us"])
                net += int(t["net_usage_words"]) * 8
    return cpu, net


def measure(profile: str, tmp: Path) -> None:
    chain = ProfileChain(tmp / profile, profile=profile)
    chain.start()
    try:
        chain.bootstrap(CONTRACT_WASM, CONTRACT_ABI)
        p = chain.profile
        payer, sched = "respayer", "ressched"
        chain.create_account(payer)
        chain.buy_ram(payer, 2 * 1024 * 1024)
        if p.resources == "powerup":
            chain.powerup(payer, cpu_frac=10**13, net_frac=10**13)
            chain.powerup(ADMIN_ACCOUNT, cpu_frac=10**13, net_frac=10**13)
        else:
            big = p.core("10000000")
            chain.stake(payer, big, big)
            chain.stake(ADMIN_ACCOUNT, big, big)
        recipients = names("rs")
        chain.create_accounts(recipients, open_symbol="4,TST")
        chain.fund(payer, "100000.0000 TST")
        chain.action(
            CONTRACT_ACCOUNT,
            "newschedule",
            {
                "payer": payer,
                "schedule_name": sched,
                "tkcontract": "eosio.token",
                "currency": "0.0000 TST",
                "memo": "bench",
            },
            f"{payer}@active",
        )
        chain.transfer(payer, CONTRACT_ACCOUNT, "90000.0000 TST", "deposit")
        chain.wait_blocks(2)
        ram0 = account_usage(chain.client, payer).ram_usage_bytes
        for i in range(0, N, 100):
            records = [pc.BookRecord(r, 10_000) for r in recipients[i : i + 100]]
            chain.push(
                [pc.book(CONTRACT_ACCOUNT, sched, TST, records, authority=[f"{payer}@active"])]
            )
        payer_ram = account_usage(chain.client, payer).ram_usage_bytes - ram0
        # approved after booking (the contract meets them then); wake readies their dues
        auth = [f"{ADMIN_ACCOUNT}@active"]
        admin_ram0 = account_usage(chain.client, ADMIN_ACCOUNT).ram_usage_bytes
        approvals = [
            chain.push([pc.approveacc(CONTRACT_ACCOUNT, recipients[i : i + 100], authority=auth)])
            for i in range(0, N, 100)
        ]
        approvals += [
            chain.push([pc.wake(CONTRACT_ACCOUNT, sched, recipients[i : i + 100], authority=auth)])
            for i in range(0, N, 100)
        ]
        pays: list[dict[str, Any]] = []
        while True:
            try:
                pays.append(
                    chain.client.push(
                        [pc.runpayouts(CONTRACT_ACCOUNT, 100, authority=auth)],
                        [DEV_KEY],
                        expiration_s=60 + len(pays),  # a new id each time
                    )
                )
            except TransactionError as e:
                if e.message != pc.Msg.NOTHING_TO_PAY:
                    raise
                log(f"stopped after {len(pays)} runpayouts: {e.message}")
                break
        cpu, net = receipts(chain, pays)
        approve_cpu, _ = receipts(chain, approvals)
        admin_ram = account_usage(chain.client, ADMIN_ACCOUNT).ram_usage_bytes - admin_ram0
        emit(f"{profile}_cpu_us_per_1000_payments", cpu, "us")
        emit(f"{profile}_net_bytes_per_1000_payments", net, "bytes")
        emit(f"{profile}_approve_cpu_us_per_1000", approve_cpu, "us")
        emit(f"{profile}_payer_ram_bytes_per_1000_new_recipients", payer_ram, "bytes")
        emit(f"{profile}_admin_ram_bytes_per_1000_approvals_and_payments", admin_ram, "bytes")
        core = Symbol.parse(p.core_symbol)
        if p.resources == "powerup":
            market = powerup_market(chain.client)
            probe = "resfeeprobe"
            chain.create_account(probe)
            chain.transfer("eosio", probe, p.core("100"), "fee")
            answer = chain.powerup(
                probe,
                cpu_frac=market.frac_for("cpu", 100 * cpu),
                net_frac=market.frac_for("net", 100 * net),
                payer=probe,
            )
            # rented for 100,000 payments: the fee for 1,000 is below the 0.0001 EOS minimum
            fee = spent_in_trace(answer, probe, core)
            emit("eos_powerup_fee_per_100000_payments", fee, f"units of 10^-{core.precision} EOS")
        else:
            probe = "resstakeprob"
            chain.create_account(probe)  # the profile's 1 + 1 token of stake
            chain.wait_blocks(2)
            u = account_usage(chain.client, probe)
            one = 10**core.precision
            for res, used, per_token in (("cpu", cpu, u.cpu_max_us), ("net", net, u.net_max_bytes)):
                stake = -(-used * one // max(1, per_token or 0))
                emit(
                    f"{profile}_{res}_stake_per_1000_payments_per_day",
                    stake,
                    f"units of 10^-{core.precision} {core.code}",
                )
    finally:
        chain.stop()


def main() -> None:
    profiles = sys.argv[1:] or ["eos", "wax", "telos"]
    with tempfile.TemporaryDirectory(prefix="resources-bench-") as tmp:
        for profile in profiles:
            log(f"{profile}: {N} recipients booked, approved and paid")
            measure(profile, Path(tmp))


if __name__ == "__main__":
    main()
