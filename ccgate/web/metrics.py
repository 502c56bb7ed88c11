"""Prometheus metrics for `ccgate serve`, fed by the usage writer's per-record listener.

The metrics have their own CollectorRegistry (never the process-global one), so several apps
in one process (tests) do not collide, and nothing but ccgate's own figures is exported;
prometheus_client itself is imported only when /ccgate/metrics is first scraped.
Counters count records as the usage log builds them, so after a run they equal the log's rows.

Label values come from requests and the upstream (any client can send any model name), so each
label keeps at most MAX_LABEL_VALUES distinct values; later newcomers are counted under "other".
The figures live in plain dicts and become metric families only when scraped: a
prometheus_client metric takes a lock per increment, and a record touches a dozen of them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

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


class _LiveState:
    """Read at scrape time: requests in flight and the usage log's health (backlog, drops)."""

    def __init__(self, in_flight: Callable[[], int], log_health: Probe) -> None:
        self._in_flight = in_flight
        self._log_health = log_health

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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


class _Histogram:
    """Bucket counts, sum and count of one label set (what a Prometheus histogram exposes)."""

    __slots__ = ("counts", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)  # the last one is +Inf
        self.sum = 0.0


class _Figures:
    """The per-record figures, kept in plain dicts and turned into metric families at scrape time:
    prometheus_client's own metrics take a lock per increment, a dozen per record on the event loop."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.tokens: dict[tuple[str, str, str], int] = {}
        self.cost: dict[tuple[str, str], float] = {}
        self.unpriced: dict[str, int] = {}
        self.ttfb: dict[str, _Histogram] = {}
        self.duration: dict[str, _Histogram] = {}
        self.utilization: dict[tuple[str, str], float] = {}
        self.reset: dict[tuple[str, str], float] = {}

    def collect(self) -> Iterator[Any]:
        yield _counter("ccgate_requests", "Finished requests.", ("profile", "model", "status"), self.requests)
        yield _counter("ccgate_tokens", "Tokens by class.", ("profile", "model", "class"), self.tokens)
        yield _counter(
            "ccgate_cost_usd",
            "Cost at API list prices (API-equivalent for subscriptions).",
            ("profile", "model"),
            self.cost,
        )
        yield _counter(
            "ccgate_unpriced_requests",
            "Requests with tokens but no price.",
            ("model",),
            {(m,): n for m, n in self.unpriced.items()},
        )
        yield _histogram(
            "ccgate_ttfb_seconds", "Request arrival to the upstream's first byte.", TTFB_BUCKETS, self.ttfb
        )
        yield _histogram(
            "ccgate_request_duration_seconds",
            "Whole request, to the last byte relayed.",
            DURATION_BUCKETS,
            self.duration,
        )
        yield _gauge(
            "ccgate_ratelimit_utilization",
            "Latest unified rate-limit utilization the upstream reported (0..1).",
            self.utilization,
        )
        yield _gauge("ccgate_ratelimit_reset_timestamp_seconds", "When that window resets (unix seconds).", self.reset)


def _counter(name: str, doc: str, labels: tuple[str, ...], values: dict[Any, Any]) -> CounterMetricFamily:
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in values.items():
        family.add_metric(key, value)
    return family


def _gauge(name: str, doc: str, values: dict[tuple[str, str], float]) -> GaugeMetricFamily:
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(name, doc, labels=("profile", "window"))
    for key, value in values.items():
        family.add_metric(key, value)
    return family


def _histogram(name: str, doc: str, bounds: tuple[float, ...], values: dict[str, _Histogram]) -> HistogramMetricFamily:
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(name, doc, labels=("profile",))
    for profile, h in values.items():
        cumulative, running = [], 0
        for bound, count in zip((*(repr(float(b)) for b in bounds), "+Inf"), h.counts, strict=True):
            running += count
            cumulative.append((bound, running))
        family.add_metric((profile,), cumulative, h.sum)
    return family


class Metrics:
    def __init__(self, in_flight: Callable[[], int], log_health: Probe) -> None:
        self._figures = _Figures()
        self._live = _LiveState(in_flight, log_health)
        self._profile, self._model, self._status = _BoundedLabel(), _BoundedLabel(), _BoundedLabel()

    def observe(self, rec: UsageRecord, cost: float | None) -> None:
        """Count one finished request; `cost` is its price (None: a model with no known price)."""
        f = self._figures
        profile = self._profile(rec.profile or "none")
        model = self._model(rec.model or rec.request_model or "unknown")
        key = (profile, model, self._status(str(rec.status)))
        f.requests[key] = f.requests.get(key, 0) + 1
        tokens = False
        for name, attr in TOKEN_CLASSES:
            value = getattr(rec, attr)
            if value:
                tkey = (profile, model, name)
                f.tokens[tkey] = f.tokens.get(tkey, 0) + value
                tokens = True
        if cost is not None:
            ckey = (profile, model)
            f.cost[ckey] = f.cost.get(ckey, 0.0) + cost
        elif tokens:
            f.unpriced[model] = f.unpriced.get(model, 0) + 1
        if rec.ttfb_ms is not None:
            _observe(f.ttfb, profile, TTFB_BUCKETS, rec.ttfb_ms / 1000)
        _observe(f.duration, profile, DURATION_BUCKETS, rec.duration_ms / 1000)
        if rec.rl_5h_utilization is not None:
            f.utilization[(profile, "5h")] = rec.rl_5h_utilization
        if rec.rl_7d_utilization is not None:
            f.utilization[(profile, "7d")] = rec.rl_7d_utilization
        if rec.rl_5h_reset is not None:
            f.reset[(profile, "5h")] = rec.rl_5h_reset
        if rec.rl_7d_reset is not None:
            f.reset[(profile, "7d")] = rec.rl_7d_reset

    def render(self) -> bytes:
        # prometheus_client is imported at the first scrape, not when the forwarder starts.
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=True)
        registry.register(self._figures)
        registry.register(self._live)
        return generate_latest(registry)


def _observe(histograms: dict[str, _Histogram], profile: str, bounds: tuple[float, ...], seconds: float) -> None:
    h = histograms.get(profile)
    if h is None:
        h = histograms[profile] = _Histogram(len(bounds))
    h.counts[bisect_left(bounds, seconds)] += 1  # `le` buckets: a value equal to a bound counts in it
    h.sum += seconds
