from __future__ import annotations

from datetime import datetime, timezone

import pytest

from payoutengine.errors import (
    AbiError,
    ChainError,
    EndpointError,
    PayoutEngineError,
    TransactionError,
)
from payoutengine.localchain import DEV_KEY
from payoutengine.transactions import (
    Action,
    PermissionLevel,
    SignedTransaction,
    pack_transaction,
    sign,
)


def _node_error(name: str, code: int, message: str) -> dict[str, object]:
    return {
        "code": 500,
        "message": "Internal Service Error",
        "error": {"code": code, "name": name, "what": "x", "details": [{"message": message}]},
    }


def test_assert_message_is_extracted() -> None:
    err = TransactionError.from_response(
        _node_error(
            "eosio_assert_message_exception",
            3050003,
            "assertion failure with message: nothing due",
        ),
        tx_id="ab" * 32,
    )
    assert err.message == "nothing due"
    assert err.is_assert and err.code == 3050003 and err.tx_id == "ab" * 32
    assert not err.cpu_exceeded and not err.duplicate and not err.expired
    assert "nothing due" in str(err) and isinstance(err, ChainError)


@pytest.mark.parametrize(
    ("name", "prop"),
    [
        ("tx_cpu_usage_exceeded", "cpu_exceeded"),
        ("deadline_exception", "cpu_exceeded"),
        ("tx_duplicate", "duplicate"),
        ("expired_tx_exception", "expired"),
    ],
)
def test_error_kinds(name: str, prop: str) -> None:
    err = TransactionError.from_response(_node_error(name, 1, "something"))
    assert getattr(err, prop) is True
    assert err.message == "something"


def test_hierarchy() -> None:
    assert issubclass(EndpointError, ChainError)
    assert issubclass(AbiError, ChainError)
    assert issubclass(ChainError, PayoutEngineError)
    assert EndpointError("x.", endpoint="http://a").endpoint == "http://a"


def test_signed_transaction_json_round_trip() -> None:
    action = Action("eosio.token", "transfer", [("alice", "active")], b"\x01\x02")
    packed = pack_transaction(
        [action.packed(None)],
        expiration=datetime(2026, 1, 1, tzinfo=timezone.utc),
        ref_block_num=7,
        ref_block_prefix=123,
    )
    chain_id = "cd" * 32
    trx = SignedTransaction(
        packed.hex(), sign(chain_id, packed, [DEV_KEY]), datetime(2026, 1, 1, tzinfo=timezone.utc)
    )
    again = SignedTransaction.from_json(trx.to_json())
    assert again == trx and again.id == trx.id
    decoded = trx.decode()
    assert decoded["ref_block_num"] == 7
    assert decoded["actions"][0]["data"] == "0102"
    assert decoded["actions"][0]["authorization"] == [{"actor": "alice", "permission": "active"}]
    tampered = {**trx.to_json(), "id": "00" * 32}
    with pytest.raises(AbiError, match="does not match"):
        SignedTransaction.from_json(tampered)


def test_permission_level_forms() -> None:
    a = Action("x", "y", ["bob@owner", ("carol", "active"), PermissionLevel("dave")], {})
    assert [str(lv) for lv in a.levels] == ["bob@owner", "carol@active", "dave@active"]
    with pytest.raises(AbiError, match="No ABI"):
        a.packed(None)


def test_assert_message_from_a_failure_trace_stack() -> None:
    trace_except = {
        "code": 3050003,
        "name": "eosio_assert_message_exception",
        "message": "eosio_assert_message assertion failure",
        "stack": [
            {"format": "assertion failure with message: ${s}", "data": {"s": "nothing due"}},
            {"format": "pending console output: ${console}", "data": {"console": ""}},
        ],
    }
    err = TransactionError.from_response({"except": trace_except})
    assert err.message == "nothing due" and err.is_assert
    assert err.details[1] == "pending console output: "
