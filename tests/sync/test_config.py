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
    # A relative SQLite path (the default's included) is relative to the config file.
    assert cfg.source.kind == "ledger"
    assert cfg.source.url == f"sqlite:///{tmp_path.resolve() / 'ledger.sqlite'}"
    assert cfg.batch.records_per_tx == 100 and cfg.batch.confirm == "lib"
    assert cfg.topup.max_per_run is None


def test_env_overrides(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, MINIMAL),
        env={
            "PAYOUTENGINE_SOURCE_URL": "sqlite:///other.sqlite",
            "PAYOUTENGINE_BATCH_RECORDS_PER_TX": "25",
            "PAYOUTENGINE_CHAIN_ENDPOINTS": "http://a:1, http://b:2",
        },
    )
    assert cfg.source.url == f"sqlite:///{tmp_path.resolve() / 'other.sqlite'}"
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
            "batch, topup, run, redis, resources.",
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


def test_an_empty_variable_counts_as_not_set(tmp_path: Path) -> None:
    text = MINIMAL + '[batch]\nrecords_per_tx = 30\n[state]\nurl = "sqlite:////abs/s.db"\n'
    cfg = load_config(
        write(tmp_path, text),
        env={"PAYOUTENGINE_BATCH_RECORDS_PER_TX": "", "PAYOUTENGINE_STATE_URL": ""},
    )
    assert cfg.batch.records_per_tx == 30
    assert cfg.state.url == "sqlite:////abs/s.db"


def test_relative_key_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    text = MINIMAL.replace('key_env = "PAYER_KEY"', 'key_file = "secrets/payer.key"')
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.payer.key_file == tmp_path.resolve() / "secrets" / "payer.key"


def test_a_key_in_the_config_file_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + 'private_key = "5Jxxxxxxxx"\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert str(info.value) == (
        "The config file must not hold the private key: put it in the environment variable "
        "named by [payer] key_env, or in a file of mode 0600 named by [payer] key_file."
    )
    assert "5Jxxxxxxxx" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"PAYOUTENGINE_BATCH_RECORDS_PER_TX": "many"},
            "PAYOUTENGINE_BATCH_RECORDS_PER_TX must be an integer, not 'many'.",
            id="int",
        ),
        pytest.param(
            {"PAYOUTENGINE_RUN_INTERVAL_S": "soon"},
            "PAYOUTENGINE_RUN_INTERVAL_S must be a number, not 'soon'.",
            id="float",
        ),
        pytest.param(
            {"PAYOUTENGINE_PAYER_SCHEDULE": "Bad"},
            "[payer] schedule 'Bad' is not a valid account name: only a-z, 1-5 and '.' are "
            "allowed.",
            id="name",
        ),
    ],
)
def test_bad_environment_values(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL), env=env)
    assert str(info.value) == message


def test_missing_payer_is_named_with_its_variable(tmp_path: Path) -> None:
    text = MINIMAL.replace('schedule = "sched1"\n', "")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert str(info.value) == (
        "[payer] schedule is missing; set it in the config file or with "
        "PAYOUTENGINE_PAYER_SCHEDULE."
    )


REDIS = MINIMAL + '[source]\nkind = "redis"\nurl = "redis://127.0.0.1:6379/0"\n'


def test_the_shipped_payer_examples_load(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    pool = load_config(examples / "pool-sync.toml", env={})
    assert pool.source.kind == "redis" and pool.redis.units_per_token_unit == 100_000
    assert pool.redis.total_fields == ("balance",)
    assert pool.redis.accounts_key == "eth:payoutengine:accounts"
    market = load_config(examples / "market-sync.toml", env={})
    assert market.source.kind == "query" and market.source.total_unit == "token"
    assert market.source.url.startswith("mysql+pymysql://")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            '[source]\nkind = "redis"\nurl = "postgresql://x/y"\n',
            '[source] kind = "redis" needs a Redis URL such as redis://127.0.0.1:6379/0 in '
            "[source] url, not 'postgresql://x/y'.",
            id="not-a-redis-url",
        ),
        pytest.param(
            "[redis]\nunits_per_token_unit = 0\n",
            "[redis] units_per_token_unit must be a whole number of pool units (1 or more) per "
            "smallest token unit, e.g. 100000 for Shannon (10^9 per coin) into a 4-decimal token.",
            id="ratio",
        ),
        pytest.param(
            '[redis]\nprefix = "eth:"\n',
            "[redis] prefix must be the pool's key prefix without ':' or '*', e.g. \"eth\".",
            id="prefix",
        ),
        pytest.param(
            '[redis]\naccounts_url = "sqlite:///m.sqlite"\n',
            "[redis] accounts_url and accounts_query go together: a database and a query "
            'returning (login, account) rows, e.g. "SELECT login, account FROM miner_accounts".',
            id="mapping-half",
        ),
        pytest.param(
            '[redis]\naccounts_key = "k"\naccounts_url = "sqlite:///m.sqlite"\n'
            'accounts_query = "SELECT 1, 2"\n',
            "Map logins to accounts in one place: [redis] accounts_key (a Redis hash) or "
            "[redis] accounts_url with accounts_query (an SQL table), not both.",
            id="two-mappings",
        ),
        pytest.param(
            '[redis]\nchanges = "keyspace"\n',
            '[redis] changes must be "credits" or "none".',
            id="changes",
        ),
    ],
)
def test_redis_source_mistakes(tmp_path: Path, extra: str, message: str) -> None:
    text = (MINIMAL + extra) if extra.startswith("[source]") else (REDIS + extra)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert str(err.value) == message


def test_max_lib_lag(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert load_config(path, env={}).chain.max_lib_lag_s == 300.0
    env = {"PAYOUTENGINE_CHAIN_MAX_LIB_LAG_S": "45"}
    assert load_config(path, env=env).chain.max_lib_lag_s == 45.0
    with pytest.raises(ConfigError, match=r"max_lib_lag_s must be at least 5 seconds"):
        load_config(path, env={"PAYOUTENGINE_CHAIN_MAX_LIB_LAG_S": "1"})
