"""Totals from a mining pool's Redis, in the layout of open-ethereum-pool and its forks.

What it reads (``<prefix>`` is the pool's coin prefix, ``[redis] prefix``):

- ``<prefix>:miners:<login>`` — one hash per miner; the configured ``total_fields`` (default
  ``balance``) are integers in the pool's smallest unit (Shannon for Ethereum-like coins).
  A miner's **lifetime total** is their sum. Once the pool's own payouts module is switched off
  (docs/operations.md, "Moving a mining pool onto the engine"), nothing ever lowers
  ``balance``: the block unlocker only adds to it. So it is exactly what the pool owed the
  miner at the cut-over plus everything credited since, which is what the engine must have paid
  in total.
- ``<prefix>:credits:all`` — the sorted set the unlocker adds one member
  ``<block hash>:<time>:<reward>`` to (score: the block height) whenever it credits a matured
  block, with the credited logins in the hash ``<prefix>:credits:<height>:<block hash>``. These
  are the changes an incremental sync looks at (``[redis] changes = "credits"``); anything else
  that changes a balance (an operator's ``HINCRBY``) is seen by the next full scan.
- The login → account mapping: the Redis hash ``accounts_key``, or an SQL query returning
  ``(login, account)`` rows. An unmapped login that is itself a valid account name is that
  account (``logins_as_accounts``); any other unmapped login with a balance is reported as a
  rejected row, never dropped, and everybody else is still booked. Several logins may map to
  one account: their totals are added up.

Conversion into token units is exact: ``units_per_token_unit`` pool units make one smallest
token unit; a total is divided in integers and the remainder (less than one token unit) is not
booked yet. It is not lost: the pool's balance still holds it, so it is booked as soon as later
credits make it a whole unit. Each scan reports those remainders (``SourceScan.carried``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, cast

import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from payoutengine.errors import ConfigError
from payoutengine.names import name_problem

from .config import RedisConfig
from .plan import Piece
from .sources import RejectedRow, SourceScan

__all__ = ["CREDIT_WINDOW", "LoginMap", "RedisSource", "open_redis"]

log = logging.getLogger(__name__)

#: keys per SCAN round trip and hashes per pipelined round trip
_SCAN_COUNT = 5000
_PIPELINE = 5000
#: credits of blocks this many heights below the newest one seen are compared again (a block
#: unlocked late, out of height order); their block hashes are kept in the watermark
CREDIT_WINDOW = 1000
_INT_RE = re.compile(rb"-?[0-9]+")


def open_redis(url: str) -> redis.Redis:
    """A client for ``url`` (``redis://[:password@]host:port/db``); a malformed URL is a
    ConfigError."""
    try:
        return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
    except ValueError as exc:
        raise ConfigError(
            f"The Redis URL in [source] url cannot be used ({exc}); give one such as "
            f"redis://127.0.0.1:6379/0."
        ) from None


def _redis_error(client: redis.Redis, exc: redis.RedisError) -> ConfigError:
    kw = client.connection_pool.connection_kwargs
    where = f"{kw.get('host', kw.get('path', '?'))}:{kw.get('port', '')}/{kw.get('db', 0)}"
    return ConfigError(
        f"The pool's Redis at {where} failed: {exc}. Check [source] url and that Redis runs."
    )


class LoginMap:
    """Login → chain account, from a Redis hash or an SQL query (or nothing)."""

    def __init__(
        self,
        *,
        client: redis.Redis | None = None,
        key: str = "",
        engine: Engine | None = None,
        query: str = "",
    ) -> None:
        self.client, self.key, self.engine, self.query = client, key, engine, query

    def read(self) -> dict[str, str]:
        """The whole mapping."""
        if self.key and self.client is not None:
            return _read_hash(self.client, self.key)
        if self.engine is not None and self.query:
            return self._query()
        return {}

    def lookup(self, logins: Collection[str]) -> dict[str, str]:
        """The accounts of ``logins`` (those that have one): one HMGET for a Redis hash; an
        SQL mapping is read whole."""
        if not logins:
            return {}
        if self.key and self.client is not None:
            names = sorted(logins)
            found = cast("list[bytes | None]", self.client.hmget(self.key, names))
            return {n: _text(a) for n, a in zip(names, found, strict=True) if a is not None}
        wanted = set(logins)
        return {k: v for k, v in self.read().items() if k in wanted}

    def _query(self) -> dict[str, str]:
        assert self.engine is not None
        try:
            with self.engine.connect() as conn:
                rows = list(conn.execute(text(self.query)))
        except SQLAlchemyError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"The login mapping query failed: {first}. Check [redis] accounts_url and "
                f"accounts_query."
            ) from None
        return {str(r[0]): str(r[1]) for r in rows if r[0] is not None and r[1] is not None}


#: one HSCAN page of a hash as "field\nvalue\n..." (one reply instead of thousands of items)
_HSCAN_LUA = r"""
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
return {page[1], table.concat(page[2], '\n')}
"""

#: the given fields of many hashes, as "v1,v2\nv1,v2\n..." ('' for a missing field)
_HMGET_LUA = r"""
local out = {}
for i, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(ARGV))
  for j = 1, #ARGV do
    if not values[j] then values[j] = '' end
  end
  out[i] = table.concat(values, ',')
