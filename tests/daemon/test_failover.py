"""The daemon's one chain client passes over a stale endpoint for a healthy one: the stale
node is only ever asked for its head, every read and transaction goes to the real node."""

from __future__ import annotations

from pathlib import Path

from tests.fake_endpoints import StaleNode, serve, url_of

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
