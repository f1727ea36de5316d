"""The web server's configuration, its limits and the persisted CPU budget (no chain needed:
pure logic, and the budget in a real SQLite journal reopened as after a restart)."""

from __future__ import annotations

from pathlib import Path

import pytest

from payoutengine.amounts import Symbol
from payoutengine.errors import ConfigError
from payoutengine.journal import Journal
from payoutengine.web.chainview import Owed
from payoutengine.web.claims import account_problem
from payoutengine.web.config import WebConfig, load_web_config
from payoutengine.web.limits import CpuBudget, SlidingWindow

MINIMAL = '[chain]\nendpoints = ["http://127.0.0.1:8888"]\n[sponsor]\naccount = "pe.admin"\n'


def _cfg(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> WebConfig:
    path = tmp_path / "web.toml"
    path.write_text(text)
    return load_web_config(path, env=env or {})


def test_minimal_config_and_env_override(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, MINIMAL, {"PAYOUTENGINE_LIMITS_CPU_US_PER_DAY": "5000"})
    assert cfg.sponsor_authority == "pe.admin@sponsor"
    assert cfg.limits.cpu_us_per_day == 5000
    assert cfg.journal.url == f"sqlite:///{tmp_path}/payoutengine-web.sqlite"


@pytest.mark.parametrize(
    "extra, message",
    [
        pytest.param('permission = "owner"\n', "must not be 'owner'", id="owner"),
        pytest.param('permission = "active"\n', "must not be 'active'", id="active"),
        pytest.param('key = "5K..."\n', "must not hold the private key", id="key-in-file"),
        pytest.param('account = "Bad"\n', "not a valid account", id="bad-name"),
    ],
)
def test_bad_sponsor_settings_are_refused(tmp_path: Path, extra: str, message: str) -> None:
    text = MINIMAL.replace('account = "pe.admin"\n', "") + (
        extra if "account" in extra else 'account = "pe.admin"\n' + extra
    )
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, text)


def test_no_sponsor_account_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[sponsor\] account is not set"):
        _cfg(tmp_path, '[chain]\nendpoints = ["http://127.0.0.1:8888"]\n')


def test_sliding_window_refuses_then_forgives() -> None:
    w = SlidingWindow(2, 0.2)
    assert w.hit("a") is None and w.hit("a") is None
    wait = w.hit("a")
    assert wait is not None and 0 < wait <= 0.2
    assert w.hit("b") is None  # another key has its own count
    import time

    time.sleep(0.25)
    assert w.hit("a") is None


def test_cpu_budget_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'web.sqlite'}"
    journal = Journal(url)
    budget = CpuBudget(journal, 1000)
    assert budget.spend(600).left_us == 400
    journal.close()
    again = CpuBudget(Journal(url), 1000)  # a new process reads the same journal
    state = again.state()
    assert state.spent_us == 600 and not state.exhausted
    assert again.spend(400).exhausted


def _owed(**kw: object) -> Owed:
    base: dict[str, object] = dict(
        schedule="s",
        payer="p",
        tkcontract="eosio.token",
        symbol=Symbol("TST", 4),
        booked=15_000,
        paid=5_000,
        approved=True,
        ready=True,
        token_allowed=True,
        has_balance_row=True,
        holds_code=False,
    )
    base.update(kw)
    return Owed(**base)  # type: ignore[arg-type]


def test_why_a_due_is_not_paid_automatically() -> None:
    assert _owed().reasons == ["queued: the admin daemon pays it in its next round"]
    assert _owed().amount(_owed().due) == "1.0000 TST"
    assert "holds a contract" in _owed(holds_code=True, approved=False).reasons[0]
    no_row = _owed(has_balance_row=False, approved=False)
    assert [r.split(" (")[0] for r in no_row.reasons][0] == "the account is not approved yet"
    assert no_row.claim_problem == "no balance row for TST: open one first"
    assert _owed(token_allowed=False).claim_problem == "the token is suspended"
    assert _owed(paid=15_000).reasons == [] and _owed(paid=15_000).claim_problem == "nothing due"


def test_account_problem_is_one_sentence() -> None:
    assert account_problem("dapp.vault") is None
    assert (
        account_problem("x" * 13)
        == f"{'x' * 13!r} is not an account name: it has 13 characters, at most 12 are allowed."
    )
