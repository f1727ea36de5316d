"""The daemon's one chain client passes over a stale endpoint for a healthy one: the stale
node is only ever asked for its head, every read and transaction goes to the real node. And a
real endpoint behind the fault proxy (tests/faults/proxy.py) that errors, times out, serves a
frozen head or loses answers is passed over while payouts go on, exactly once."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from tests.fake_endpoints import StaleNode, serve, url_of
from tests.faults.proxy import EndpointProxy

from .conftest import PE, unique_name, wait_for, write_config


def test_a_stale_first_endpoint_is_passed_over_and_never_sent_to(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    recipients = pe.accounts("rcs", 3)
    sched = pe.schedule(payer, unique_name("s"), "stale endpoint")
    with serve(StaleNode, chain_id=pe.client.chain_id) as stale:
        cfg = write_config(
            tmp_path / "admin.toml", [url_of(stale), pe.url], journal=tmp_path / "journal.sqlite"
        )
        d = run_daemon(cfg, pe.daemon_key)
        pe.book(sched, payer, {r: "1.5000 TST" for r in recipients})
        wait_for(
            lambda: all(pe.paid(sched, r) == 15_000 for r in recipients),
            timeout=60,
            what="everyone paid through the healthy endpoint",
            daemon=d,
        )
        asked = set(stale.paths)  # type: ignore[attr-defined]
    assert asked == {"/v1/chain/get_info"}
    healthy = [e for e in d.logs() if e.get("msg") == "chain endpoint healthy; sending"]
    assert healthy and all(e["endpoint"] == pe.url for e in healthy)
    assert d.stop() == 0


def test_payouts_go_on_past_endpoints_that_error_time_out_go_stale_or_lose_answers(
    pe: PE, tmp_path: Path, run_daemon
) -> None:
    """Four proxies in front of the real node, each misbehaving in its own way (the fault
    proxy, tests/faults/proxy.py), come first in the endpoint list; the node itself comes
    last. The daemon passes each over, payouts go on, and every recipient is paid once."""
    payer = pe.accounts("pyr", 1, open_token=None)[0]
    sched = pe.schedule(payer, unique_name("s"), "proxied endpoints")
    first, second = pe.accounts("rpx", 3), pe.accounts("rpy", 3)
    before = {r: pe.balance_units(r) for r in first + second}
    faults: list[tuple[str, dict[str, Any]]] = [
        ("error", {"status": 503}),
        ("delay", {"delay_s": 3.0}),  # longer than timeout_s
        ("stale", {}),  # a frozen head: fresh at first, then older than max_head_age_s
        ("drop_answer", {"probability": 0.5, "paths": ["/v1/chain/send_transaction2"]}),
    ]
    with contextlib.ExitStack() as stack:
        proxies = [stack.enter_context(EndpointProxy(pe.url, seed=i)) for i in range(len(faults))]
        for proxy, (mode, options) in zip(proxies, faults, strict=True):
            proxy.set(mode, **options)
        cfg = write_config(
            tmp_path / "admin.toml",
            [p.url for p in proxies] + [pe.url],
            journal=tmp_path / "journal.sqlite",
            chain={"timeout_s": 1.0, "max_head_age_s": 3.0},
        )
        d = run_daemon(cfg, pe.daemon_key)
        for n, group in enumerate((first, second)):
            pe.book(sched, payer, {r: "1.0000 TST" for r in group})
            wait_for(
                lambda g=group: all(pe.paid(sched, r) == 10_000 for r in g),  # type: ignore[misc]
                timeout=60,
                what="the group paid",
                daemon=d,
            )
            if n == 0:
                time.sleep(4.0)  # the frozen head grows stale; back-offs run out
        hits = {mode: p.hits[mode] for p, (mode, _) in zip(proxies, faults, strict=True)}
    assert all(hits.values()), hits
    messages = [str(e.get("msg", "")) for e in d.logs()]
    for p in proxies[:2]:
        assert any(m.startswith(f"endpoint {p.url} failed") for m in messages), p.url
    assert any(m.startswith(f"endpoint {proxies[2].url} serves a stale head") for m in messages)
    assert d.stop() == 0
    for r in first + second:
        assert pe.balance_units(r) - before[r] == pe.paid(sched, r) == 10_000, r
