"""ChainClient against a real node: reads, transactions, errors, paging and failover."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from payoutengine.abi import NATIVE_ABI, Abi
from payoutengine.amounts import Asset
from payoutengine.client import ChainClient
from payoutengine.errors import EndpointError, TransactionError
from payoutengine.localchain import DEV_KEY, DEV_PUBLIC_KEY, TOKEN_ACCOUNT, LocalChain
from payoutengine.transactions import Action, SignedTransaction
from tests.fake_endpoints import STALE_CODE_HASH, BadGateway, StaleNode, serve, url_of
from tests.node.conftest import unique_name


def _free_dead_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def _transfer(sender: str, to: str, quantity: str, memo: str = "") -> Action:
    return Action(
        TOKEN_ACCOUNT,
        "transfer",
        [(sender, "active")],
        {"from": sender, "to": to, "quantity": quantity, "memo": memo},
    )


@pytest.fixture
def funded(local_chain: LocalChain, new_account: Callable[..., str]) -> str:
    name = new_account("f")
    local_chain.fund(name, "100.0000 TST")
    return name


def test_reads(local_chain: LocalChain) -> None:
    c = local_chain.client
    info = c.get_info()
    assert c.chain_id == info["chain_id"]
    assert c.get_account("nosuchacct") is None
    assert c.get_code_hash("pe.admin") == "0" * 64
    block = c.get_block(1)
    assert block["block_num"] == 1
    health = c.health()
    assert health.ok and health.chain_id == info["chain_id"] and health.head_age_s < 30
    assert c.get_currency_stats(TOKEN_ACCOUNT, "NOPE") is None


def test_health_reports_wrong_chain(local_chain: LocalChain) -> None:
    with ChainClient([local_chain.url], expected_chain_id="00" * 32) as c:
        h = c.health()
        assert not h.ok and "not the expected" in h.problems[0]
        with pytest.raises(EndpointError, match="serves chain"):
            c.get_info()


def test_transfer_moves_exact_amounts(
    local_chain: LocalChain, funded: str, new_account: Callable[..., str]
) -> None:
    c = local_chain.client
    to = new_account("r")
    assert c.get_balance(TOKEN_ACCOUNT, to, "TST") is None
    result = c.push([_transfer(funded, to, "1.2345 TST", "pay")], [DEV_KEY])
    assert result["processed"]["receipt"]["status"] == "executed"
    assert c.get_balance(TOKEN_ACCOUNT, funded, "TST") == Asset.parse("98.7655 TST")
    assert c.get_balance(TOKEN_ACCOUNT, to, "TST") == Asset.parse("1.2345 TST")
    assert c.get_balance(TOKEN_ACCOUNT, to, "PAY") is None


def test_node_decodes_our_packing(local_chain: LocalChain, funded: str) -> None:
    """Action data packed by abi.py is read back by the node exactly as we meant it."""
    c = local_chain.client
    name = unique_name("n")
    auth = {
        "threshold": 1,
        "keys": [{"key": DEV_PUBLIC_KEY, "weight": 1}],
        "accounts": [{"permission": {"actor": funded, "permission": "active"}, "weight": 1}],
        "waits": [],
    }
    newaccount = {"creator": "eosio", "name": name, "owner": auth, "active": auth}
    transfer = {"from": funded, "to": "eosio", "quantity": "0.0001 TST", "memo": "héllo ✓"}
    result = c.push(
        [
            Action("eosio", "newaccount", ["eosio@active"], newaccount),
            Action(TOKEN_ACCOUNT, "transfer", [(funded, "active")], transfer),
        ],
        [DEV_KEY],
    )
    traces = {t["act"]["name"]: t["act"] for t in result["processed"]["action_traces"]}
    assert traces["transfer"]["data"] == transfer
    assert traces["newaccount"]["data"]["owner"]["accounts"] == auth["accounts"]
    assert traces["newaccount"]["data"]["owner"]["keys"][0]["weight"] == 1
    native = Abi(NATIVE_ABI)
    decoded = native.decode_action("newaccount", bytes.fromhex(traces["newaccount"]["hex_data"]))
    assert decoded == newaccount
    acct = c.get_account(name)
    assert acct is not None
    active = next(p for p in acct["permissions"] if p["perm_name"] == "active")
    assert active["required_auth"]["accounts"] == auth["accounts"]


def test_rejection_carries_the_assert_message(local_chain: LocalChain, funded: str) -> None:
    c = local_chain.client
    signed = c.build([_transfer(funded, "eosio", "1000.0000 TST")], [DEV_KEY])
    with pytest.raises(TransactionError) as exc:
        c.send(signed)
    err = exc.value
    assert err.message == "overdrawn balance"
    assert err.is_assert and err.tx_id == signed.id
    assert not err.cpu_exceeded and not err.duplicate


def test_missing_authority_is_a_transaction_error(local_chain: LocalChain, funded: str) -> None:
    with pytest.raises(TransactionError) as exc:
        local_chain.client.push([_transfer(funded, "eosio", "0.0001 TST")], [])
    assert exc.value.name == "unsatisfied_authorization"


def test_journaled_transaction_resends_identical_bytes(
    local_chain: LocalChain, funded: str
) -> None:
    c = local_chain.client
    signed = c.build([_transfer(funded, "eosio", "0.0001 TST", "journal")], [DEV_KEY])
    journal = signed.to_json()
    restored = SignedTransaction.from_json(journal)
    assert restored.packed_trx == signed.packed_trx and restored.id == signed.id
    result = c.send(restored)
    assert result["transaction_id"] == signed.id
    with pytest.raises(TransactionError) as exc:
        c.send(SignedTransaction.from_json(journal))
    assert exc.value.duplicate
    status = c.transaction_status(signed.id)
    assert status is not None
    assert status["state"] in {"LOCALLY_APPLIED", "IN_BLOCK", "IRREVERSIBLE"}


def test_dry_run_does_not_persist(local_chain: LocalChain, funded: str) -> None:
    c = local_chain.client
    before = c.get_balance(TOKEN_ACCOUNT, funded, "TST")
    result = c.dry_run([_transfer(funded, "eosio", "1.0000 TST")])
    assert result["processed"]["action_traces"][0]["act"]["name"] == "transfer"
    assert c.get_balance(TOKEN_ACCOUNT, funded, "TST") == before
    with pytest.raises(TransactionError) as exc:
        c.dry_run([_transfer(funded, "eosio", "1000.0000 TST")])
    assert exc.value.message == "overdrawn balance"


def _symbols(n: int) -> list[str]:
    return [f"Q{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(n)]


def test_iter_table_pages_over_many_rows(
    local_chain: LocalChain, new_account: Callable[..., str]
) -> None:
    """One account holding 60 tokens: 60 rows in one scope, read 7 at a time."""
    holder = new_account("h")
    symbols = _symbols(60)
    for chunk in range(0, len(symbols), 20):
        actions: list[Action] = []
        for i, code in enumerate(symbols[chunk : chunk + 20], start=chunk + 1):
            qty = f"{i}.00 {code}"
            actions += [
                Action(
                    TOKEN_ACCOUNT,
                    "create",
                    [(TOKEN_ACCOUNT, "active")],
                    {"issuer": "eosio", "maximum_supply": f"1000.00 {code}"},
                ),
                Action(
                    TOKEN_ACCOUNT,
                    "issue",
                    [("eosio", "active")],
                    {"to": "eosio", "quantity": qty, "memo": ""},
                ),
                _transfer("eosio", holder, qty),
            ]
        local_chain.push(actions)
    c = local_chain.client
    calls = c.rpc_calls
    rows = list(c.iter_table(TOKEN_ACCOUNT, holder, "accounts", page_size=7))
    assert c.rpc_calls - calls >= 9  # ceil(60 / 7) pages at least
    balances = [Asset.parse(r["balance"]) for r in rows]
    # primary key = symbol code raw value (little-endian letters): sort the same way
    expected = sorted(symbols, key=lambda s: int.from_bytes(s.encode(), "little"))
    assert [b.symbol.code for b in balances] == expected
    assert {b.symbol.code: b.amount for b in balances} == {
        code: (i + 1) * 100 for i, code in enumerate(symbols)
    }
    backwards = list(c.iter_table(TOKEN_ACCOUNT, holder, "accounts", page_size=11, reverse=True))
    assert [r["balance"] for r in backwards] == [r["balance"] for r in reversed(rows)]


def test_failover_from_dead_endpoint(local_chain: LocalChain) -> None:
    dead = _free_dead_url()
    with ChainClient([dead, local_chain.url], timeout=2.0, backoff_s=60.0) as c:
        info = c.get_info()
        assert info["chain_id"] == local_chain.client.chain_id
        calls = c.rpc_calls
        assert calls == 2  # one refused, one answered
        c.get_info()
        assert c.rpc_calls == calls + 1  # the dead endpoint is skipped while backing off
        assert c.rpc_bytes > 0


@pytest.fixture
def bad_gateway() -> Iterator[str]:
    with serve(BadGateway) as server:
        yield url_of(server)


def test_failover_from_failing_gateway(local_chain: LocalChain, bad_gateway: str) -> None:
    with ChainClient([bad_gateway, local_chain.url], timeout=2.0) as c:
        assert c.get_code_hash("eosio.token") != "0" * 64


def test_all_endpoints_down_names_them(bad_gateway: str) -> None:
    dead = _free_dead_url()
    with ChainClient([dead, bad_gateway], timeout=2.0) as c:
        with pytest.raises(EndpointError) as exc:
            c.get_info()
    assert dead in str(exc.value) and bad_gateway in str(exc.value)
    assert exc.value.endpoint == f"{dead}, {bad_gateway}"
    assert str(exc.value).startswith("No chain API endpoint answered /v1/chain/get_info")


def test_failure_trace_names_the_failed_action(local_chain: LocalChain, funded: str) -> None:
    c = local_chain.client
    signed = c.build(
        [
            _transfer(funded, "eosio", "0.0001 TST", "fine"),
            _transfer(funded, "eosio", "1000.0000 TST", "too much"),
        ],
        [DEV_KEY],
    )
    with pytest.raises(TransactionError) as exc:
        c.send(signed, failure_trace=True)
    err = exc.value
    assert err.message == "overdrawn balance"
    assert err.tx_id == signed.id
    assert (TOKEN_ACCOUNT, TOKEN_ACCOUNT, "transfer") in err.failed_actions
    assert err.trace is not None and err.trace["id"] == signed.id


def test_abi_cache(local_chain: LocalChain) -> None:
    c = local_chain.client
    abi = c.get_abi(TOKEN_ACCOUNT)
    assert any(a["name"] == "transfer" for a in abi["actions"])
    calls = c.rpc_calls
    c.get_abi(TOKEN_ACCOUNT)
    assert c.rpc_calls == calls
    c.invalidate_abi(TOKEN_ACCOUNT)
    c.get_abi(TOKEN_ACCOUNT)
    assert c.rpc_calls == calls + 1
    assert c.get_abi("pe.admin") == {}


@pytest.fixture
def stale_node(local_chain: LocalChain) -> Iterator[str]:
    with serve(StaleNode, chain_id=local_chain.client.chain_id) as server:
        yield url_of(server)


def test_a_stale_head_is_passed_over_for_a_healthy_endpoint(
    local_chain: LocalChain, stale_node: str
) -> None:
    with ChainClient([stale_node, local_chain.url], timeout=2.0, max_head_age_s=10.0) as c:
        assert c.get_code_hash("eosio.token") != STALE_CODE_HASH
        assert c.health().endpoint == local_chain.url
        info = c.get_info()
        # the live chain's answer, not the stale one's (whose head stopped in 2020; a fresh
        # chain may be at its block 7 as well)
        assert not str(info["head_block_time"]).startswith("2020-"), info
        health = c.health()
        assert health.ok and health.endpoint == local_chain.url


def test_a_stale_head_answers_when_no_endpoint_is_healthy(stale_node: str) -> None:
    dead = _free_dead_url()
    with ChainClient([dead, stale_node], timeout=2.0, max_head_age_s=10.0) as c:
        assert c.get_code_hash("eosio.token") == STALE_CODE_HASH  # a stale answer beats none
        health = c.health()
    assert not health.ok and health.endpoint == stale_node
    assert "head block is" in health.problems[0] and "old" in health.problems[0]
