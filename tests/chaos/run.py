"""``scripts/chaos``: the engine's promise under faults, on a multi-producer mainnet-profile
network, checked from chain state and the payer's database.

    scripts/chaos                      a short run (40 faults, seed 1)
    scripts/chaos --faults 1000        the full run
    scripts/chaos --seed 7 -v          another seed, one JSON line per fault too

Payer sync (``payoutengine sync run``) and the admin daemon (``payoutengine admin``) run as
separate processes while a writer keeps crediting the payer's database and faults are injected
at random moments drawn from the seed (:mod:`tests.chaos.faults`). Then everything is let
settle: faults end, the writer stops, both programs run clean until every credit is booked and
every booking paid (or ``--settle-timeout`` passes). The checks:

- ``double_pays``: recipients whose token balance exceeds their ``paid_total`` (each chaos
  recipient receives from the engine only), plus those whose ``paid_total`` exceeds their
  ``booked_total``;
- ``over_booked``: recipients whose ``booked_total`` exceeds the database's total;
- ``lost_bookings``: recipients whose ``booked_total`` is below the database's total;
- ``unsettled``: recipients not paid their whole ``booked_total``, plus transactions the
  programs' journals still follow;
- ``journal_mismatches``: recipients whose payments in the daemon's journal (irreversible
  transactions) differ from their ``paid_total``;
- ``engine_balance_diff``: the contract's token balance minus the sum of ``deposited``;
- ``left_running``: processes or nodes still running after the stop.

It prints one JSON line (and with ``-v`` one per fault before it)::

    {"faults": 40, "double_pays": 0, "lost_bookings": 0, "unsettled": 0, "seconds": 151.2, ...}

and exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from payoutengine.amounts import Asset
from payoutengine.journal import IRREVERSIBLE, Journal, JournalTx, Payment
from payoutengine.localchain import CONTRACT_ACCOUNT, TOKEN_ACCOUNT

from . import faults
from .world import PAYER, SCHEDULE, SYMBOL, World

log = logging.getLogger("chaos")


@dataclass
class Outcome:
    seed: int
    faults: int = 0
    mix: Counter[str] = field(default_factory=Counter)
    #: faults that could not start (the part they act on was down), by kind and reason
    skipped: Counter[str] = field(default_factory=Counter)
    #: faults that could not be ended: a breach of the harness, the run fails
    fault_errors: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    settle_seconds: float = 0.0
    #: network faults after which the chain did not produce again by itself (all producers
    #: waiting for a recent block): node 0 was restarted with stale production
    network_restarts: int = 0

    BREACHES = (
        "double_pays",
        "over_booked",
        "lost_bookings",
        "unsettled",
        "journal_mismatches",
        "engine_balance_diff",
        "left_running",
    )

    @property
    def ok(self) -> bool:
        return all(not self.checks.get(k) for k in self.BREACHES) and not self.fault_errors

    def line(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "faults": self.faults,
            "double_pays": self.checks.get("double_pays"),
            "lost_bookings": self.checks.get("lost_bookings"),
            "unsettled": self.checks.get("unsettled"),
            "seconds": round(self.seconds, 1),
            "seed": self.seed,
        }
        for k in ("over_booked", "journal_mismatches", "engine_balance_diff"):
            out[k] = self.checks.get(k)
        out["left_running"] = len(self.checks.get("left_running") or [])
        for k in ("recipients", "credits", "booked_units", "paid_units", "payments"):
            out[k] = self.checks.get(k)
        out["restarts"] = self.checks.get("restarts")
        out["resource_txs"] = self.checks.get("resource_txs")
        out["settle_seconds"] = round(self.settle_seconds, 1)
        out["fault_errors"] = len(self.fault_errors)
        out["skipped"] = dict(sorted(self.skipped.items()))
        out["network_restarts"] = self.network_restarts
        out["mix"] = dict(sorted(self.mix.items()))
        return out


# -- reading the chain -----------------------------------------------------------------------


def chain_state(world: World) -> dict[str, dict[str, int]]:
    """booked_total, paid_total and token balance per recipient, read from a running node."""
    node = next(n for n in world.net.nodes if n.is_running())
    client = node.client
    rows = {
        str(r["account"]): r
        for r in client.iter_table(CONTRACT_ACCOUNT, SCHEDULE, "recipients", page_size=500)
    }
    out: dict[str, dict[str, int]] = {}
    for name in world.recipients:
        r = rows.get(name)
        bal = client.get_balance(TOKEN_ACCOUNT, name, SYMBOL)
        out[name] = {
            "booked": int(r["booked_total"]) if r else 0,
            "paid": int(r["paid_total"]) if r else 0,
            "balance": bal.amount if bal else 0,
        }
    return out


def engine_balance_diff(world: World) -> int:
    node = next(n for n in world.net.nodes if n.is_running())
    client = node.client
    bal = client.get_balance(TOKEN_ACCOUNT, CONTRACT_ACCOUNT, SYMBOL)
    held = bal.amount if bal else 0
    deposited = 0
    for r in client.iter_table(CONTRACT_ACCOUNT, PAYER, "funds"):
        a = Asset.parse(str(r["deposited"]))
        if a.symbol.code == SYMBOL:
            deposited += a.amount
    return held - deposited


def open_journal_txs(url: str) -> int:
    journal = Journal(url)
    try:
        with journal.session() as s:
            return len(Journal.open_transactions(s))
    finally:
        journal.close()


def resource_txs(url: str) -> Counter[str]:
    """Irreversible powerup / delegatebw / buyrambytes transactions in a program's journal:
    what the programs bought by themselves after the resource faults."""
    journal = Journal(url)
    try:
        with journal.session() as s:
            q = select(JournalTx.kind).where(
                JournalTx.status == IRREVERSIBLE,
                JournalTx.kind.in_(["powerup", "delegatebw", "buyrambytes"]),
            )
            return Counter(str(k) for k in s.scalars(q))
    finally:
        journal.close()


def journal_paid(url: str) -> dict[str, int]:
    """Per recipient, what the daemon's journal says irreversible runpayouts paid."""
    journal = Journal(url)
    try:
        with journal.session() as s:
            q = (
                select(Payment.recipient, Payment.amount)
                .join(JournalTx, JournalTx.tx_id == Payment.tx_id)
                .where(JournalTx.status == IRREVERSIBLE)
            )
            out: dict[str, int] = {}
            for name, amount in s.execute(q):
                out[name] = out.get(name, 0) + int(amount)
            return out
    finally:
        journal.close()


