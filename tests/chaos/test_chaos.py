"""The chaos suite's short seeded run (``scripts/chaos --faults 1000`` is the full one).

Both programs run as real processes against a 4-producer EOS-profile network while the seed's
faults hit them (kills, crash right after a send, SIGSTOP, node restarts, partitions, a held
LIB, misbehaving endpoints); then the promise is checked from chain state and the databases.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.conftest import run_in_own_group

REPO = Path(__file__).resolve().parents[2]


def test_short_seeded_chaos_run_keeps_the_promise(tmp_path: Path) -> None:
    res = run_in_own_group(
        [
            sys.executable,
            "-m",
            "tests.chaos.run",
            "--faults",
            "20",
            "--seed",
            "11",
            "--workdir",
            str(tmp_path / "run"),
        ],
        env=os.environ,
        timeout=420,
    )
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert lines, res.stdout + res.stderr
    outcome = json.loads(lines[-1])
    assert outcome["faults"] == 20, outcome
    for key in (
        "double_pays",
        "over_booked",
        "lost_bookings",
        "unsettled",
        "journal_mismatches",
        "engine_balance_diff",
        "left_running",
        "fault_errors",
    ):
        assert outcome[key] == 0, (key, outcome, res.stderr[-3000:])
    # the run really paid and booked while the faults happened
    assert outcome["payments"] == outcome["recipients"] > 0, outcome
    assert outcome["booked_units"] == outcome["paid_units"] > 0, outcome
    assert sum(outcome["restarts"].values()) > 0, outcome
    assert res.returncode == 0, res.stderr[-3000:]
