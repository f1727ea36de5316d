"""Contract tests on a real in-process Leap chain (ipyeos ChainTester).

Run with ``scripts/eostest tests/contract`` (ChainTester only works inside the ipyeos binary).
Each test gets a fresh chain with the freshly built contract on ``payoutengine`` and
``payoutengine@eosio.code`` in its active permission.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WASM = ROOT / "build" / "contract" / "payoutengine.wasm"
ABI = ROOT / "contract" / "payoutengine.abi"
REJECTOR_WASM = ROOT / "build" / "contract" / "rejector.wasm"
EMPTY_ABI = json.dumps({"version": "eosio::abi/1.2", "structs": [], "actions": [], "tables": []})

CONTRACT = "payoutengine"
ADMIN = "pe.admin"
FEES = "pe.fees"
PAYER = "payer1"
PAYER2 = "payer2"


class ChainError(Exception):
    """A transaction the chain rejected; ``message`` is the contract's check() text."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.message = _assert_message(raw)
        super().__init__(self.message[:1000])


def _assert_message(raw: str) -> str:
    """The first error frame with its placeholders filled in; for check() failures, its text."""
    try:
        err = json.loads(raw).get("except") or {}
    except (ValueError, AttributeError):
        return raw
    for frame in err.get("stack", []):
        text = str(frame.get("format", ""))
        for key, value in (frame.get("data") or {}).items():
            text = text.replace("${" + key + "}", str(value))
        if text:
            return text.removeprefix("assertion failure with message: ")
    return str(err.get("message", raw))


