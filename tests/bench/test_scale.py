"""``scripts/bench scale`` at a small size, so that it cannot rot: every part it measures runs
(payer sync in its own processes, the admin daemon, status, the web pages, the contract's
actions) and every metric of the sizing table comes out, for two sizes on one chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIZES = (600, 2000)
PER_SIZE = [
    "setup_accounts_{s}_s",
    "sync_first_{s}_s",
    "sync_first_{s}_peak_rss_mb",
    "sync_first_{s}_rpc_calls",
    "sync_first_{s}_rpc_mb",
    "sync_incremental_100_of_{s}_s",
    "sync_incremental_100_of_{s}_finality_wait_s",
    "sync_incremental_100_of_{s}_without_finality_wait_s",
    "sync_incremental_100_of_{s}_rpc_calls",
    "sync_rescan_{s}_s",
    "sync_rescan_{s}_peak_rss_mb",
    "sync_rescan_{s}_rpc_calls",
    "daemon_approvals_{s}_rpc_calls",
    "daemon_round1_{s}_s",
    "daemon_round1_{s}_payments",
    "daemon_cpu_per_payment_{s}_us",
    "daemon_capacity_{s}_payments_per_s",
    "daemon_drain_{s}_payments_per_s",
    "daemon_drain_{s}_ratio_to_capacity",
    "daemon_drain_{s}_blocks",
    "booking_to_payment_{s}_s",
    "daemon_{s}_peak_rss_mb",
    "status_{s}_s",
    "web_recipient_page_{s}_ms",
    "web_payer_page_{s}_ms",
    "contract_book_100_{s}_cpu_us",
    "contract_runpayouts_50_{s}_cpu_us",
    "contract_claim_{s}_cpu_us",
]


@pytest.mark.timeout(600)
def test_scale_bench_measures_every_part_at_two_sizes() -> None:
    res = subprocess.run(
        [sys.executable, "bench/scale.py", "--recipients", ",".join(map(str, SIZES))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = {}
    for line in res.stdout.splitlines():
        row = json.loads(line)
        assert set(row) == {"metric", "value", "unit", "baseline", "ratio"}
        metrics[row["metric"]] = row["value"]
    for s in SIZES:
        missing = [m.format(s=s) for m in PER_SIZE if m.format(s=s) not in metrics]
        assert not missing, missing
        new = s - (SIZES[0] if s != SIZES[0] else 0)
        assert metrics[f"daemon_approvals_{s}_new_{new}_s"] > 0
        # every recipient of the size's schedule was paid in round 1 (plus what the smaller
        # size's contract measurement left open)
        assert metrics[f"daemon_round1_{s}_payments"] >= s
        assert 0 < metrics[f"daemon_drain_{s}_ratio_to_capacity"] <= 1.5
        assert metrics[f"daemon_drain_{s}_blocks"] >= 1
        assert metrics[f"sync_first_{s}_peak_rss_mb"] > 20
        for action in ("book_100", "runpayouts_50", "claim"):
            assert metrics[f"contract_{action}_{s}_cpu_us"] > 0
            assert metrics[f"contract_{action}_{s}_cpu_us_adjacent"] > 0
            if s != SIZES[0]:  # the same actions in the smallest size's schedule
                assert metrics[f"contract_{action}_{s}_cpu_us_smallest"] > 0