# -- the run ---------------------------------------------------------------------------------


def settled(world: World, totals: dict[str, int]) -> bool:
    state = chain_state(world)
    for name in world.recipients:
        st = state[name]
        if st["booked"] != totals.get(name, 0) or st["paid"] != st["booked"]:
            return False
    wd = world.workdir
    return (
        open_journal_txs(f"sqlite:///{wd / 'admin-journal.sqlite'}") == 0
        and open_journal_txs(f"sqlite:///{wd / 'sync-state.sqlite'}") == 0
    )


def run(args: argparse.Namespace) -> Outcome:
    out = Outcome(seed=args.seed)
    rng = random.Random(args.seed)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="chaos-"))
    world = World(
        workdir,
        seed=args.seed,
        producers=args.producers,
        profile=args.profile,
        recipients=args.recipients,
    )
    started = time.monotonic()
    try:
        world.start()
        assert world.ledger is not None
        world.ledger.start_writer()
        active: dict[str, tuple[float, Any, str]] = {}  # slot -> (ends at, undo, kind)
        while out.faults < args.faults:
            time.sleep(rng.uniform(0.2, 1.5) * args.pace)
            now = time.monotonic()
            for slot, (ends, undo, kind) in list(active.items()):
                if now >= ends:
                    del active[slot]
                    _end(undo, kind, out, world)
            world.supervise()
            kind = faults.pick(rng, set(active), faults.KINDS)
            if kind is None:
                continue
            try:
                slot, undo = faults.begin(world, kind, rng)
            except Exception as exc:  # noqa: BLE001 - e.g. freezing a proxy whose node is down
                out.skipped[f"{kind.name}: {str(exc)[:120]}"] += 1
                continue
            out.faults += 1
            out.mix[kind.name] += 1
            if args.verbose:
                print(json.dumps({"fault": kind.name, "t": round(now - started, 1)}), flush=True)
            if undo is not None:
                lo, hi = kind.duration
                active[slot] = (now + rng.uniform(lo, hi), undo, kind.name)
        for _slot, (_ends, undo, kind) in list(active.items()):
            _end(undo, kind, out, world)
        world.ledger.stop_writer()
        # Let settle: both programs run clean (not under a crash point).
        for p in world.programs():
            if p.crash_at or not p.alive():
                p.kill()
                p.start()
        totals = world.ledger.totals()
        settle_from = time.monotonic()
        deadline = settle_from + args.settle_timeout
        while time.monotonic() < deadline:
            world.supervise()
            try:
                if settled(world, totals):
                    break
            except Exception as exc:  # noqa: BLE001 - a node may still be catching up
                log.debug("not settled yet: %s", exc)
            time.sleep(1.0)
        out.settle_seconds = time.monotonic() - settle_from
        out.checks = check(world, totals)
        out.checks["restarts"] = {p.name: p.starts - 1 for p in world.programs()}
    finally:
        left = world.stop()
        out.checks["left_running"] = left
        out.seconds = time.monotonic() - started
        if out.ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"chaos: logs and databases kept in {workdir}", file=sys.stderr)
    return out


