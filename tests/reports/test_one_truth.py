"""One log holding every oddity, and every surface that shows a figure of it agrees (issue 14).

The live part goes through a real forwarder to the fake upstream (so the metrics see it too): a
refused request with no model, an unknown model, count_tokens calls, API-billed and subscription
traffic in one 5-hour window (one of them a subscription profile's request that came back
API-billed), a long-context request on claude-haiku-5-5 (whose tier starts at 100k), fast mode,
web searches and US-only inference. One historic row of the same session predates a dated price
change. Then `stats`, `stats blocks`, `statusline`, `doctor`, `/ccgate/api/*` and `/ccgate/metrics`
are read and compared with each other and with prices worked out by hand.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ccgate.usage import store
from ccgate.usage.model import UsageRecord
from tests.conftest import Runner
from tests.fakes.upstream import FakeUpstream, Gate, add_profile
from tests.reports.conftest import rec

SESSION = "5e55a000-0000-4000-8000-00000000one1"
MAX_TOKEN = "sk-ant-oat01-one-truth-" + "m" * 30
API_KEY = "sk-ant-api03-one-truth-" + "k" * 30
BEFORE_CHANGE = datetime(2026, 3, 12, 12, tzinfo=UTC).timestamp()  # opus-4-6's long-context premium ended 03-13


def _usage(**fields: Any) -> str:
    return json.dumps({"input_tokens": 0, "output_tokens": 0, **fields})


# (profile, body, headers, hand-computed cost in USD or None for unpriced / "count" for count_tokens)
LIVE: list[tuple[str, dict[str, Any], dict[str, str], Decimal | None]] = [
    # Refused before any model answered: costs nothing, is not "unpriced".
    ("max", {"messages": []}, {"x-fake-status": "400", "x-fake-ratelimit": "unified"}, Decimal(0)),
    # A model no price source knows: unpriced, never $0.
    (
        "key",
        {"model": "claude-mystery-9"},
        {"x-fake-ratelimit": "api", "x-fake-usage": _usage(input_tokens=1000)},
        None,
    ),
    # ...refused too, in the same hour: no tokens, so nothing of it is unpriced (one unpriced request, not two).
    ("key", {"model": "claude-mystery-9"}, {"x-fake-status": "429", "x-fake-ratelimit": "api"}, Decimal(0)),
    # Subscription traffic: sonnet-5 at $2/$10 per MTok.
    (
        "max",
        {"model": "claude-sonnet-5"},
        {"x-fake-ratelimit": "unified", "x-fake-usage": _usage(input_tokens=10_000, output_tokens=1_000)},
        Decimal("0.03"),
    ),
    # Long context on claude-haiku-5-5: 150,000 > its 100k start, every class at 5x ($0.50/$2.50).
    (
        "max",
        {"model": "claude-haiku-5-5"},
        {"x-fake-ratelimit": "unified", "x-fake-usage": _usage(input_tokens=150_000, output_tokens=2_000)},
        Decimal("0.08"),
    ),
    # Fast mode on opus-4-8: $10/$50 per MTok.
    (
        "key",
        {"model": "claude-opus-4-8", "speed": "fast"},
        {"x-fake-ratelimit": "api", "x-fake-usage": _usage(input_tokens=100_000, output_tokens=10_000)},
        Decimal("1.5"),
    ),
    # Web searches ($10 per 1,000) and US-only inference (1.1x the tokens) on sonnet-5.
    (
        "key",
        {"model": "claude-sonnet-5"},
        {
            "x-fake-ratelimit": "api",
            "x-fake-usage": _usage(
                input_tokens=100_000, server_tool_use={"web_search_requests": 4}, inference_geo="us"
            ),
        },
        Decimal("0.22") + Decimal("0.04"),
    ),
    # A subscription profile's request that came back billed to an API key.
    (
        "max",
        {"model": "claude-sonnet-5"},
        {"x-fake-ratelimit": "api", "x-fake-usage": _usage(input_tokens=5_000)},
        Decimal("0.01"),
    ),
]
COUNT_TOKENS = 2
# The historic row: claude-opus-4-6, 300k prompt, before 2026-03-13: all classes at $10/$37.50.
HISTORIC_COST = Decimal("3.0375")


@pytest.fixture
def world(ccgate: Runner) -> Any:
    with FakeUpstream() as fake:
        add_profile("max", "max-oauth", secret=MAX_TOKEN, base_url=fake.url, inject_credential=True)
        add_profile("key", "api-key", secret=API_KEY, base_url=fake.url, inject_credential=True)
        with Gate() as gate:
            for profile, body, headers, _cost in LIVE:
                httpx.post(
                    f"{gate.profile_url(profile)}/v1/messages",
                    json={"max_tokens": 10, **body},
                    headers={"x-claude-code-session-id": SESSION, "anthropic-version": "2023-06-01", **headers},
                )
            for _ in range(COUNT_TOKENS):
                httpx.post(
                    f"{gate.profile_url('max')}/v1/messages/count_tokens",
                    json={"model": "claude-sonnet-5"},
                    headers={"anthropic-version": "2023-06-01"},
                )
            gate.wait_logged(len(LIVE) + COUNT_TOKENS)
            conn = store.connect()
            store.insert_records(conn, [historic_row()])
            conn.close()
            yield gate, fake


def historic_row() -> UsageRecord:
    return rec(
        BEFORE_CHANGE,
        "claude-opus-4-6",
        profile="key",
        session_id=SESSION,
        billing="api",
        input_tokens=300_000,
        output_tokens=1_000,
    )


def api(gate: Gate, path: str) -> Any:
    return httpx.get(f"{gate.url}/ccgate/api/{path}").json()


def metric_sum(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:_total)?\{{[^}}]*\}} (\S+)$", text, re.M))


def test_every_surface_tells_the_same_story(world: Any, ccgate: Runner) -> None:
    gate, _fake = world
    live_priced = sum((c for *_, c in LIVE if c is not None), Decimal(0))
    everything = ["--since", "2026-01-01", "--tz", "UTC"]
    report = json.loads(ccgate("stats", *everything, "--json").stdout)
    totals = report["totals"]
    # Requests: every /v1/messages once (count_tokens is no request), the two refusals errors.
    assert totals["requests"] == len(LIVE) + 1 and totals["errors"] == 2
    assert totals["unpriced_requests"] == 1 and totals["unpriced_models"] == ["claude-mystery-9"]
    assert Decimal(str(totals["cost_usd"])) == live_priced + HISTORIC_COST
    by_model = {r["key"]: r for r in json.loads(ccgate("stats", *everything, "--by", "model", "--json").stdout)["rows"]}
    assert Decimal(str(by_model["claude-haiku-5-5"]["cost_usd"])) == Decimal("0.08")
    assert Decimal(str(by_model["claude-opus-4-6"]["cost_usd"])) == HISTORIC_COST
    assert Decimal(str(by_model["claude-opus-4-8"]["cost_usd"])) == Decimal("1.5")
    assert any("billed to an API key" in n for n in report["notes"])

    # The dashboard's Spend (stacked by model) is that very report, split by model.
    spend = api(gate, "spend?by=day&since=2026-01-01&tz=UTC")["report"]
    assert spend == json.loads(ccgate("stats", *everything, "--breakdown", "--json").stdout)
    assert spend["totals"] == totals

    # The session, four ways: stats --session, the dashboard's session page, its list, the status line.
    session = json.loads(ccgate("stats", "--session", SESSION, "--json").stdout)["sessions"][0]
    tree_total = Decimal(str(session["tree"]["subtree"]["cost_usd"]))
    assert tree_total == live_priced + HISTORIC_COST
    page = api(gate, f"sessions/{SESSION}")
    assert Decimal(str(page["totals"]["cost_usd"])) == tree_total == Decimal(str(page["tree"]["subtree"]["cost_usd"]))
    listed = {s["key"]: s for s in api(gate, "sessions")["sessions"]}
    assert listed[SESSION]["profiles"] == ["key", "max"]
    line = ccgate("statusline", input=json.dumps({"session_id": SESSION})).stdout
    assert f"session ${tree_total:.2f}+?" in line  # part of it (the mystery model) has no price
    today = json.loads(ccgate("stats", "--since", "today", "--json").stdout)["totals"]
    assert f"today ${Decimal(str(today['cost_usd'])):.2f}+?" in line and "unpriced" not in line

    # Blocks: the max account's subscription traffic only; the rest beside it.
    blocks = json.loads(ccgate("stats", "blocks", "--json").stdout)
    (account,) = blocks["accounts"]
    assert account["profiles"] == ["max"]
    subscription_requests = 3  # the refusal (unknown billing on max-oauth), sonnet-5 and haiku-5-5
    assert account["active"]["requests"] == subscription_requests
    assert blocks["other_traffic"]["requests"] == len(LIVE) - subscription_requests
    assert blocks["other_traffic"]["unpriced_requests"] == 1  # the mystery model's answer, not its 429
    limits = api(gate, "limits")
    (card,) = limits["accounts"]
    assert card["profiles"] == ["max"] and card["block"]["requests"] == subscription_requests
    assert card["latest"]["utilization_5h"] == account["rate_limits"]["utilization_5h"] == 0.42

    # The same alarm on the dashboard and in doctor.
    api_billed = [a for a in limits["alarms"] if a["kind"] == "api_billed"]
    assert [(a["profile"], a["count"]) for a in api_billed] == [("max", 1)]
    checks = json.loads(ccgate("doctor", "--json", check=False).stdout)
    billing = next(c for c in checks if c["name"] == "billing max")
    assert billing["status"] == "fail" and billing["detail"] == api_billed[0]["message"]

    # The feed labels token counts; the metrics add up to the live part of the log.
    calls = [r["call"] for r in api(gate, "now?limit=50")["requests"]]
    assert calls.count("token count") == COUNT_TOKENS and calls.count("message") == len(LIVE) + 1
    metrics = httpx.get(f"{gate.url}/ccgate/metrics").text
    assert Decimal(str(metric_sum(metrics, "ccgate_cost_usd"))).quantize(Decimal("0.000001")) == live_priced
    assert metric_sum(metrics, "ccgate_unpriced_requests") == 1
    assert metric_sum(metrics, "ccgate_requests") == len(LIVE) + COUNT_TOKENS
