"""A synchronous HTTP client for the Leap chain API with endpoint health and failover.

Endpoints are tried in the given order, healthy ones first. An endpoint is passed over for the
next one when it cannot be reached, times out, answers with a gateway error or non-JSON, serves
another chain (``expected_chain_id``, else the chain the first answer named), or serves a stale
head (its head block older than ``max_head_age_s`` of wall-clock time). A failing endpoint is
skipped for a back-off period that doubles with each consecutive failure; a stale one is used
only when no healthy endpoint answers (a stale answer beats none; :meth:`ChainClient.health`
says so). Health is judged from every ``get_info`` answer, and before other requests when an
endpoint was not judged for ``health_interval_s``. When every endpoint fails,
:class:`EndpointError` names them. An error *answered by the chain* (a JSON error body) is not
an endpoint failure: it raises :class:`ChainError` — :class:`TransactionError` for
transactions — at once.

``rpc_calls`` and ``rpc_bytes`` count every HTTP request made and the bytes sent + received.
"""

from __future__ import annotations

import json
import logging
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from .abi import NATIVE_ABI, Abi
from .amounts import Asset, symbol_code_to_raw
from .chaintime import parse_chain_time
from .errors import ChainError, EndpointError, TransactionError
from .keys import PrivateKey
from .transactions import Action, SignedTransaction, pack_transaction, sign

__all__ = ["ApiNotAvailable", "ChainClient", "Health"]

log = logging.getLogger(__name__)

GET_INFO = "/v1/chain/get_info"
#: the native eosio actions, for a chain without an ABI on eosio (its encoders are built once)
_NATIVE = Abi(NATIVE_ABI)


class ApiNotAvailable(ChainError):
    """The node does not offer this API path (plugin not enabled or older version)."""


@dataclass(frozen=True, slots=True)
class Health:
    """The result of :meth:`ChainClient.health`."""

    endpoint: str
    ok: bool
    chain_id: str
    head_block_num: int
    head_age_s: float
    problems: tuple[str, ...] = ()
    #: the endpoint's last irreversible block (0 when no endpoint answered)
    lib_block_num: int = 0


@dataclass
class _EndpointState:
    url: str
    failures: int = 0
    down_until: float = 0.0
    #: monotonic time until which the last health verdict stands
    judged_until: float = 0.0
    #: why its head is stale ("" when fresh)
    stale: str = ""
    last_error: str = ""


