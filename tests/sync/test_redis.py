"""The Redis source against a real Redis (open-ethereum-pool's layout) and the real node:
exact conversion with carried remainders, the login mapping, unmapped and malformed miners
reported while everyone else is booked, incremental syncs from the pool's credit log."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

from payer_sync.config import RedisConfig, SyncConfig
from payer_sync.engine import Syncer
from payoutengine.errors import ConfigError
from tests.conftest import refused_ports

from .conftest import Payer
from .pool import Pool, eth_login, pool, redis_url  # noqa: F401

#: Shannon (10^9 per coin) into a 4-decimal token, one coin = one token
RATIO = 100_000


def redis_config(payer: Payer, pool: Pool, state_url: str, **redis: object) -> SyncConfig:  # noqa: F811
    cfg = payer.config(redis_url(), state_url, kind="redis")
    rc = RedisConfig(prefix=pool.prefix, units_per_token_unit=RATIO, **redis)  # type: ignore[arg-type]
    return dataclasses.replace(cfg, redis=rc)


def test_pool_balances_are_booked_exactly_and_remainders_carried(
    payer: Payer,
    accounts: Callable[[int], list[str]],
    pool: Pool,  # noqa: F811
    state_url: str,
) -> None:
    payer.deposit("1000.0000 TST")
    named, m1, m2, m3, twin = accounts(5)
    logins = [eth_login(i) for i in range(5)]
    for login, account in zip(logins, [m1, m2, m3, twin, twin], strict=True):
        pool.map(login, account)
    stray = eth_login(99)  # mines, but nobody mapped it
    pool.mature(
        100,
        {
            named: 12 * RATIO + 34,  # a login that is an account name
            logins[0]: 5 * RATIO,
            logins[1]: RATIO - 1,  # less than one token unit: nothing to book yet
            logins[2]: 7 * RATIO + 99_999,
            logins[3]: RATIO // 2,  # two logins of one account: added up
            logins[4]: RATIO // 2 + 3,
            stray: 3 * RATIO,
        },
    )
    pool.client.hset(pool.key("miners", eth_login(50)), "balance", "12.5")
    pool.map(eth_login(50), m3)  # m3's second login has a malformed balance

    s = Syncer.from_config(redis_config(payer, pool, state_url, accounts_key=pool.accounts_key))
    r1 = s.sync()
    assert payer.booked() == {named: 12, m1: 5, twin: 1}
    assert r1.carried == {named: 34, m2: RATIO - 1, twin: 3}
    assert sorted((p[0], p[2]) for p in r1.problems()) == sorted(
        [
            (
                "rejected row",
                f"the login has no chain account: add {stray} to the hash {pool.accounts_key}",
            ),
            ("rejected row", "field balance is '12.5', not an integer of pool units"),
        ]
    )
    assert not r1.ok

    # the pool goes on crediting: m2's remainder becomes a whole unit, m3's login is fixed,
    # the stray login is mapped (a mapping alone is seen by a full scan)
    pool.client.hset(pool.key("miners", eth_login(50)), "balance", "0")
    pool.mature(101, {logins[1]: 1, named: RATIO - 34})
    r2 = s.sync(full=False)
    assert r2.mode == "incremental" and r2.compared == 2
    assert payer.booked() == {named: 13, m1: 5, m2: 1, twin: 1}
    assert r2.carried == {} and r2.ok

    pool.map(stray, m1)
    r3 = s.sync()
    assert r3.ok, r3.problems()
    assert payer.booked() == {named: 13, m1: 8, m2: 1, m3: 7, twin: 1}
    assert r3.carried == {m3: 99_999, twin: 3}
    for login, account in [(logins[2], m3)]:
        assert pool.balance(login) // RATIO == payer.booked()[account]


def test_a_block_credited_late_below_the_watermark_is_still_booked(
    payer: Payer,
    accounts: Callable[[int], list[str]],
    pool: Pool,  # noqa: F811
    state_url: str,
) -> None:
    """The unlocker credits block 205 first, then 203 (unlocked later): the incremental sync
    after the second finds it though it is below the newest height already seen."""
    payer.deposit("100.0000 TST")
    a, b, c = accounts(3)
    pool.mature(200, {a: RATIO})
    s = Syncer.from_config(redis_config(payer, pool, state_url))
    assert s.sync().ok
    pool.mature(205, {b: 2 * RATIO})
    r1 = s.sync(full=False)
    assert [(i.recipient, i.new_total) for i in r1.booked] == [(b, 2)]
    pool.mature(203, {c: 3 * RATIO, a: RATIO})
    r2 = s.sync(full=False)
    assert r2.compared == 2
    assert payer.booked() == {a: 2, b: 2, c: 3}
    assert s.sync(full=False).compared == 0


def test_logins_mapped_by_an_sql_table(
    payer: Payer,
    accounts: Callable[[int], list[str]],
    pool: Pool,  # noqa: F811
    mariadb_url: str,
    state_url: str,
) -> None:
    payer.deposit("100.0000 TST")
    (acct,) = accounts(1)
    eng = create_engine(mariadb_url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE miner_accounts (login VARCHAR(64), account VARCHAR(12))"))
        conn.execute(
            text("INSERT INTO miner_accounts VALUES (:l, :a)"), {"l": eth_login(1), "a": acct}
        )
    eng.dispose()
    pool.mature(7, {eth_login(1): 4 * RATIO + 1})
    cfg = redis_config(
        payer,
        pool,
        state_url,
        accounts_url=mariadb_url,
        accounts_query="SELECT login, account FROM miner_accounts",
    )
    r = Syncer.from_config(cfg).sync()
    assert r.ok and payer.booked() == {acct: 4} and r.carried == {acct: 1}


def test_a_redis_that_does_not_answer_is_one_sentence(
    payer: Payer,
    pool: Pool,  # noqa: F811
    state_url: str,
) -> None:
    with refused_ports() as (port,):
        cfg = redis_config(payer, pool, state_url)
        cfg = dataclasses.replace(
            cfg, source=dataclasses.replace(cfg.source, url=f"redis://127.0.0.1:{port}/0")
        )
        with pytest.raises(ConfigError) as err:
            Syncer.from_config(cfg).sync()
    msg = str(err.value)
    assert msg.startswith(f"The pool's Redis at 127.0.0.1:{port}/0 failed: ")
    assert msg.endswith("Check [source] url and that Redis runs.")
    assert "\n" not in msg
