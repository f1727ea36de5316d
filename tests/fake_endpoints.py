"""Endpoints that misbehave, for failover tests: served on a free loopback port by a thread of
the test process, next to the real node the test also uses.

- :class:`BadGateway` answers every request with HTTP 502 and an HTML body.
- :class:`StaleNode` answers ``get_info`` like a node of the right chain whose head stopped in
  2020, and any other call with a code hash no account has; it records every path it was asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

__all__ = ["STALE_CODE_HASH", "BadGateway", "StaleNode", "serve", "url_of"]

#: what StaleNode answers to get_code_hash (and every other call but get_info)
STALE_CODE_HASH = "ee" * 32


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class BadGateway(_Quiet):
    def do_POST(self) -> None:  # noqa: N802
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>bad gateway</html>")


class StaleNode(_Quiet):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        if self.path == "/v1/chain/get_info":
            body: dict[str, object] = {
                "chain_id": self.server.chain_id,  # type: ignore[attr-defined]
                "head_block_num": 7,
                "head_block_time": "2020-01-01T00:00:00.000",
                "last_irreversible_block_num": 6,
                "last_irreversible_block_id": "00" * 32,
            }
        else:
            body = {"account_name": "x", "code_hash": STALE_CODE_HASH}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], **attrs: object) -> Iterator[HTTPServer]:
    """Serve ``handler`` on a free loopback port (``attrs`` set on the server, ``paths`` an
    empty list) while the context lasts (see :func:`url_of` for its URL)."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    server.paths = []  # type: ignore[attr-defined]
    for name, value in attrs.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def url_of(server: HTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"
