"""The one configuration loader (payoutengine.config), as both programs use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from payoutengine.config import load_sections, resolve_sqlite_url
from payoutengine.errors import ConfigError


@dataclass(frozen=True)
class Db:
    url: str = "sqlite:///default.sqlite"
    echo: bool = False
    pool: int = 5
    key_env: str = "SOME_KEY"
    key_file: str = ""


@dataclass(frozen=True)
class Net:
    endpoints: list[str] = field(default_factory=list)
    timeout_s: float = 1.0


SECTIONS = {"db": Db, "net": Net}


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> dict[str, object]:
    path = tmp_path / "conf" / "x.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return load_sections(path, SECTIONS, env=env or {})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("sqlite:///a.db", "sqlite:////base/a.db", id="relative"),
        pytest.param("sqlite:///sub/a.db?mode=ro", "sqlite:////base/sub/a.db?mode=ro", id="query"),
        pytest.param("sqlite+pysqlite:///a.db", "sqlite+pysqlite:////base/a.db", id="driver"),
        pytest.param("sqlite:////abs/a.db", "sqlite:////abs/a.db", id="absolute"),
        pytest.param("sqlite:///:memory:", "sqlite:///:memory:", id="memory"),
        pytest.param("sqlite://", "sqlite://", id="memory-short"),
        pytest.param("postgresql://u@h/db", "postgresql://u@h/db", id="not-sqlite"),
    ],
)
def test_resolve_sqlite_url(url: str, expected: str) -> None:
    assert resolve_sqlite_url(url, Path("/base")) == expected


def test_values_environment_and_paths(tmp_path: Path) -> None:
    got = load(
        tmp_path,
        '[db]\nurl = "sqlite:///j.db"\npool = 3\nkey_file = "k/admin.key"\n',
        env={
            "PAYOUTENGINE_DB_ECHO": "yes",
            "PAYOUTENGINE_DB_POOL": "",  # empty: the file's 3 stays
            "PAYOUTENGINE_NET_ENDPOINTS": "http://a:1, http://b:2,",
            "PAYOUTENGINE_NET_TIMEOUT_S": "2.5",
        },
    )
    base = (tmp_path / "conf").resolve()
    assert got["db"] == Db(
        url=f"sqlite:///{base / 'j.db'}", echo=True, pool=3, key_file=str(base / "k/admin.key")
    )
    assert got["net"] == Net(endpoints=["http://a:1", "http://b:2"], timeout_s=2.5)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        pytest.param(
            "[db]\npool = 1.5\n",
            {},
            "[db] pool in {path} must be an integer, not 1.5.",
            id="file-type",
        ),
        pytest.param(
            "",
            {"PAYOUTENGINE_DB_ECHO": "maybe"},
            "PAYOUTENGINE_DB_ECHO must be true or false, not 'maybe'.",
            id="env-bool",
        ),
        pytest.param(
            "[db]\npoool = 1\n",
            {},
            "Unknown option 'poool' in [db] of {path}; the options are url, echo, pool, key_env, "
            "key_file.",
            id="unknown-option",
        ),
        pytest.param(
            "db = 1\n",
            {},
            "[db] in {path} must be a table of options, not a value.",
            id="not-a-table",
        ),
        pytest.param(
            '[db]\nkey = "5K..."\n',
            {},
            "The config file must not hold the private key: put it in the environment variable "
            "named by [db] key_env, or in a file of mode 0600 named by [db] key_file.",
            id="secret",
        ),
        pytest.param(
            "[db\n",
            {},
            "The config file {path} is not valid TOML: ",
            id="toml",
        ),
    ],
)
def test_one_sentence_per_mistake(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    expected = message.format(path=tmp_path / "conf" / "x.toml")
    assert str(info.value).startswith(expected)
    assert str(info.value).endswith(".")
