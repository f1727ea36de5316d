"""Configuration: defaults, environment overrides, and one clear sentence per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from payer_sync.config import load_config
from payoutengine.errors import ConfigError

MINIMAL = """
[chain]
endpoints = ["http://127.0.0.1:8888"]
[payer]
account = "payer1"
schedule = "sched1"
key_env = "PAYER_KEY"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sync.toml"
    p.write_text(text)
    return p


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={})
    assert cfg.chain.contract == "payoutengine"
    assert cfg.source.kind == "ledger" and cfg.source.url == "sqlite:///ledger.sqlite"
    assert cfg.batch.records_per_tx == 100 and cfg.batch.confirm == "lib"
    assert cfg.topup.max_per_run is None


def test_env_overrides(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, MINIMAL),
        env={
            "PAYER_SYNC_SOURCE_URL": "sqlite:///other.sqlite",
            "PAYER_SYNC_BATCH_RECORDS_PER_TX": "25",
            "PAYER_SYNC_CHAIN_ENDPOINTS": "http://a:1, http://b:2",
        },
    )
    assert cfg.source.url == "sqlite:///other.sqlite"
    assert cfg.batch.records_per_tx == 25
    assert cfg.chain.endpoints == ("http://a:1", "http://b:2")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            "[batch]\nrecords_per_tx = 0\n",
            "[batch] records_per_tx must be between 1 and 2000, not 0.",
            id="batch-size",
        ),
        pytest.param(
            '[source]\nkind = "query"\n',
            '[source] kind = "query" needs [source] query = "SELECT recipient, total[, memo] '
            'FROM ...".',
            id="query-missing",
        ),
        pytest.param(
            '[source]\ntotal_unit = "cents"\n',
            '[source] total_unit must be "smallest" (integers in the token\'s smallest unit) '
            "or \"token\" (decimal amounts like '1.2500'), not 'cents'.",
            id="unit",
        ),
        pytest.param(
            '[topup]\nmax_per_run = "1.5 TST"\n[batch]\nconfirm = "maybe"\n',
            '[batch] confirm must be "lib" or "none".',
            id="confirm",
        ),
        pytest.param(
            '[topup]\nmax_per_run = "ten TST"\n',
            "[topup] max_per_run: The amount 'ten' is not a plain decimal number like '12.3400'.",
            id="topup-cap",
        ),
        pytest.param(
            "[bogus]\nx = 1\n",
            "Unknown section [bogus] in {path}; the sections are chain, payer, source, state, "
            "batch, topup, run.",
            id="unknown-section",
        ),
    ],
)
def test_invalid(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == message.format(path=path)


def test_key_given_twice(tmp_path: Path) -> None:
    text = MINIMAL.replace('key_env = "PAYER_KEY"', 'key_env = "K"\nkey_file = "/k"')
    with pytest.raises(ConfigError, match="exactly one way"):
        load_config(write(tmp_path, text), env={})


def test_bad_payer_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL.replace('"payer1"', '"Payer1"')), env={})
    assert str(info.value) == (
        "[payer] account 'Payer1' is not a valid account name: only a-z, 1-5 and '.' are allowed."
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