NETWORK_FAULTS = {k.name for k in faults.KINDS if k.slot == "network"}


def _end(undo: Any, kind: str, out: Outcome, world: World) -> None:
    try:
        undo()
        if kind in NETWORK_FAULTS and not world.wait_network():
            out.network_restarts += 1
    except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
        out.fault_errors.append(f"ending {kind}: {exc}")


def check(world: World, totals: dict[str, int]) -> dict[str, Any]:
    state = chain_state(world)
    wd = world.workdir
    journal = journal_paid(f"sqlite:///{wd / 'admin-journal.sqlite'}")
    double = over = lost = unsettled = mismatched = 0
    examples: list[str] = []
    for name in world.recipients:
        st = state[name]
        db = totals.get(name, 0)
        if st["balance"] > st["paid"] or st["paid"] > st["booked"]:
            double += 1
        if st["booked"] > db:
            over += 1
        if st["booked"] < db:
            lost += 1
        if st["paid"] < st["booked"]:
            unsettled += 1
        if journal.get(name, 0) != st["paid"]:
            mismatched += 1
        bad = (
            st["balance"] != st["paid"]
            or st["paid"] != st["booked"]
            or st["booked"] != db
            or journal.get(name, 0) != st["paid"]
        )
        if bad and len(examples) < 5:
            examples.append(
                f"{name}: database {db}, booked {st['booked']}, paid {st['paid']}, "
                f"balance {st['balance']}, journal {journal.get(name, 0)}"
            )
    bought: Counter[str] = Counter()
    for db in ("admin-journal.sqlite", "sync-state.sqlite"):
        bought.update(resource_txs(f"sqlite:///{wd / db}"))
    unsettled += open_journal_txs(f"sqlite:///{wd / 'admin-journal.sqlite'}")
    unsettled += open_journal_txs(f"sqlite:///{wd / 'sync-state.sqlite'}")
    return {
        "double_pays": double,
        "over_booked": over,
        "lost_bookings": lost,
        "unsettled": unsettled,
        "journal_mismatches": mismatched,
        "engine_balance_diff": engine_balance_diff(world),
        "recipients": len(world.recipients),
        "credits": world.ledger.credits_written if world.ledger else 0,
        "booked_units": sum(s["booked"] for s in state.values()),
        "paid_units": sum(s["paid"] for s in state.values()),
        "payments": sum(1 for s in state.values() if s["paid"]),
        "examples": examples,
        "resource_txs": dict(sorted(bought.items())),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--faults", type=int, default=40, help="faults to inject (default 40)")
    p.add_argument("--seed", type=int, default=1, help="the run's seed (default 1)")
    p.add_argument("--profile", default="eos", help="chain profile (default eos)")
    p.add_argument("--producers", type=int, default=4, help="producer nodes (default 4)")
    p.add_argument("--recipients", type=int, default=60, help="recipients (default 60)")
    p.add_argument(
        "--pace", type=float, default=1.0, help="scales the pause between faults (default 1.0)"
    )
    p.add_argument(
        "--settle-timeout",
        type=float,
        default=180.0,
        help="seconds the programs get to settle after the faults (default 180)",
    )
    p.add_argument("--workdir", help="keep the run's files here (default: a temporary dir)")
    p.add_argument("--keep", action="store_true", help="keep the run's files even when it passes")
    p.add_argument("-v", "--verbose", action="store_true", help="a JSON line per fault")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="chaos: %(message)s")

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # the world's clean-up still runs

    signal.signal(signal.SIGTERM, stop)
    outcome = run(args)
    print(json.dumps(outcome.line()), flush=True)
    for e in outcome.checks.get("examples") or []:
        print(f"chaos: {e}", file=sys.stderr)
    for e in outcome.fault_errors[:10]:
        print(f"chaos: fault error: {e}", file=sys.stderr)
    if not outcome.ok:
        print("chaos: FAILED: the promise was broken (see the line above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
