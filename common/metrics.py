"""The per-process Prometheus listener (never on the public port)."""

from __future__ import annotations

from prometheus_client import start_http_server

# Latency buckets shared by every histogram: 1 ms … 60 s.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> None:
    """Serves /metrics from a daemon thread; port 0 disables it."""
    if port:
        start_http_server(port, addr=host)
