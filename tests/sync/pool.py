"""A mining pool's Redis writes, as open-ethereum-pool's block unlocker and payouts module make
them (storage/redis.go: WriteMaturedBlock, UpdateBalance, LockPayouts): the tests' stand-in for a
running pool, on a real Redis server."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
import redis

REDIS_DEFAULT = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("PAYOUTENGINE_TEST_REDIS", REDIS_DEFAULT)


@dataclass
class Pool:
    client: redis.Redis
    prefix: str
    accounts_key: str

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def mature(self, height: int, rewards: Mapping[str, int]) -> str:
        """Credit a matured block's rewards (pool units) to miners' balances, in one MULTI as
        the unlocker does; returns the block hash."""
        block = "0x" + hashlib.sha256(f"{self.prefix}{height}{uuid.uuid4()}".encode()).hexdigest()
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(
            self.key("credits", "all"),
            {f"{block}:{int(time.time())}:{sum(rewards.values())}": height},
        )
        for login, amount in rewards.items():
            pipe.hincrby(self.key("miners", login), "balance", amount)
            pipe.hsetnx(self.key("credits", height, block), login, amount)
        pipe.hincrby(self.key("finances"), "balance", sum(rewards.values()))
        pipe.execute()
        return block

    def map(self, login: str, account: str) -> None:
        self.client.hset(self.accounts_key, login, account)

    def balance(self, login: str) -> int:
        return int(self.client.hget(self.key("miners", login), "balance") or 0)

    def balances(self) -> dict[str, int]:
        cut = len(self.key("miners", ""))
        out = {}
        for k in self.client.scan_iter(match=self.key("miners", "*"), count=1000):
            name = k.decode()[cut:]
            out[name] = self.balance(name)
        return out


@pytest.fixture
def pool() -> Iterator[Pool]:
    """A pool under a fresh key prefix on the test Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(redis_url())
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {redis_url()} is not usable ({exc}); run scripts/services.")
    prefix = f"t{uuid.uuid4().hex[:10]}"
    p = Pool(client, prefix, f"{prefix}:payoutengine:accounts")
    try:
        yield p
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
        client.close()


def eth_login(i: int) -> str:
    """A miner's login as open-ethereum-pool has them: a lower-case 0x address."""
    return "0x" + hashlib.sha1(f"miner{i}".encode()).hexdigest()