end
return table.concat(out, '\n')
"""


def _read_hash(client: redis.Redis, key: str) -> dict[str, str]:
    """A whole hash, page by page (HSCAN inside a script: each page comes back as one string,
    which is what keeps 100,000 entries fast); pages whose entries hold a newline are read
    again the ordinary way."""
    script = client.register_script(_HSCAN_LUA)
    out: dict[str, str] = {}
    cursor = b"0"
    while True:
        cursor, flat = cast("list[bytes]", script(keys=[key], args=[cursor, _SCAN_COUNT]))
        parts = flat.split(b"\n") if flat else []
        if len(parts) % 2:
            page = cast(
                "tuple[int, dict[bytes, bytes]]",
                client.hscan(key, int(cursor), count=_SCAN_COUNT),
            )
            out.update({_text(k): _text(v) for k, v in page[1].items()})
        else:
            it = iter(parts)
            out.update({k.decode(): v.decode() for k, v in zip(it, it, strict=True)})
        if cursor in (b"0", 0, "0"):
            return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _block_of(member: bytes | str) -> str:
    """The block hash of a ``<prefix>:credits:all`` member ``<hash>:<time>:<reward>``."""
    return _text(member).split(":", 1)[0]


class RedisSource:
    """Lifetime totals of a pool's miners, converted into token units and keyed by account."""

    def __init__(
        self,
        client: redis.Redis,
        config: RedisConfig,
        *,
        logins: LoginMap | None = None,
        default_memo: str = "",
    ) -> None:
        self.client, self.config = client, config
        self.logins = logins or LoginMap()
        self.default_memo = default_memo
        self.incremental = config.changes == "credits"
        self._miner_prefix = f"{config.prefix}:miners:"
        self._hmget = client.register_script(_HMGET_LUA)
        #: login -> account and account -> logins, from the last whole read of the mapping
        #: (kept up to date with the logins incremental syncs look up)
        self._account_of: dict[str, str] | None = None
        self._logins_of: dict[str, set[str]] = {}

    # -- the Source protocol ---------------------------------------------------------------
    def scan(self, precision: int, *, recipients: Collection[str] | None = None) -> SourceScan:
        result = SourceScan()
        try:
            if self.incremental:  # before the totals: a credit in between is seen twice
                result.watermark = self._watermark()
            if recipients is None or self._account_of is None:
                self._remember(self.logins.read())
            assert self._account_of is not None
            if recipients is None:
                logins = list(self._all_logins())
                mapping = self._account_of
            else:
                wanted = set(recipients)
                logins = sorted(
                    {lg for name in wanted for lg in self._logins_of.get(name, ())}
                    | {n for n in wanted if n not in self._logins_of}
                )
                mapping = self.logins.lookup(logins)  # as it is now
            values = self._read_totals(logins)
        except redis.RedisError as exc:
            raise _redis_error(self.client, exc) from None
        self._add(result, values, mapping)
        return result

    def _remember(self, mapping: Mapping[str, str]) -> None:
        self._account_of = dict(mapping)
        self._logins_of = {}
        for login, account in mapping.items():
            self._logins_of.setdefault(account, set()).add(login)

    def changed_since(self, watermark: str | None) -> tuple[set[str], str | None]:
        """Accounts (and unmapped logins) credited by blocks the pool matured after
        ``watermark``, and the new watermark."""
        top, seen = _parse_mark(watermark)
        try:
            new_mark = self._watermark()
            entries = cast(
                "list[tuple[bytes, float]]",
                self.client.zrangebyscore(
                    f"{self.config.prefix}:credits:all",
                    max(0, top - CREDIT_WINDOW),
                    "+inf",
                    withscores=True,
                ),
            )
            fresh = [
                (int(score), _block_of(member))
                for member, score in entries
                if _block_of(member) not in seen or int(score) > top
            ]
            pipe = self.client.pipeline(transaction=False)
            for height, block in fresh:
                pipe.hkeys(f"{self.config.prefix}:credits:{height}:{block}")
            credited = {_text(login) for keys in pipe.execute() for login in keys}
            mapping = self.logins.lookup(credited)
        except redis.RedisError as exc:
            raise _redis_error(self.client, exc) from None
        if self._account_of is not None:
            for login, account in mapping.items():
                if self._account_of.get(login) != account:
                    self._account_of[login] = account
                    self._logins_of.setdefault(account, set()).add(login)
        return {mapping.get(login, login) for login in credited}, new_mark

    def pieces(self, booked: Mapping[str, int], *, watermark: str | None = None) -> list[Piece]:
        # no per-credit times: the engine uses the time it first saw each increase
        return []

    # -- reading ---------------------------------------------------------------------------
    def _all_logins(self) -> Iterator[str]:
        cut = len(self._miner_prefix)
        for key in self.client.scan_iter(match=f"{self._miner_prefix}*", count=_SCAN_COUNT):
            yield _text(key)[cut:]

    def _read_totals(self, logins: list[str]) -> list[tuple[str, list[Any]]]:
        """Each login's ``total_fields`` (bytes, None when missing), many hashes per round
        trip; a chunk whose values hold the script's separators is read again with HMGETs."""
        fields = list(self.config.total_fields)
        out: list[tuple[str, list[Any]]] = []
        for i in range(0, len(logins), _PIPELINE):
            part = logins[i : i + _PIPELINE]
            keys = [f"{self._miner_prefix}{login}" for login in part]
            flat = cast("bytes", self._hmget(keys=keys, args=fields))
            lines = flat.split(b"\n")
            rows = [line.split(b",") for line in lines]
            if len(rows) == len(part) and all(len(r) == len(fields) for r in rows):
                out.extend((lg, [v or None for v in r]) for lg, r in zip(part, rows, strict=True))
                continue
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(key, fields)
            out.extend(zip(part, pipe.execute(), strict=True))
        return out

    def _watermark(self) -> str:
        """``"<newest credited height>:<block hash>,..."``: the blocks credited within
        CREDIT_WINDOW heights of the newest one."""
        key = f"{self.config.prefix}:credits:all"
        newest = self.client.zrevrange(key, 0, 0, withscores=True)
        if not newest:
            return "0"
        top = int(newest[0][1])
        recent = cast(
            "list[bytes]", self.client.zrangebyscore(key, max(0, top - CREDIT_WINDOW), "+inf")
        )
        return f"{top}:{','.join(sorted({_block_of(m) for m in recent}))}"

    def _add(
        self, result: SourceScan, values: list[tuple[str, list[Any]]], mapping: Mapping[str, str]
    ) -> None:
        ratio = self.config.units_per_token_unit
        per_account: dict[str, int] = {}
        bad_accounts: set[str] = set()
        for login, raw in values:
            total = 0
            problem = None
            for field_name, value in zip(self.config.total_fields, raw, strict=True):
                if value is None or value == b"":
                    continue
                if not _INT_RE.fullmatch(value):
                    problem = (
                        f"field {field_name} is {_text(value)!r}, not an integer of pool units"
                    )
                    break
                if int(value) < 0:
                    problem = f"field {field_name} is negative ({int(value)})"
                    break
                total += int(value)
            account = mapping.get(login)
            if account is None and self.config.logins_as_accounts and name_problem(login) is None:
                account = login
            row_text = f"miner {login!r}: {' + '.join(self.config.total_fields)} = {total}"
            if problem is not None:
                result.rejected.append(RejectedRow(account or login, row_text, problem))
                if account is not None:
                    bad_accounts.add(account)
                continue
            if account is None:
                if total > 0:
                    result.rejected.append(
                        RejectedRow(login, row_text, self._unmapped_reason(login))
                    )
                continue
            per_account[account] = per_account.get(account, 0) + total
        for account, total in per_account.items():
            if account in bad_accounts:
                continue
            units, rest = divmod(total, ratio)
            if rest:
                result.carried[account] = rest
            result.add(
                account,
                f"account {account!r}: {total} pool units",
                units,
                self.default_memo,
                precision=0,
                unit="smallest",
            )

    def _unmapped_reason(self, login: str) -> str:
        where = (
            f"the hash {self.logins.key}"
            if self.logins.key
            else "the accounts table"
            if self.logins.query
            else "a login mapping ([redis] accounts_key or accounts_query)"
        )
        return f"the login has no chain account: add {login} to {where}"


def _parse_mark(watermark: str | None) -> tuple[int, set[str]]:
    if not watermark:
        return 0, set()
    top, _, blocks = watermark.partition(":")
    return int(top), {b for b in blocks.split(",") if b}
