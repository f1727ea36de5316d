"""The contract build's post-build check (contract/check_wasm.cmake) rejects what the chain would.

Each case compiles a tiny module with the same clang the build uses, then runs the check on it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "contract" / "check_wasm.cmake"
BUILT = ROOT / "build" / "contract" / "payoutengine.wasm"

GOOD = """
extern "C" void eosio_assert(unsigned, const char*);
extern "C" [[clang::export_name("apply")]] void apply(unsigned long long r,
        unsigned long long c, unsigned long long a) { eosio_assert(r == c, "x"); }
"""
NO_APPLY = """
extern "C" [[clang::export_name("other")]] void other() {}
"""
FOREIGN_IMPORT = """
extern "C" [[clang::import_module("wasi"), clang::import_name("fd_write")]] int fd_write(int);
extern "C" [[clang::export_name("apply")]] void apply(unsigned long long r,
        unsigned long long c, unsigned long long a) { fd_write(int(r)); }
"""
SIGN_EXTENSION = """
extern "C" void eosio_assert(unsigned, const char*);
extern "C" [[clang::export_name("apply")]] void apply(unsigned long long r,
        unsigned long long c, unsigned long long a) {
    eosio_assert((long long)(signed char)(r & 0xff) == (long long)c, "x");
}
"""


def compile_wasm(tmp_path: Path, source: str, *, features: str = "") -> Path:
    clang = shutil.which("clang++")
    assert clang, "clang++ is missing: run scripts/bootstrap"
    src = tmp_path / "m.cpp"
    src.write_text(source)
    out = tmp_path / "m.wasm"
    subprocess.run(
        [
            clang,
            "--target=wasm32",
            "-mcpu=mvp",
            *features.split(),
            "-O2",
            "-nostdlib",
            "-fno-exceptions",
            "-Wl,--no-entry",
            "-Wl,--allow-undefined",
            "-Wl,--strip-all",
            "-o",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    return out


def check(wasm: Path) -> subprocess.CompletedProcess[str]:
    objdump = shutil.which("wasm-objdump")
    assert objdump, "wasm-objdump is missing: run scripts/bootstrap"
    return subprocess.run(
        ["cmake", f"-DWASM={wasm}", f"-DWASM_OBJDUMP={objdump}", "-P", str(CHECK)],
        capture_output=True,
        text=True,
    )


def test_the_built_contract_and_a_minimal_module_pass(tmp_path: Path) -> None:
    assert BUILT.is_file(), "build/contract/payoutengine.wasm is missing: run scripts/bootstrap"
    assert check(BUILT).returncode == 0
    assert check(compile_wasm(tmp_path, GOOD)).returncode == 0


@pytest.mark.parametrize(
    ("source", "features", "message"),
    [
        pytest.param(NO_APPLY, "", "exports no apply function", id="no-apply"),
        pytest.param(
            FOREIGN_IMPORT, "", "imports outside module env: <- wasi.fd_write", id="foreign-import"
        ),
        pytest.param(
            SIGN_EXTENSION, "-msign-ext", "uses the opcode i64.extend8_s", id="post-mvp-opcode"
        ),
    ],
)
def test_what_the_chain_rejects_fails_the_build(
    tmp_path: Path, source: str, features: str, message: str
) -> None:
    result = check(compile_wasm(tmp_path, source, features=features))
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split())  # cmake wraps long messages
