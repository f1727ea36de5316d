"""The fault proxy (tests/faults/proxy.py) in front of a real node: every mode does to a real
ChainClient what the chaos suite and the failover tests rely on."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import pytest

from payoutengine.client import ChainClient
from payoutengine.errors import EndpointError
from payoutengine.localchain import TOKEN_ACCOUNT, LocalChain
from payoutengine.transactions import Action
from tests.faults.proxy import EndpointProxy

SEND = "/v1/chain/send_transaction2"


@pytest.fixture
def proxy(local_chain: LocalChain) -> Iterator[EndpointProxy]:
    with EndpointProxy(local_chain.url, seed=11) as p:
        yield p


def _units(chain: LocalChain, account: str) -> int:
    asset = chain.client.get_balance(TOKEN_ACCOUNT, account, "TST")
    return 0 if asset is None else asset.amount


def _transfer(to: str, memo: str) -> Action:
    return Action(
        TOKEN_ACCOUNT,
        "transfer",
        ["eosio@active"],
        {"from": "eosio", "to": to, "quantity": "0.0001 TST", "memo": memo},
    )


def test_pass_through_reads_and_sends(
    local_chain: LocalChain, proxy: EndpointProxy, new_account: Callable[..., str]
) -> None:
    to = new_account("px")
    with ChainClient([proxy.url]) as c:
        assert c.get_info()["chain_id"] == local_chain.client.chain_id
        c.push([_transfer(to, "through the proxy")], [local_chain.key])
    assert _units(local_chain, to) == 1
    assert proxy.forwarded >= 3 and not proxy.hits


def test_drop_answer_executes_but_the_sender_never_hears(
    local_chain: LocalChain, proxy: EndpointProxy, new_account: Callable[..., str]
) -> None:
    to = new_account("px")
    with ChainClient([proxy.url], backoff_s=0.01) as c:
        signed = c.build([_transfer(to, "answer lost")], [local_chain.key])
        proxy.set("drop_answer", paths=[SEND])
        with pytest.raises(EndpointError):
            c.send(signed)
    assert proxy.hits["drop_answer"] == 1
    assert _units(local_chain, to) == 1  # the node executed it


def test_drop_closes_without_forwarding(
    local_chain: LocalChain, proxy: EndpointProxy, new_account: Callable[..., str]
) -> None:
    to = new_account("px")
    with ChainClient([proxy.url], backoff_s=0.01) as c:
        signed = c.build([_transfer(to, "dropped")], [local_chain.key])
        proxy.set("drop", paths=[SEND])
        with pytest.raises(EndpointError):
            c.send(signed)
    assert proxy.hits["drop"] == 1
    time.sleep(1.0)  # two blocks: it would be in one by now
    assert _units(local_chain, to) == 0


@pytest.mark.parametrize("status", [500, 503])
def test_errors_fail_the_endpoint_over_to_the_next(
    local_chain: LocalChain, proxy: EndpointProxy, status: int
) -> None:
    proxy.set("error", status=status)
    with ChainClient([proxy.url, local_chain.url]) as c:
        info = c.get_info()
        assert info["chain_id"] == local_chain.client.chain_id
        assert c.health().endpoint == local_chain.url
    with ChainClient([proxy.url]) as c, pytest.raises(EndpointError, match=f"HTTP {status}"):
        c.get_info()
    assert proxy.hits["error"] >= 2 and proxy.forwarded == 0


def test_delay_longer_than_the_timeout_times_out(
    local_chain: LocalChain, proxy: EndpointProxy
) -> None:
    proxy.set("delay", delay_s=1.5)
    with ChainClient([proxy.url], timeout=0.4) as c, pytest.raises(EndpointError):
        c.get_info()
    proxy.set("delay", delay_s=0.3)
    started = time.monotonic()
    with ChainClient([proxy.url], timeout=5) as c:
        c.get_info()
    assert time.monotonic() - started >= 0.3
    assert proxy.hits["delay"] == 2


def test_stale_freezes_get_info_and_the_client_passes_it_over(
    local_chain: LocalChain, proxy: EndpointProxy
) -> None:
    proxy.set("stale")
    frozen = proxy.frozen_info()
    assert frozen is not None
    time.sleep(1.6)
    with ChainClient([proxy.url], max_head_age_s=1.0) as c:
        h = c.health()
        assert not h.ok and h.head_block_num == int(frozen["head_block_num"])
        # other calls still reach the node
        assert c.get_block(1)["block_num"] == 1
    with ChainClient([proxy.url, local_chain.url], max_head_age_s=1.0) as c:
        h = c.health()
        assert h.ok and h.endpoint == local_chain.url
        assert h.head_block_num > int(frozen["head_block_num"])


def test_probability_follows_the_seed(local_chain: LocalChain) -> None:
    """Which requests a mode hits is the seed's sequence: a chaos run can be replayed."""
    with (
        EndpointProxy(local_chain.url, seed=5) as p,
        ChainClient([p.url], backoff_s=0.0) as c,
    ):
        p.set("error", probability=0.5, status=503)
        hit = []
        for _ in range(16):
            before = p.hits["error"]
            try:
                c.get_info()
            except EndpointError:
                pass
            hit.append(p.hits["error"] > before)
    rng = random.Random(5)
    assert hit == [rng.random() < 0.5 for _ in range(16)]
    assert 0 < sum(hit) < 16


def test_unknown_mode_and_bad_options_are_refused(proxy: EndpointProxy) -> None:
    with pytest.raises(ValueError, match="unknown proxy mode"):
        proxy.set("explode")
    with pytest.raises(ValueError, match="probability"):
        proxy.set("drop", probability=1.5)
    with pytest.raises(ValueError, match="delay_s"):
        proxy.set("delay")
