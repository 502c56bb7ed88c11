"""/ccgate/api/*, /ccgate/metrics and the guards, against a real `ccgate serve`."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.upstream import Gate
from tests.web.conftest import API_SECRET, MAX_SECRET, send

DASHBOARD_PATHS = [
    "/ccgate/",
    "/ccgate",
    "/ccgate/static/app.js",
    "/ccgate/static/app.css",
    "/ccgate/api/now",
    "/ccgate/api/limits",
    "/ccgate/api/spend",
    "/ccgate/api/sessions",
    "/ccgate/api/sessions/some-session",
    "/ccgate/api/live",
    "/ccgate/metrics",
]


def get(gate: Gate, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any, bytes]:
    """A raw request, so Host and Origin are exactly what the test says."""
    conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{gate.port}", **(headers or {})}.items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        # The live stream never ends by itself: read only its first event.
        body = resp.read() if resp.getheader("Content-Type", "") != "text/event-stream" else resp.read1(4096)
        return resp.status, resp.headers, body
    finally:
        conn.close()


def test_foreign_host_or_cross_site_origin_gets_403_everywhere(gate: Gate) -> None:
    hostile = [
        {"Host": "evil.example"},
        {"Host": f"attacker.test:{gate.port}"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost:1234", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
    ]
    for path in DASHBOARD_PATHS:
        for headers in hostile:
            status, _, _ = get(gate, path, headers)
            assert status == 403, (path, headers, status)
        # A typed address or bookmark (Sec-Fetch-Site: none) opens the page.
        assert get(gate, path, {"Sec-Fetch-Site": "none"})[0] in (200, 302, 404)  # 404: the unknown session id
        if path == "/ccgate":
            continue  # only ever typed: the page itself requests paths under /ccgate/
        # The page's own requests: same-origin fetch metadata, or Chrome's Origin on the same host.
        same = {"Origin": f"http://127.0.0.1:{gate.port}", "Sec-Fetch-Site": "same-origin"}
        assert get(gate, path, same)[0] in (200, 404), path
        assert get(gate, path, {"Sec-Fetch-Site": "same-origin"})[0] in (200, 404), path


def test_headers_are_strict_and_carry_no_cors(gate: Gate) -> None:
    for path in DASHBOARD_PATHS:
        _status, headers, _ = get(gate, path, {"Origin": f"http://127.0.0.1:{gate.port}"})
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert not [h for h in headers if h.lower().startswith("access-control-")], (path, dict(headers))


def test_api_is_read_only_and_never_forwards_its_namespace(gate: Gate, fake: Any) -> None:
    for path in ["/ccgate/api/now", "/ccgate/api/spend", "/ccgate/metrics", "/ccgate/api/anything", "/ccgate/x"]:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, _, _ = get(gate, path, {"Content-Length": "0"}, method=method)
            assert status in (404, 405), (method, path, status)
    assert fake.received == []
    status, _, body = get(gate, "/ccgate/static/../../pyproject.toml")
    assert status == 404
    status, _, body = get(gate, "/ccgate/api/spend?by=fortnight")
    assert status == 400 and json.loads(body)["error"].startswith("by must be one of")
    status, _, body = get(gate, "/ccgate/api/spend?since=yesterday-ish")
    assert status == 400 and "cannot read" in json.loads(body)["error"]


def test_metrics_parse_and_counters_equal_the_usage_log(gate: Gate) -> None:
    runs = [
        ("max", {"x-fake-ratelimit": "unified"}, True),
        ("max", {}, False),
        ("max", {"x-fake-gzip": "1"}, True),
        ("key", {"x-fake-status": "429"}, False),
        ("key", {"x-fake-status": "500"}, False),
        ("key", {}, False),
        ("key", {"x-fake-ratelimit": "api"}, True),
        # Over 200k prompt tokens: the long-context rates, priced per request by the metric as by the report.
        (
            "key",
            {
                "x-fake-usage": json.dumps(
                    {"input_tokens": 150_000, "cache_read_input_tokens": 60_000, "output_tokens": 900}
                )
            },
            False,
        ),
    ]
    for profile, headers, stream in runs:
        send(gate, profile, headers=headers, stream=stream, session="s1")
    health = gate.wait_logged(len(runs))
    status, headers, body = get(gate, "/ccgate/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)

    db = sqlite3.connect(Path(health["log"]["db_path"]))
    by_status = dict(
        ((p, str(st)), n) for p, st, n in db.execute("SELECT profile, status, COUNT(*) FROM requests GROUP BY 1, 2")
    )
    got = {(s.labels["profile"], s.labels["status"]): s.value for s in samples["ccgate_requests_total"]}
    assert got == by_status and sum(got.values()) == len(runs)

    classes = {
        "input": "input_tokens",
        "cache_read": "cache_read_tokens",
        "output": "output_tokens",
        "cache_write_5m": "cache_write_5m_tokens",
        "cache_write_1h": "cache_write_1h_tokens",
    }
    for cls, column in classes.items():
        (expected,) = db.execute(f"SELECT SUM({column}) FROM requests").fetchone()
        shown = sum(s.value for s in samples["ccgate_tokens_total"] if s.labels["class"] == cls)
        assert shown == expected > 0, cls

    # Cost equals the report's total for the same rows (stats prices them; so does the metric).
    report = json.loads(get(gate, "/ccgate/api/spend?since=2000-01-01")[2])["report"]["totals"]
    cost = sum(s.value for s in samples["ccgate_cost_usd_total"])
    assert abs(cost - report["cost_usd"]) < 1e-6 and cost > 0

    durations = [s for s in samples["ccgate_request_duration_seconds_count"]]
    assert sum(s.value for s in durations) == len(runs)
    ttfb = sum(s.value for s in samples["ccgate_ttfb_seconds_count"])
    (with_ttfb,) = db.execute("SELECT COUNT(*) FROM requests WHERE ttfb_ms IS NOT NULL").fetchone()
    assert ttfb == with_ttfb > 0
    util = {(s.labels["profile"], s.labels["window"]): s.value for s in samples["ccgate_ratelimit_utilization"]}
    assert util == {("max", "5h"): 0.42, ("max", "7d"): 0.17}
    assert samples["ccgate_in_flight"][0].value == 0
    assert samples["ccgate_usage_log_backlog"][0].value == 0
    assert samples["ccgate_usage_log_dropped_total"][0].value == 0


def test_no_secret_is_ever_served(gate: Gate) -> None:
    send(gate, "max", session="s1", headers={"x-fake-ratelimit": "unified"})
    send(gate, "key", session="s1", agent="a1")
    gate.wait_logged(2)
    for path in [*DASHBOARD_PATHS, "/ccgate/api/sessions/s1", "/ccgate/api/spend?stack=profile"]:
        _, _, body = get(gate, path)
        assert MAX_SECRET.encode() not in body and API_SECRET.encode() not in body
        assert b"sk-ant-" not in body and b"credential_fp" not in body
        assert b"hello" not in body  # the prompt


def test_empty_log_still_answers(gate: Gate) -> None:
    for path in ["/ccgate/api/now", "/ccgate/api/limits", "/ccgate/api/spend", "/ccgate/api/sessions"]:
        status, _, body = get(gate, path)
        assert status == 200, (path, body)
    assert get(gate, "/ccgate/api/sessions/nope")[0] == 404


def test_open_live_streams_do_not_hold_up_a_graceful_stop(gate: Gate) -> None:
    streams = []
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
        conn.request("GET", "/ccgate/api/live")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
        assert resp.read1(4096).startswith(b"event: state\ndata: ")
        streams.append(conn)
    started = time.monotonic()
    code, _ = gate.stop()
    assert code == 0
    assert time.monotonic() - started < 5  # the grace period is for requests in flight, not dashboards
    for conn in streams:
        conn.close()


def test_spend_api_report_is_exactly_stats_json(gate: Gate, ccgate: Any) -> None:
    for profile, model in [("max", "claude-sonnet-4-5"), ("max", "claude-opus-4-1"), ("key", "claude-haiku-4-5")]:
        send(gate, profile, model=model, session="s1")
    send(gate, "key", headers={"x-fake-status": "529"})
    gate.wait_logged(4)
    for by in ("day", "week", "month"):
        for since, until in (("2026-01-01", "2030-12-31"), ("7d", None)):
            args = ["--by", by, "--since", since] + (["--until", until] if until else [])
            expected = json.loads(ccgate("stats", "--json", *args).stdout)
            query = f"by={by}&stack=profile&since={since}" + (f"&until={until}" if until else "")
            status, _, body = get(gate, f"/ccgate/api/spend?{query}")
            assert status == 200
            report = json.loads(body)["report"]
            if until is None:  # a relative start moves with the clock between the two calls
                for r in (report, expected):
                    r.pop("since")
            assert report == expected, (by, since)
            assert report["totals"]["requests"] == 4


def test_dashboard_answers_with_the_usage_log_off(fake: Any) -> None:
    with Gate("--no-log") as gate:
        for path in ["/ccgate/", "/ccgate/api/now", "/ccgate/api/limits", "/ccgate/api/spend", "/ccgate/metrics"]:
            status, _, body = get(gate, path)
            assert status == 200, (path, body)
        now = json.loads(get(gate, "/ccgate/api/now")[2])
        assert now["health"]["log"]["enabled"] is False and now["requests"] == []
        assert b"ccgate_usage_log_enabled 0.0" in get(gate, "/ccgate/metrics")[2]
