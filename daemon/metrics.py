"""Prometheus metrics of the admin daemon, served on ``/metrics``.

All metrics live in one registry owned by :class:`Metrics` (so tests and the status command can
build several without clashing with the process-wide default registry).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from payoutengine.client import ChainClient
from payoutengine.metrics import serve_metrics
from payoutengine.resourcekeeper import ResourceMetrics

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.dues_outstanding = Gauge(
            "payoutengine_dues_outstanding",
            "Open dues (recipients waiting for a payment) per schedule.",
            ["schedule"],
            registry=r,
        )
        self.payments = Counter(
            "payoutengine_payments",
            "Payments made by runpayouts transactions, counted once their block is irreversible "
            "(as the block ran them).",
            ["token", "symbol"],
            registry=r,
        )
        self.amount_sent = Counter(
            "payoutengine_amount_sent_units",
            "Amount sent, in the token's smallest unit (counted as payments are).",
            ["token", "symbol"],
            registry=r,
        )
        self.transactions = Gauge(
            "payoutengine_transactions",
            "Journaled transactions by status.",
            ["status"],
            registry=r,
        )
        self.tx_failures = Counter(
            "payoutengine_transaction_failures",
            "Transactions the chain rejected, by reason.",
            ["reason"],
            registry=r,
        )
        self.unapproved = Gauge(
            "payoutengine_unapproved_accounts",
            "Accounts in the approvals table with approved=0.",
            registry=r,
        )
        self.poison = Counter(
            "payoutengine_poison_recipients",
            "Recipients unapproved because their contract rejected a payment.",
            registry=r,
        )
        self.tokens_suspended = Counter(
            "payoutengine_tokens_suspended",
            "Tokens suspended (denytoken) because their own transfer failed in a payout.",
            ["token"],
            registry=r,
        )
        self.last_payout_ts = Gauge(
            "payoutengine_last_successful_payout_timestamp_seconds",
            "Unix time of the last runpayouts transaction that paid someone.",
            registry=r,
        )
        self.seconds_since_payout = Gauge(
            "payoutengine_seconds_since_last_successful_payout",
            "Seconds since the last runpayouts transaction that paid someone "
            "(-1 before the first one).",
            registry=r,
        )
        self.seconds_since_payout.set_function(self._since)
        self.payable = Gauge(
            "payoutengine_payable_dues",
            "1 while the contract has dues the daemon can pay (its last runpayouts paid someone "
            "or failed), 0 once the contract answered nothing to pay.",
            registry=r,
        )
        self.count = Gauge(
            "payoutengine_runpayouts_count",
            "Current count argument of runpayouts (adapts to the CPU the chain grants).",
            registry=r,
        )
        self.healthy = Gauge(
            "payoutengine_chain_healthy",
            "1 when the current endpoint has the right chain id and a fresh head block.",
            registry=r,
        )
        #: CPU/NET/RAM: budget exhausted, available, spent (payoutengine.resourcekeeper)
        self.resources = ResourceMetrics(r)
        self.chain_anomaly = Gauge(
            "payoutengine_chain_anomaly",
            "1 while the chain shows this anomaly and new payouts wait: lib_stalled (the last "
            "irreversible block has not advanced for [chain] max_lib_stall_s), head_behind "
            "(every endpoint's head block is older than [chain] max_head_age_s).",
            ["kind"],
            registry=r,
        )
        self._last_payout: float | None = None

    def count_requests(self, client: ChainClient) -> None:
        """Export the chain API requests ``client`` made and their bytes (sent + received),
        read at each scrape: what the daemon costs the endpoints (their quotas, rate limits)."""
        self.registry.register(_RequestCounts(client))

    def payout_succeeded(self, when: float | None = None) -> None:
        self._last_payout = time.time() if when is None else when
        self.last_payout_ts.set(self._last_payout)

    def _since(self) -> float:
        return -1.0 if self._last_payout is None else max(0.0, time.time() - self._last_payout)

    def serve(self, host: str, port: int) -> None:
        """Serve ``/metrics``; ConfigError when the address cannot be used."""
        serve_metrics(self.registry, host, port, setting="[metrics] port")


class _RequestCounts(Collector):
    def __init__(self, client: ChainClient) -> None:
        self.client = client

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "payoutengine_rpc_requests",
            "Chain API requests made (every endpoint, failures included).",
            value=self.client.rpc_calls,
        )
        yield CounterMetricFamily(
            "payoutengine_rpc_bytes",
            "Bytes of chain API requests and answers.",
            value=self.client.rpc_bytes,
        )
