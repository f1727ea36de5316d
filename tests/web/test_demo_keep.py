"""``payoutengine demo --keep`` ends by printing the address of the pages, which answer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from payoutengine.demo import CONTRACT_RECIPIENT
from payoutengine.localchain import process_group_alive
from tests.conftest import register_process_group, run_in_own_group
from tests.guide.conftest import VENV_BIN

CLI = VENV_BIN / "payoutengine"


def test_demo_keep_prints_the_pages_address_last(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYOUTENGINE_", "PAYER_"))}
    env["COLUMNS"] = "120"
    res = run_in_own_group(
        [str(CLI), "demo", "--keep", "--data-dir", str(data_dir)], env=env, timeout=280
    )
    web_pid = int((data_dir / "web.pid").read_text()) if (data_dir / "web.pid").exists() else None
    state = data_dir / "node" / "node.json"
    assert state.exists(), f"the demo kept no chain:\n{res.stdout[-3000:]}\n{res.stderr}"
    node = json.loads(state.read_text())
    register_process_group(int(node["pid"]))
    if web_pid is not None:
        register_process_group(web_pid)
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        last = res.stdout.rstrip().splitlines()[-1]
        m = re.fullmatch(rf"pages: (http://127\.0\.0\.1:\d+)/recipient/{CONTRACT_RECIPIENT}", last)
        assert m, last
        assert web_pid is not None and f"kill {web_pid}" in res.stdout
        page = httpx.get(m.group(0)[len("pages: ") :], timeout=20)
        assert page.status_code == 200
        # the demo's claim paid the contract account everything: the page says so
        assert page.text.count("Everything booked is paid.") == 2
        assert "sponsor.key" not in page.text
        key_file = data_dir / "sponsor.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert key_file.read_text().strip() not in (data_dir / "web.toml").read_text()
    finally:
        if web_pid is not None and process_group_alive(web_pid):
            os.killpg(web_pid, signal.SIGTERM)
        subprocess.run(
            [str(CLI), "chain", "down", "--data-dir", str(data_dir / "node")],
            capture_output=True,
            timeout=60,
        )
    assert web_pid is not None
    for pid in (web_pid, int(node["pid"])):
        for _ in range(100):
            if not process_group_alive(pid):
                break
            time.sleep(0.1)
        assert not process_group_alive(pid)
