"""Prometheus metrics for `ccgate serve`, fed by the usage writer's per-record listener.

The metrics have their own CollectorRegistry (never the process-global one), so several apps
in one process (tests) do not collide, and nothing but ccgate's own figures is exported.
Counters count records as the usage log builds them, so after a run they equal the log's rows.

Label values come from requests and the upstream (any client can send any model name), so each
label keeps at most MAX_LABEL_VALUES distinct values; later newcomers are counted under "other".
Each label child is looked up once and kept: `labels()` costs a few microseconds under a lock,
and a record touches a dozen of them.
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

# Distinct values per label (profiles, models, statuses); more would grow the scrape without bound.
MAX_LABEL_VALUES = 100
MAX_LABEL_LENGTH = 100
OTHER = "other"

Probe = Callable[[], dict[str, Any]]


class _BoundedLabel:
    """The first MAX_LABEL_VALUES distinct values pass (cut to MAX_LABEL_LENGTH); the rest become "other"."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def __call__(self, value: str) -> str:
        value = value[:MAX_LABEL_LENGTH]
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


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
        self._profile, self._model, self._status = _BoundedLabel(), _BoundedLabel(), _BoundedLabel()
        # Children are made on first use, so a series appears only once it has something to say.
        self._children: dict[tuple[object, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, rec: UsageRecord, cost: float | None) -> None:
        """Count one finished request; `cost` is its price (None: a model with no known price)."""
        profile = self._profile(rec.profile or "none")
        model = self._model(rec.model or rec.request_model or "unknown")
        child = self._child
        child(self.requests, profile, model, self._status(str(rec.status))).inc()
        tokens = False
        for name, attr in TOKEN_CLASSES:
            value = getattr(rec, attr)
            if value:
                child(self.tokens, profile, model, name).inc(value)
                tokens = True
        if cost is not None:
            child(self.cost, profile, model).inc(cost)
        elif tokens:
            child(self.unpriced, model).inc()
        if rec.ttfb_ms is not None:
            child(self.ttfb, profile).observe(rec.ttfb_ms / 1000)
        child(self.duration, profile).observe(rec.duration_ms / 1000)
        for window, util, reset in (
            ("5h", rec.rl_5h_utilization, rec.rl_5h_reset),
            ("7d", rec.rl_7d_utilization, rec.rl_7d_reset),
        ):
            if util is not None:
                child(self.utilization, profile, window).set(util)
            if reset is not None:
                child(self.reset, profile, window).set(reset)

    def render(self) -> bytes:
        return generate_latest(self.registry)
