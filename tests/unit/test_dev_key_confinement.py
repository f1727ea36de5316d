"""The well-known development key lives in payoutengine/localchain.py and nowhere else."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from payoutengine.localchain import DEV_KEY
from tests.conftest import REPO_ROOT


def test_dev_wif_only_in_localchain() -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.fail("this check needs the git checkout (git ls-files)")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    wif = DEV_KEY.to_wif().encode()
    holders = []
    for name in files:
        path = REPO_ROOT / name
        try:
            if wif in path.read_bytes():
                holders.append(name)
        except (IsADirectoryError, FileNotFoundError):
            continue
    assert holders == ["payoutengine/localchain.py"]
