"""Serving a Prometheus registry over HTTP, for both programs' ``/metrics``."""

from __future__ import annotations

import errno

from prometheus_client import CollectorRegistry, start_http_server

from .errors import ConfigError

__all__ = ["serve_metrics"]


def serve_metrics(registry: CollectorRegistry, host: str, port: int, *, setting: str) -> None:
    """Serve ``registry`` on ``http://host:port/metrics`` from a background thread. A taken
    port or an unusable address is a ConfigError naming ``setting``, the option to change."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            problem = "is already in use"
        else:
            problem = f"cannot be used ({exc.strerror or exc})"
        raise ConfigError(
            f"The metrics port {port} on {host} {problem}; choose another {setting} or stop "
            "the program listening there."
        ) from None