class _EndpointFailed(Exception):
    def __init__(self, reason: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: the request may have reached the node before the failure (a time-out, a dropped
        #: connection, a gateway error): a transaction sent so may have been executed there
        self.maybe_delivered = maybe_delivered


class ChainClient:
    """Talks to one chain through one or more API endpoints.

    Args:
        endpoints: base URLs (``http://127.0.0.1:8888``), preferred in this order.
        timeout: seconds per HTTP request.
        max_head_age_s: an endpoint whose head block is older than this is stale.
        expected_chain_id: the chain every endpoint must serve; by default the chain named by
            the first answer.
        backoff_s / max_backoff_s: how long a failed endpoint is skipped (doubling).
        health_interval_s: how long a health verdict stands before it is read again.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 5.0,
        max_head_age_s: float = 30.0,
        expected_chain_id: str | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        health_interval_s: float = 10.0,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise EndpointError("No chain API endpoint was given.", endpoint="")
        self._endpoints = [_EndpointState(u.rstrip("/")) for u in endpoints]
        self._current = self._endpoints[0]
        self.timeout = timeout
        self.max_head_age_s = max_head_age_s
        self.expected_chain_id = expected_chain_id
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.health_interval_s = health_interval_s
        self._http = httpx.Client(timeout=timeout)
        self._abis: dict[str, Abi | None] = {}
        self.rpc_calls = 0
        self.rpc_bytes = 0
        self._send2_available = True

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChainClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def endpoints(self) -> list[str]:
        return [e.url for e in self._endpoints]

    # -- HTTP core ------------------------------------------------------------------------

    def _raw_post(self, ep: _EndpointState, path: str, body: Mapping[str, Any]) -> httpx.Response:
        content = json.dumps(body).encode()
        self.rpc_calls += 1
        self.rpc_bytes += len(content)
        try:
            resp = self._http.post(
                ep.url + path, content=content, headers={"Content-Type": "application/json"}
            )
        except httpx.ConnectError as exc:  # nothing was sent
            raise _EndpointFailed(f"{type(exc).__name__}: {exc or 'no answer'}") from exc
        except httpx.HTTPError as exc:
            raise _EndpointFailed(
                f"{type(exc).__name__}: {exc or 'no answer'}", maybe_delivered=True
            ) from exc
        self.rpc_bytes += len(resp.content)
        return resp

    @staticmethod
    def _json_or_fail(resp: httpx.Response) -> Any:
        if resp.status_code in (429, 502, 503, 504):
            # a gateway may have passed the request on before failing
            raise _EndpointFailed(f"HTTP {resp.status_code}", maybe_delivered=True)
        try:
            return resp.json()
        except ValueError:
            raise _EndpointFailed(
                f"HTTP {resp.status_code} with a body that is not JSON", maybe_delivered=True
            ) from None

    def _judge(self, ep: _EndpointState, info: Any) -> None:
        """Health verdict from a ``get_info`` answer: another chain fails the endpoint; an old
        head block makes it stale."""
        if not isinstance(info, dict) or "head_block_time" not in info:
            raise _EndpointFailed("get_info answered without a head block")
        chain_id = str(info.get("chain_id", ""))
        if self.expected_chain_id is None:
            self.expected_chain_id = chain_id
        if chain_id != self.expected_chain_id:
            raise _EndpointFailed(
                f"it serves chain {chain_id}, not the expected {self.expected_chain_id}"
            )
        try:
            age = _head_age_s(info)
        except ChainError as exc:
            raise _EndpointFailed(str(exc)) from None
        stale = (
            f"its head block is {age:.0f} s old (limit {self.max_head_age_s:g} s)"
            if age > self.max_head_age_s
            else ""
        )
        if stale and not ep.stale:
            log.warning("endpoint %s serves a stale head (%s)", ep.url, stale)
        ep.stale = stale
        ep.judged_until = time.monotonic() + self.health_interval_s

    def _check(self, ep: _EndpointState) -> None:
        resp = self._raw_post(ep, GET_INFO, {})
        info = self._json_or_fail(resp)
        if resp.status_code != 200:
            raise _EndpointFailed(f"get_info answered HTTP {resp.status_code}")
        self._judge(ep, info)

    def _mark_failed(self, ep: _EndpointState, reason: str) -> None:
        ep.failures += 1
        ep.last_error = reason
        delay = min(self.backoff_s * 2 ** (ep.failures - 1), self.max_backoff_s)
        ep.down_until = time.monotonic() + delay
        ep.judged_until = 0.0
        log.warning("endpoint %s failed (%s); skipping it for %.1f s", ep.url, reason, delay)

    def _candidates(self) -> list[_EndpointState]:
        """Endpoints not backing off, fresh ones first; when all are backing off, all of them,
        soonest-to-recover first."""
        now = time.monotonic()
        up = [e for e in self._endpoints if e.down_until <= now]
        if up:
            return sorted(up, key=lambda e: bool(e.stale))
        return sorted(self._endpoints, key=lambda e: e.down_until)

    def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        """POST ``body`` to ``path`` on the first healthy endpoint; returns
        ``(http_status, json)``. Endpoint failures move on to the next endpoint; so do stale
        heads, unless no healthy endpoint answers."""
        status, data, _ = self._post(path, body)
        return status, data

    def _post(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any, bool]:
        """:meth:`post`, and whether an endpoint tried before the one that answered may have
        received the request (it failed after sending: a time-out, a gateway error)."""
        delivered = False
        eps = self._candidates()
        stale: list[tuple[_EndpointState, tuple[int, Any] | None]] = []
        for ep in eps:
            try:
                if path != GET_INFO and ep.judged_until <= time.monotonic():
                    self._check(ep)
                answer = None if ep.stale and path != GET_INFO else self._attempt(ep, path, body)
            except _EndpointFailed as exc:
                delivered = delivered or exc.maybe_delivered
                self._mark_failed(ep, exc.reason)
                continue
            if ep.stale or answer is None:
                stale.append((ep, answer))
                continue
            self._current = ep
            return answer[0], answer[1], delivered
        for ep, answer in stale:  # no healthy endpoint answered: a stale answer beats none
            try:
                answer = answer or self._attempt(ep, path, body)
            except _EndpointFailed as exc:
                delivered = delivered or exc.maybe_delivered
                self._mark_failed(ep, exc.reason)
                continue
            self._current = ep
            return answer[0], answer[1], delivered
        names = ", ".join(f"{e.url} ({e.last_error})" for e in eps)
        raise EndpointError(
            f"No chain API endpoint answered {path}: {names}.",
            endpoint=", ".join(e.url for e in eps),
        )

    def _attempt(self, ep: _EndpointState, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        resp = self._raw_post(ep, path, body)
        data = self._json_or_fail(resp)
        if path == GET_INFO and resp.status_code == 200:
            self._judge(ep, data)
        ep.failures = 0
        ep.down_until = 0.0
        return resp.status_code, data

    def call(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST and return the JSON of a successful answer; a chain error raises ChainError."""
        status, data = self.post(path, body or {})
        if 200 <= status < 300:
            return data
        raise self._error(path, status, data)

    @staticmethod
    def _error(path: str, status: int, data: Any) -> ChainError:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        details = [d.get("message", "") for d in err.get("details", []) if isinstance(d, dict)]
        if status == 404 and any("Unknown Endpoint" in d for d in details):
            return ApiNotAvailable(f"The node does not offer {path}.")
        what = details[0] if details else err.get("what") or f"HTTP {status}"
        return ChainError(f"The chain API call {path} failed: {what}.")

    # -- reads ----------------------------------------------------------------------------

    def get_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.call(GET_INFO)
        return info

    @property
    def chain_id(self) -> str:
        """The chain id: the expected one, or the one the first ``get_info`` answer named."""
        if self.expected_chain_id is None:
            self.get_info()
        assert self.expected_chain_id is not None
        return self.expected_chain_id

    def health(self) -> Health:
        """The health of the endpoint the client uses now (reads ``get_info`` with failover):
        not ok when no endpoint answers, or when the best one serves a stale head."""
        try:
            info = self.get_info()
        except EndpointError as exc:
            return Health(exc.endpoint, False, "", 0, float("inf"), (str(exc).rstrip("."),))
        except ChainError as exc:
            return Health(self._current.url, False, "", 0, float("inf"), (str(exc).rstrip("."),))
        ep = self._current
        problems = (f"{ep.url}: {ep.stale}",) if ep.stale else ()
        return Health(
            ep.url,
            not problems,
            str(info["chain_id"]),
            int(info["head_block_num"]),
            _head_age_s(info),
            problems,
            int(info.get("last_irreversible_block_num", 0)),
        )

    def get_account(self, name: str) -> dict[str, Any] | None:
        """The account, or None when it does not exist."""
        status, data = self.post("/v1/chain/get_account", {"account_name": name})
        if status == 200:
            return dict(data)
        if (
            isinstance(data, dict)
            and data.get("error", {}).get("name") == "account_query_exception"
        ):
            return None
        raise self._error("/v1/chain/get_account", status, data)

    def get_code_hash(self, account: str) -> str:
        """The sha256 of the account's wasm in hex; all zeros when it has no code."""
        data = self.call("/v1/chain/get_code_hash", {"account_name": account})
        return str(data["code_hash"])

    def get_abi(self, account: str) -> dict[str, Any]:
        """The account's ABI JSON (cached; see :meth:`invalidate_abi`); ``{}`` when it has
        none."""
        abi = self.abi_for(account)
        return dict(abi.raw) if abi is not None else {}

    def abi_for(self, account: str) -> Abi | None:
        """The account's ABI as a serializer (cached), or None when it has none."""
        if account not in self._abis:
            data = self.call("/v1/chain/get_abi", {"account_name": account})
            raw = data.get("abi")
            self._abis[account] = Abi(raw) if raw else None
        return self._abis[account]

    def invalidate_abi(self, account: str | None = None) -> None:
        """Forget a cached ABI (all of them when ``account`` is None)."""
        if account is None:
            self._abis.clear()
        else:
            self._abis.pop(account, None)

    def get_table_rows(
        self,
        code: str,
        scope: str | int,
        table: str,
        *,
        lower_bound: str | int | None = None,
        upper_bound: str | int | None = None,
        limit: int = 100,
        index_position: str | int | None = None,
        key_type: str | None = None,
        reverse: bool = False,
        show_payer: bool = False,
        json: bool = True,
    ) -> dict[str, Any]:
        """One page of a table: ``{"rows": [...], "more": bool, "next_key": str}``, the rows as
        JSON objects (``json=False``: as hex strings of their packed bytes, not decoded)."""
        body: dict[str, Any] = {
            "json": json,
            "code": code,
            "scope": str(scope),
            "table": table,
            "limit": limit,
            "reverse": reverse,
            "show_payer": show_payer,
        }
        if lower_bound is not None:
            body["lower_bound"] = str(lower_bound)
        if upper_bound is not None:
            body["upper_bound"] = str(upper_bound)
        if index_position is not None:
            body["index_position"] = str(index_position)
        if key_type is not None:
            body["key_type"] = key_type
        result: dict[str, Any] = self.call("/v1/chain/get_table_rows", body)
        return result

    def iter_table(
        self,
        code: str,
        scope: str | int,
        table: str,
        *,
        page_size: int = 100,
        lower_bound: str | int | None = None,
        upper_bound: str | int | None = None,
        index_position: str | int | None = None,
        key_type: str | None = None,
        reverse: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every row in key order, paging with ``more``/``next_key``."""
        lower, upper = lower_bound, upper_bound
        while True:
            page = self.get_table_rows(
                code,
                scope,
                table,
                lower_bound=lower,
                upper_bound=upper,
                limit=page_size,
                index_position=index_position,
                key_type=key_type,
                reverse=reverse,
            )
            yield from page["rows"]
            next_key = page.get("next_key")
            if not page.get("more") or next_key in (None, ""):
                return
            if reverse:
                upper = next_key
            else:
                lower = next_key

    def get_currency_stats(self, tkcontract: str, symbol_code: str) -> dict[str, Any] | None:
        """``{"supply", "max_supply", "issuer"}`` of a token, or None when it does not exist."""
        data = self.call(
            "/v1/chain/get_currency_stats", {"code": tkcontract, "symbol": symbol_code}
        )
        if isinstance(data, dict) and symbol_code in data:
            return dict(data[symbol_code])
        return None

    def get_token_precision(self, tkcontract: str, symbol_code: str) -> int:
        """The token's number of decimals, read from its supply on chain."""
        stats = self.get_currency_stats(tkcontract, symbol_code)
        if stats is None:
            raise ChainError(f"The token {symbol_code} does not exist in contract {tkcontract}.")
        return Asset.parse(str(stats["supply"])).symbol.precision

    def get_balance(self, tkcontract: str, account: str, symbol_code: str) -> Asset | None:
        """The account's balance row for the token, or None when there is none."""
        raw = symbol_code_to_raw(symbol_code)
        page = self.get_table_rows(
            tkcontract, account, "accounts", lower_bound=raw, upper_bound=raw, limit=1
        )
        for r in page["rows"]:
            asset = Asset.parse(str(r["balance"]))
            if asset.symbol.code == symbol_code:
                return asset
        return None

    def get_block(self, block_num_or_id: int | str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "/v1/chain/get_block", {"block_num_or_id": block_num_or_id}
        )
        return result

    # -- transactions -----------------------------------------------------------------------

    def _abi_for(self, account: str, action: str) -> Abi | None:
        abi = self.abi_for(account)
        if account == "eosio" and (abi is None or not abi.has_action(action)):
            if _NATIVE.has_action(action):
                return _NATIVE
        return abi

    def pack_actions(self, actions: Sequence[Action]) -> list[dict[str, Any]]:
        """Actions in the packed transaction layout (data serialized with the chain's ABI)."""
        return [
            a.packed(None if isinstance(a.data, bytes) else self._abi_for(a.account, a.name))
            for a in actions
        ]

    def build(
        self,
        actions: Sequence[Action],
        keys: Sequence[PrivateKey],
        *,
        expiration_s: int = 60,
        max_cpu_usage_ms: int = 0,
        max_net_usage_words: int = 0,
        info: Mapping[str, Any] | None = None,
    ) -> SignedTransaction:
        """Pack and sign a transaction. TAPoS refers to the last irreversible block; the
        expiration counts from the head block's time. ``info`` reuses a ``get_info`` answer."""
        if not 0 < expiration_s <= 3600:
            raise ChainError("A transaction expiration must be between 1 and 3600 seconds.")
        info = info or self.get_info()
        lib_id = bytes.fromhex(str(info["last_irreversible_block_id"]))
        expiration = parse_chain_time(str(info["head_block_time"])).replace(
            microsecond=0
        ) + timedelta(seconds=expiration_s)
        packed = pack_transaction(
            self.pack_actions(actions),
            expiration=expiration,
            ref_block_num=int(info["last_irreversible_block_num"]) & 0xFFFF,
            ref_block_prefix=struct.unpack_from("<I", lib_id, 8)[0],
            max_cpu_usage_ms=max_cpu_usage_ms,
            max_net_usage_words=max_net_usage_words,
        )
        chain_id = str(info["chain_id"])
        return SignedTransaction(
            packed_trx=packed.hex(),
            signatures=sign(chain_id, packed, keys),
            expiration=expiration,
            chain_id=chain_id,
        )

    def send(self, signed: SignedTransaction, *, failure_trace: bool = False) -> dict[str, Any]:
        """Send a signed transaction and return the node's answer (``transaction_id`` and the
        ``processed`` trace). A rejection raises TransactionError with the assert message;
        with ``failure_trace`` the node is asked for the failed trace, and the error's
        ``failed_actions`` and ``trace`` name the action that failed.

        When an endpoint fails mid-request the same bytes go to the next one: that is safe (a
        second copy is rejected as ``duplicate``), and the caller sees that error then."""
        if self._send2_available:
            body = {
                "return_failure_trace": failure_trace,
                "retry_trx": False,
                "transaction": signed.request(),
            }
            status, data, delivered = self._post("/v1/chain/send_transaction2", body)
            if status == 404 and isinstance(self._error("", status, data), ApiNotAvailable):
                self._send2_available = False
            else:
                return self._tx_result(status, data, signed.id, delivered=delivered)
        status, data, delivered = self._post("/v1/chain/push_transaction", signed.request())
        return self._tx_result(status, data, signed.id, delivered=delivered)

    @staticmethod
    def _tx_result(
        status: int, data: Any, tx_id: str, *, delivered: bool = False
    ) -> dict[str, Any]:
        try:
            return ChainClient._tx_answer(status, data, tx_id)
        except TransactionError as err:
            # another endpoint may have executed these very bytes before it failed: this
            # refusal (run on another node's state) does not say the transaction will not land
            err.maybe_elsewhere = delivered
            raise

    @staticmethod
    def _tx_answer(status: int, data: Any, tx_id: str) -> dict[str, Any]:
        if status in (200, 202) and isinstance(data, dict):
            processed = data.get("processed") or {}
            if processed.get("except"):
                err = TransactionError.from_response({"error": processed["except"]}, tx_id=tx_id)
                err.failed_actions = [
                    (
                        str(at.get("receiver")),
                        str((at.get("act") or {}).get("account")),
                        str((at.get("act") or {}).get("name")),
                    )
                    for at in processed.get("action_traces") or []
                    if at.get("except")
                ]
                err.trace = processed
                raise err
            return data
        if isinstance(data, dict):
            raise TransactionError.from_response(data, tx_id=tx_id)
        raise TransactionError(f"unexpected answer (HTTP {status})", tx_id=tx_id)

    def push(
        self, actions: Sequence[Action], keys: Sequence[PrivateKey], **kw: Any
    ) -> dict[str, Any]:
        """Build, sign and send in one go."""
        return self.send(self.build(actions, keys, **kw))

    def dry_run(self, actions: Sequence[Action], **kw: Any) -> dict[str, Any]:
        """Run a transaction without signatures and without persisting it
        (``/v1/chain/compute_transaction``). Returns the answer with the ``processed`` trace;
        a failure raises TransactionError as :meth:`send` does."""
        signed = self.build(actions, [], **kw)
        status, data = self.post("/v1/chain/compute_transaction", {"transaction": signed.request()})
        if status == 404 and isinstance(self._error("", status, data), ApiNotAvailable):
            raise ApiNotAvailable("The node does not offer /v1/chain/compute_transaction.")
        return self._tx_result(status, data, signed.id)

    def transaction_status(self, tx_id: str) -> dict[str, Any] | None:
        """``/v1/chain/get_transaction_status`` (state IN_BLOCK, IRREVERSIBLE, UNKNOWN, ...),
        or None when the node does not track transaction finality."""
        status, data = self.post("/v1/chain/get_transaction_status", {"id": tx_id})
        if status == 200:
            return dict(data)
        err = self._error("/v1/chain/get_transaction_status", status, data)
        if isinstance(err, ApiNotAvailable) or "disabled" in str(err).lower():
            log.debug("transaction status unavailable: %s", err)
            return None
        raise err


def _head_age_s(info: Mapping[str, Any]) -> float:
    """Seconds between the head block's time and the wall clock."""
    head = parse_chain_time(str(info["head_block_time"]))
    return (datetime.now(timezone.utc) - head).total_seconds()
