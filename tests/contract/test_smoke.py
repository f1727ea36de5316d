from __future__ import annotations

from .conftest import PAYER, Chain, amount, transfers_in


def test_deposit_book_pay(chain: Chain) -> None:
    chain.newschedule("sched1", memo="hello")
    chain.deposit(PAYER, "1000.0000 EOS")
    f = chain.fund(PAYER)
    assert amount(f["deposited"]) == 9950000
    chain.book("sched1", [("rcpt1", "1.0000 EOS"), ("rcpt2", "2.0000 EOS")])
    chain.approve(["rcpt1", "rcpt2"])
    tr = chain.runpayouts(10)
    paid = transfers_in(chain, tr)
    assert [(p["to"], p["quantity"], p["memo"]) for p in paid] == [
        ("rcpt1", "1.0000 EOS", "hello"),
        ("rcpt2", "2.0000 EOS", "hello"),
    ]
