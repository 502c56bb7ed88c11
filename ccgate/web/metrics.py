"""Prometheus metrics for `ccgate serve`, fed by the usage writer's per-record listener.

The metrics have their own CollectorRegistry (never the process-global one), so several apps
in one process (tests) do not collide, and nothing but ccgate's own figures is exported.
Counters count records as the usage log builds them, so after a run they equal the log's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ccgate.usage.model import UsageRecord

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOKEN_CLASSES = (
    ("input", "input_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write_5m", "cache_write_5m_tokens"),
    ("cache_write_1h", "cache_write_1h_tokens"),
    ("cache_write_other", "cache_write_other_tokens"),
    ("output", "output_tokens"),
)
# Seconds; Claude Code's turns run from well under a second to several minutes.
TTFB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
DURATION_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 20, 40, 60, 120, 300, 600)

Probe = Callable[[], dict[str, Any]]


class _LiveState(Collector):
    """Read at scrape time: requests in flight and the usage log's health (backlog, drops)."""

    def __init__(self, in_flight: Callable[[], int], log_health: Probe) -> None:
        self._in_flight = in_flight
        self._log_health = log_health

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("ccgate_in_flight", "Requests being forwarded right now.", value=self._in_flight())
        health = self._log_health()
        yield GaugeMetricFamily(
            "ccgate_usage_log_backlog", "Usage records waiting to be written.", value=health.get("backlog", 0)
        )
        yield CounterMetricFamily(
            "ccgate_usage_log_dropped",
            "Usage records lost (queue full or backlog limit).",
            value=health.get("dropped", 0),
        )
        yield GaugeMetricFamily(
            "ccgate_usage_log_enabled", "1 when the usage log is on.", value=1 if health.get("enabled") else 0
        )


class Metrics:
    def __init__(self, in_flight: Callable[[], int], log_health: Probe) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("ccgate_requests", "Finished requests.", ["profile", "model", "status"], registry=r)
        self.tokens = Counter("ccgate_tokens", "Tokens by class.", ["profile", "model", "class"], registry=r)
        self.cost = Counter(
            "ccgate_cost_usd",
            "Cost at API list prices (API-equivalent for subscriptions).",
            ["profile", "model"],
            registry=r,
        )
        self.unpriced = Counter("ccgate_unpriced_requests", "Requests with tokens but no price.", ["model"], registry=r)
        self.ttfb = Histogram(
            "ccgate_ttfb_seconds",
            "Request arrival to the upstream's first byte.",
            ["profile"],
            buckets=TTFB_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "ccgate_request_duration_seconds",
            "Whole request, to the last byte relayed.",
            ["profile"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.utilization = Gauge(
            "ccgate_ratelimit_utilization",
            "Latest unified rate-limit utilization the upstream reported (0..1).",
            ["profile", "window"],
            registry=r,
        )
        self.reset = Gauge(
            "ccgate_ratelimit_reset_timestamp_seconds",
            "When that window resets (unix seconds).",
            ["profile", "window"],
            registry=r,
        )
        r.register(_LiveState(in_flight, log_health))

    def observe(self, rec: UsageRecord, cost: float | None) -> None:
        """Count one finished request; `cost` is its price (None: a model with no known price)."""
        profile, model = rec.profile or "none", rec.model or rec.request_model or "unknown"
        self.requests.labels(profile, model, str(rec.status)).inc()
        for name, attr in TOKEN_CLASSES:
            value = getattr(rec, attr)
            if value:
                self.tokens.labels(profile, model, name).inc(value)
        if cost is not None:
            self.cost.labels(profile, model).inc(cost)
        elif _has_tokens(rec):
            self.unpriced.labels(model).inc()
        if rec.ttfb_ms is not None:
            self.ttfb.labels(profile).observe(rec.ttfb_ms / 1000)
        self.duration.labels(profile).observe(rec.duration_ms / 1000)
        for window in ("5h", "7d"):
            util = getattr(rec, f"rl_{window}_utilization")
            if util is not None:
                self.utilization.labels(profile, window).set(util)
            reset = getattr(rec, f"rl_{window}_reset")
            if reset is not None:
                self.reset.labels(profile, window).set(reset)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _has_tokens(rec: UsageRecord) -> bool:
    return any(getattr(rec, attr) for _, attr in TOKEN_CLASSES)
