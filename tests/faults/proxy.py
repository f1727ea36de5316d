"""An HTTP proxy in front of a node's API that misbehaves on demand, for fault tests.

    with EndpointProxy(node.url, seed=7) as proxy:
        client = ChainClient([proxy.url, other.url])
        proxy.set("drop_answer", probability=0.3, paths=["/v1/chain/send_transaction2"])
        ...
        proxy.set("pass")

It listens on a loopback port (0 = a free one) and serves from threads of the calling process.
Each request is forwarded to ``upstream_url`` unless the current mode hits it; the mode hits a
request with ``probability``, drawn from a ``random.Random(seed)``, and only requests whose path
starts with one of ``paths`` (default: every path) are candidates. The modes:

- ``pass``: forward everything (the start mode).
- ``delay``: wait ``delay_s``, then forward (a client with a shorter timeout gives up first).
- ``drop``: close the connection without forwarding or answering.
- ``drop_answer``: forward the request, then close the connection without passing the answer on.
  The node has executed a transaction; the sender never hears (the lost-answer case).
- ``error``: answer HTTP ``status`` (500 by default, or 502/503/...) with an HTML body, as a
  failing load balancer does, without forwarding.
- ``stale``: answer ``get_info`` with the answer the node gave when the mode was set (frozen
  head and LIB, so the head grows old); everything else is forwarded.

When the upstream cannot be reached the proxy answers 502, as a reverse proxy does.
``hits`` counts the requests each mode hit; ``forwarded`` the requests passed to the node.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["MODES", "EndpointProxy"]

MODES = ("pass", "delay", "drop", "drop_answer", "error", "stale")
GET_INFO = "/v1/chain/get_info"


@dataclass(frozen=True)
class _Mode:
    name: str = "pass"
    probability: float = 1.0
    delay_s: float = 0.0
    status: int = 500
    paths: tuple[str, ...] = ()
    frozen_info: bytes = b""


class EndpointProxy:
    """A controllable proxy in front of one node's HTTP API (see the module docstring).

    Args:
        upstream_url: the node's base URL, e.g. ``http://127.0.0.1:8888``.
        seed: seeds the generator that decides which requests a mode hits.
        port: the loopback port to listen on; 0 picks a free one.
        timeout_s: how long the proxy waits for the node.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        seed: int | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        timeout_s: float = 30.0,
    ) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self._host = host
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._mode = _Mode()
        self._closing = threading.Event()
        self._http = httpx.Client(timeout=timeout_s)
        self.hits: Counter[str] = Counter()
        self.forwarded = 0
        self._server = _Server((host, port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"proxy-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode.name

    def set(
        self,
        mode: str,
        *,
        probability: float = 1.0,
        delay_s: float = 0.0,
        status: int = 500,
        paths: Sequence[str] = (),
    ) -> None:
        """Switch to ``mode`` (one of :data:`MODES`) for the requests that follow."""
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}; one of {', '.join(MODES)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must lie between 0 and 1")
        if mode == "delay" and delay_s <= 0:
            raise ValueError("the delay mode needs delay_s > 0")
        if mode == "error" and not 400 <= status <= 599:
            raise ValueError("the error mode answers a 4xx or 5xx status")
        frozen = b""
        if mode == "stale":
            resp = self._http.post(self.upstream_url + GET_INFO, content=b"{}")
            resp.raise_for_status()
            frozen = resp.content
        with self._lock:
            self._mode = _Mode(mode, probability, delay_s, status, tuple(paths), frozen)

    def frozen_info(self) -> dict[str, Any] | None:
        """The get_info answer the ``stale`` mode serves, or None in another mode."""
        raw = self._mode.frozen_info
        return json.loads(raw) if raw else None

    def close(self) -> None:
        """Stop serving (requests being delayed are dropped) and free the port."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._http.close()

    def __enter__(self) -> EndpointProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ---------------------------------------------------------------------------

    def _pick(self, path: str) -> _Mode | None:
        """The mode that hits this request, or None when it passes."""
        with self._lock:
            mode = self._mode
            if mode.name == "pass":
                return None
            if mode.paths and not any(path.startswith(p) for p in mode.paths):
                return None
            if mode.name == "stale" and path != GET_INFO:
                return None
            if self._rng.random() >= mode.probability:
                return None
            self.hits[mode.name] += 1
            return mode

    def _forward(self, method: str, path: str, body: bytes, ctype: str) -> httpx.Response | None:
        try:
            resp = self._http.request(
                method, self.upstream_url + path, content=body, headers={"Content-Type": ctype}
            )
        except httpx.HTTPError:
            return None
        with self._lock:
            self.forwarded += 1
        return resp


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up (timed out) before the answer: that is what delay is for
        pass


def _handler_for(proxy: EndpointProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ctype = self.headers.get("Content-Type") or "application/json"
            mode = proxy._pick(self.path)
            name = mode.name if mode is not None else "pass"
            if mode is not None and name == "delay":
                if proxy._closing.wait(mode.delay_s):
                    self._hang_up()
                    return
            if mode is not None and name == "drop":
                self._hang_up()
                return
            if mode is not None and name == "error":
                self._answer(mode.status, b"<html>upstream error</html>", "text/html")
                return
            if mode is not None and name == "stale":
                self._answer(200, mode.frozen_info, "application/json")
                return
            resp = proxy._forward(method, self.path, body, ctype)
            if name == "drop_answer":
                self._hang_up()
                return
            if resp is None:
                self._answer(502, b"<html>bad gateway</html>", "text/html")
                return
            self._answer(
                resp.status_code,
                resp.content,
                resp.headers.get("Content-Type", "application/json"),
            )

        def _answer(self, status: int, raw: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _hang_up(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return Handler