class Chain:
    """Typed helpers over ChainTester: one per action, plus row readers."""

    def __init__(self, tester: Any) -> None:
        self.t = tester

    # -- raw ----------------------------------------------------------------------------------
    def push(self, account: str, action: str, args: Any, actor: str) -> dict[str, Any]:
        for attempt in range(2):
            try:
                return self.t.push_action(account, action, args, {actor: "active"})
            except Exception as exc:  # ChainTester raises Exception with the node's error JSON
                err = ChainError(str(exc))
                if '"tx_duplicate"' in err.raw and attempt == 0:
                    self.produce()  # the same action twice in one block: sign it anew
                    continue
                raise err from None
        raise AssertionError("unreachable")

    def push_many(self, actions: list[tuple[str, str, dict[str, Any], str]]) -> dict[str, Any]:
        acts = [self.t.gen_action(a, n, d, {actor: "active"}) for a, n, d, actor in actions]
        try:
            return self.t.push_actions_ex(acts)
        except Exception as exc:
            raise ChainError(str(exc)) from None

    def produce(self) -> None:
        self.t.produce_block()

    # -- accounts and tokens -----------------------------------------------------------------
    def new_account(self, name: str, ram: int = 100_000) -> None:
        key = "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"  # ChainTester's built-in key
        self.t.create_account("eosio", name, key, key, ram, 10_000_000, 10_000_000)

    def ram_usage(self, account: str) -> int:
        """RAM billed to the account, read straight from the chain's resource tables (the
        get_account API serializes the whole account with a deadline that load can exceed)."""
        from ipyeos.resource_limit import ResourceLimit

        return int(ResourceLimit(self.t.db).get_account_ram_usage(account))

    def transfer(
        self, frm: str, to: str, quantity: str, memo: str = "", token: str = "eosio.token"
    ) -> dict[str, Any]:
        args = {"from": frm, "to": to, "quantity": quantity, "memo": memo}
        return self.push(token, "transfer", args, frm)

    def open_balance(self, owner: str, symbol: str, payer: str, token: str = "eosio.token") -> None:
        self.push(token, "open", {"owner": owner, "symbol": symbol, "ram_payer": payer}, payer)

    def balance(self, account: str, symbol: str = "EOS", token: str = "eosio.token") -> int | None:
        rows = self.rows(token, account, "accounts")
        for row in rows:
            amount, sym = row["balance"].split(" ")
            if sym == symbol:
                return int(amount.replace(".", ""))
        return None

    # -- table readers -------------------------------------------------------------------------
    def rows(self, code: str, scope: str, table: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        lower = ""
        while True:
            r = self.t.get_table_rows(True, code, scope, table, lower, "", 500)
            out.extend(r["rows"])
            if not r.get("more"):
                return out
            lower = r["next_key"]

    def settings(self) -> dict[str, Any]:
        rows = self.rows(CONTRACT, CONTRACT, "settings")
        return rows[0] if rows else {}

    def recipient(self, schedule: str, account: str) -> dict[str, Any] | None:
        for row in self.rows(CONTRACT, schedule, "recipients"):
            if row["account"] == account:
                return row
        return None

    def funds(self, payer: str) -> list[dict[str, Any]]:
        return self.rows(CONTRACT, payer, "funds")

    def fund(self, payer: str, symbol: str = "EOS") -> dict[str, Any]:
        for row in self.funds(payer):
            if row["currency"].endswith(" " + symbol):
                return row
        raise AssertionError(f"{payer} has no funds row in {symbol}")

    def dues(self, schedule: str) -> list[dict[str, Any]]:
        return self.rows(CONTRACT, schedule, "dues")

    def approved(self, account: str) -> bool | None:
        for row in self.rows(CONTRACT, CONTRACT, "approvals"):
            if row["account"] == account:
                return bool(row["approved"])
        return None

    # -- contract actions ------------------------------------------------------------------------
    def setadmin(self, newadmin: str, actor: str) -> dict[str, Any]:
        return self.push(CONTRACT, "setadmin", {"newadmin": newadmin}, actor)

    def setfee(self, feeacc: str, permille: int, actor: str = ADMIN) -> dict[str, Any]:
        return self.push(CONTRACT, "setfee", {"feeacc": feeacc, "permille": permille}, actor)

    def newschedule(
        self,
        schedule: str,
        currency: str = "0.0000 EOS",
        memo: str = "payout",
        payer: str = PAYER,
        tkcontract: str = "eosio.token",
        actor: str | None = None,
    ) -> dict[str, Any]:
        args = {
            "payer": payer,
            "schedule_name": schedule,
            "tkcontract": tkcontract,
            "currency": currency,
            "memo": memo,
        }
        return self.push(CONTRACT, "newschedule", args, actor or payer)

    def deposit(self, payer: str, quantity: str, token: str = "eosio.token") -> dict[str, Any]:
        return self.transfer(payer, CONTRACT, quantity, "deposit", token)

    def book(
        self, schedule: str, records: list[tuple[str, str]], actor: str = PAYER
    ) -> dict[str, Any]:
        recs = [{"recipient": r, "new_total": t} for r, t in records]
        return self.push(CONTRACT, "book", {"schedule_name": schedule, "records": recs}, actor)

    def bookm(
        self, schedule: str, records: list[tuple[str, str, str]], actor: str = PAYER
    ) -> dict[str, Any]:
        recs = [{"recipient": r, "new_total": t, "memo": m} for r, t, m in records]
        return self.push(CONTRACT, "bookm", {"schedule_name": schedule, "records": recs}, actor)

    def withdraw(
        self, payer: str, quantity: str, tkcontract: str = "eosio.token", actor: str | None = None
    ) -> dict[str, Any]:
        args = {"payer": payer, "tkcontract": tkcontract, "quantity": quantity}
        return self.push(CONTRACT, "withdraw", args, actor or payer)

    def claim(self, schedule: str, recipient: str, actor: str) -> dict[str, Any]:
        args = {"schedule_name": schedule, "recipient": recipient}
        return self.push(CONTRACT, "claim", args, actor)

    def approve(
        self, accounts: list[str], actor: str = ADMIN, *, wake: bool = True
    ) -> dict[str, Any]:
        """approveacc; then, as the admin daemon does, wakes every schedule where one of these
        accounts has a due (an approval alone makes no parked due ready)."""
        trace = self.push(CONTRACT, "approveacc", {"accounts": accounts}, actor)
        if wake:
            self.wake_all(accounts)
        return trace

    def wake_all(self, accounts: list[str] | None = None) -> None:
        """wake for every open due (of `accounts` only, when given), schedule by schedule."""
        for act in self.rows(CONTRACT, CONTRACT, "active"):
            schedule = act["schedule_name"]
            owed = [d["account"] for d in self.dues(schedule)]
            if accounts is not None:
                owed = [a for a in owed if a in accounts]
            if owed:
                self.wake(schedule, owed)

    def unapprove(self, accounts: list[str], actor: str = ADMIN) -> dict[str, Any]:
        return self.push(CONTRACT, "unapproveacc", {"accounts": accounts}, actor)

    def runpayouts(self, count: int, actor: str = ADMIN) -> dict[str, Any]:
        return self.push(CONTRACT, "runpayouts", {"count": count}, actor)

    def allowtoken(
        self, symbol: str = "4,EOS", token: str = "eosio.token", actor: str = ADMIN
    ) -> dict[str, Any]:
        return self.push(CONTRACT, "allowtoken", {"tkcontract": token, "currency": symbol}, actor)

    def denytoken(
        self, symbol: str = "4,EOS", token: str = "eosio.token", actor: str = ADMIN
    ) -> dict[str, Any]:
        return self.push(CONTRACT, "denytoken", {"tkcontract": token, "currency": symbol}, actor)

    def wake(self, schedule: str, accounts: list[str], actor: str = ADMIN) -> dict[str, Any]:
        return self.push(CONTRACT, "wake", {"schedule_name": schedule, "accounts": accounts}, actor)

    def tokens(self) -> list[tuple[str, str]]:
        return [(r["tkcontract"], r["currency"]) for r in self.rows(CONTRACT, CONTRACT, "tokens")]

    def ready(self, schedule: str) -> set[str]:
        """Accounts whose due in the schedule is ready (flag index `ready` on)."""
        return {row["account"] for row in self._flagged_on(schedule, "dues")}

    def ring(self) -> set[str]:
        """Schedules in the runpayouts ring (flag index `ring` on)."""
        return {row["schedule_name"] for row in self._flagged_on(CONTRACT, "active")}

    def pending(self) -> set[str]:
        """Accounts not approved, as the approvals' flag index `pending` lists them (on)."""
        return {row["account"] for row in self._flagged_on(CONTRACT, "approvals")}

    def _flagged_on(self, scope: str, table: str) -> list[dict[str, Any]]:
        """Rows whose idx64 flag entry is on: its key is the primary key, never 0."""
        out: list[dict[str, Any]] = []
        lower = "1"
        while True:
            r = self.t.get_table_rows(True, CONTRACT, scope, table, lower, "", 500, "i64", "2")
            out.extend(r["rows"])
            if not r.get("more"):
                return out
            lower = r["next_key"]


def transfers_in(chain: Chain, trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The token transfers a transaction made, as executed by the token contract."""
    out = []
    for at in trace["action_traces"]:
        act = at["act"]
        if act["name"] == "transfer" and at["receiver"] == act["account"]:
            data = act["data"]
            if isinstance(data, str):
                raw = chain.t.unpack_action_args(act["account"], "transfer", bytes.fromhex(data))
                data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
            out.append(data)
    return out


def amount(quantity: str) -> int:
    """'1.2345 EOS' -> 12345: exact, for assertions."""
    return int(quantity.split(" ")[0].replace(".", ""))


def deploy_payoutengine(chain: Chain) -> None:
    t = chain.t
    chain.new_account(CONTRACT, ram=2_000_000)
    t.deploy_contract(CONTRACT, WASM.read_bytes(), ABI.read_text())
    key = "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"
    auth = {
        "threshold": 1,
        "keys": [{"key": key, "weight": 1}],
        "accounts": [{"permission": {"actor": CONTRACT, "permission": "eosio.code"}, "weight": 1}],
        "waits": [],
    }
    chain.push(
        "eosio",
        "updateauth",
        {"account": CONTRACT, "permission": "active", "parent": "owner", "auth": auth},
        CONTRACT,
    )


@pytest.fixture
def bare_chain() -> Iterator[Chain]:
    """A fresh chain with the contract deployed but not initialized (no admin, no fee)."""
    from ipyeos.chaintester import ChainTester

    tester = ChainTester()
    chain = Chain(tester)
    deploy_payoutengine(chain)
    for acc in (ADMIN, FEES, "rcpt1", "rcpt2", "rcpt3", "rcpt4"):
        chain.new_account(acc)
    for acc in (PAYER, PAYER2):
        chain.new_account(acc, ram=400_000)
    for acc in (PAYER, PAYER2):
        chain.transfer("eosio", acc, "100000.0000 EOS")
    for acc in ("rcpt1", "rcpt2", "rcpt3", "rcpt4", FEES):
        chain.open_balance(acc, "4,EOS", acc)
    chain.produce()
    try:
        yield chain
    finally:
        tester.free()


@pytest.fixture
def chain(bare_chain: Chain) -> Chain:
    """The contract with admin ``pe.admin`` and the 0.5 % fee to ``pe.fees``, as deployed."""
    bare_chain.setadmin(ADMIN, CONTRACT)
    bare_chain.setfee(FEES, 5)
    bare_chain.allowtoken()
    bare_chain.produce()
    return bare_chain
