"""The dashboard's small pure parts: the agent tree, the page's weight."""

from __future__ import annotations

from ccgate.reports.agents import agent_tree
from ccgate.web.routes import STATIC_DIR, STATIC_TYPES

PAGE_BUDGET = 300 * 1024


def _row(i: int, agent: str | None, parent: str | None, tokens: int) -> dict[str, object]:
    return {
        "id": i,
        "ts": float(i),
        "agent_id": agent,
        "parent_agent_id": parent,
        "model": "m",
        "request_model": "m",
        "input_tokens": tokens,
        "output_tokens": 1,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "cache_write_other_tokens": 0,
    }


def test_agent_tree_nests_by_parent_and_keeps_orphans_on_the_main_loop() -> None:
    rows = [
        _row(1, None, None, 10),
        _row(2, "a", None, 20),
        _row(3, "b", "a", 30),
        _row(4, "c", "gone", 40),
        _row(5, "d", "d", 50),
    ]
    tree = agent_tree(rows, {1: 0.1, 2: 0.2, 3: None, 4: 0.4, 5: 0.5})
    assert tree["agent_id"] is None and tree["requests"] == 1 and tree["cost_usd"] == 0.1
    kids = {n["agent_id"]: n for n in tree["children"]}
    assert set(kids) == {"a", "c", "d"}  # c's parent is unknown, d names itself: both hang on the main loop
    (b,) = kids["a"]["children"]
    assert b["agent_id"] == "b" and b["input_tokens"] == 30 and b["unpriced"] == 1


def test_the_page_weighs_under_300_kb_and_loads_nothing_from_elsewhere() -> None:
    files = [p for p in STATIC_DIR.iterdir() if p.suffix in STATIC_TYPES]
    assert {p.name for p in files} >= {"index.html", "app.js", "app.css"}
    assert sum(p.stat().st_size for p in files) <= PAGE_BUDGET
    for p in files:
        text = p.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text and "//cdn" not in text and "@import" not in text


def test_metrics_label_sets_stay_bounded_whatever_model_names_arrive() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from ccgate.usage.model import UsageRecord
    from ccgate.web.metrics import Metrics

    metrics = Metrics(in_flight=lambda: 0, log_health=lambda: {})
    for i in range(20_000):
        rec = UsageRecord(
            ts=0.0,
            profile="max",
            method="POST",
            path="/v1/messages",
            endpoint="messages",
            status=200,
            outcome="ok",
            model=f"model-{i:05d}-" + "x" * 300,
            input_tokens=1,
            output_tokens=2,
        )
        metrics.observe(rec, 0.5)
    text = metrics.render().decode()
    requests = {
        s.labels["model"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "ccgate_requests_total"
    }
    assert len(requests) == 101  # 100 names as they came (cut to 100 characters), then "other"
    assert requests["other"] == 19_900 and sum(requests.values()) == 20_000
    assert ("model-00099-" + "x" * 88) in requests and len(max(requests, key=len)) == 100
    assert len(text) < 200_000


def test_metrics_histogram_buckets_hold_values_equal_to_their_bound() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from ccgate.usage.model import UsageRecord
    from ccgate.web.metrics import Metrics

    metrics = Metrics(in_flight=lambda: 0, log_health=lambda: {})
    for ttfb_ms in (50.0, 50.001, 60_000.0, 60_000.001):
        metrics.observe(
            UsageRecord(
                ts=0.0,
                profile="p",
                method="POST",
                path="/",
                endpoint="other",
                status=200,
                outcome="ok",
                ttfb_ms=ttfb_ms,
                duration_ms=1.0,
            ),
            None,
        )
    buckets = {
        s.labels["le"]: s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == "ccgate_ttfb_seconds_bucket"
    }
    assert (buckets["0.05"], buckets["0.1"], buckets["60.0"], buckets["+Inf"]) == (1, 2, 3, 4)
