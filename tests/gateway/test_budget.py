"""Budgets in the forwarder: what it counts, when it refuses, and that it sends nothing upstream then."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx

from ccgate import paths
from ccgate.budgets import Budget, Costs, period_bounds
from ccgate.gateway.budget import Live, Reading, merge, record_costs, refusal, spent_period
from ccgate.reports.rules import ProfileSet
from tests.fakes.upstream import FakeUpstream, Gate, add_profile
from tests.gateway.conftest import API_SECRET
from tests.reports.conftest import rec

UTC = ZoneInfo("UTC")
PRICES = '\n[prices."test-model"]\ninput_mtok = 2\noutput_mtok = 10\n'
# With PRICES: $0.20 of input and $0.10 of output, $0.30 a request.
USAGE = json.dumps({"input_tokens": 100_000, "output_tokens": 10_000})
BODY = {"model": "test-model", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def _reading(now: float, day: dict[str, Costs], present: set[tuple[float, str | None]]) -> Reading:
    periods = {p: (period_bounds(p, now, UTC)[0], dict(day)) for p in ("day", "week", "month")}
    return Reading(UTC, periods, present)


def test_a_reading_plus_the_recent_records_it_missed_counts_each_request_once() -> None:
    now = time.time()
    seen = Live(now - 5, "api", Costs(api=Decimal("0.3")))  # in the log when it was read
    missed = Live(now - 2, "api", Costs(api=Decimal("0.3")))  # handed over, written after the reading
    reading = _reading(now, {"api": Costs(api=Decimal("0.3"))}, {(seen.ts, "api")})
    spent = merge(reading, [seen, missed])
    start = period_bounds("day", now, UTC)[0]
    assert spent.costs("api", "day", start) == Costs(api=Decimal("0.6"))
    assert spent.costs("api", "month", period_bounds("month", now, UTC)[0]) == Costs(api=Decimal("0.6"))


def test_a_record_of_an_earlier_day_does_not_count_today() -> None:
    now = time.time()
    start = period_bounds("day", now, UTC)[0]
    spent = merge(_reading(now, {}, set()), [Live(start - 1, "api", Costs(api=Decimal(1)))])
    assert spent.costs("api", "day", start) == Costs()
    assert spent.costs("api", "day", period_bounds("day", start - 1, UTC)[0]) == Costs(api=Decimal(1))


def test_who_paid_for_a_record_follows_the_reports_rules() -> None:
    profiles = ProfileSet({"max": "max-oauth", "api": "api-key"})
    cost = Decimal("0.3")
    assert record_costs(rec(0, profile="api", billing="api"), cost, profiles) == Costs(api=cost)
    assert record_costs(rec(0, profile="api", billing="unknown"), cost, profiles) == Costs(unknown=cost)
    assert record_costs(rec(0, profile="max", billing="unknown"), cost, profiles) == Costs(subscription=cost)
    assert record_costs(rec(0, profile="max", billing="api"), cost, profiles) == Costs(api=cost)
    assert record_costs(rec(0, profile="api", endpoint="count_tokens"), cost, profiles) == Costs()
    assert record_costs(rec(0, profile="api"), None, profiles) == Costs()  # unpriced: nothing known


def test_the_refusal_names_the_budget_what_was_spent_and_how_to_raise_it() -> None:
    now = time.time()
    budget = Budget("api", {"day": Decimal("0.6")})
    end = period_bounds("day", now, UTC)[1]
    spent = merge(_reading(now, {"api": Costs(api=Decimal("0.6"))}, set()), [])
    verdict = spent_period(budget, spent, now)
    assert verdict is not None and verdict.period == "day" and verdict.end == end
    refused = refusal(verdict, UTC)
    assert refused.status == 429 and refused.error_type == "rate_limit_error"
    assert refused.headers == {"x-should-retry": "false"}
    assert "profile 'api' has used $0.60 of its $0.60 daily budget" in refused.message
    assert "nothing was sent upstream" in refused.message
    assert "`ccgate budget set api --day 1.20`" in refused.message
    just_under = merge(_reading(now, {"api": Costs(api=Decimal("0.599999"))}, set()), [])
    assert spent_period(budget, just_under, now) is None
    subscription = merge(_reading(now, {"api": Costs(subscription=Decimal(5))}, set()), [])
    assert spent_period(budget, subscription, now) is None
    assert spent_period(Budget("api", {"day": Decimal("0.6")}, include_subscription=True), subscription, now)


# --- a real forwarder ---------------------------------------------------------------------------


def _post(gate: Gate, **headers: str) -> httpx.Response:
    sent = {"x-api-key": API_SECRET, "anthropic-version": "2023-06-01", "x-fake-usage": USAGE, **headers}
    return httpx.post(gate.profile_url("api") + "/v1/messages", json=BODY, headers=sent, timeout=10)


def _messages(fake: FakeUpstream) -> int:
    return sum(1 for r in fake.received if r.path.startswith("/v1/messages") and "count_tokens" not in r.path)


def test_a_spent_budget_refuses_the_next_request_and_sends_nothing_upstream(ccgate, fake: FakeUpstream) -> None:
    add_profile("api", "api-key", secret=API_SECRET, base_url=fake.url)
    paths.config_file().write_text(paths.config_file().read_text() + PRICES)
    ccgate("budget", "set", "api", "--day", "0.6")  # two requests' worth, exactly
    with Gate() as gate:
        assert _post(gate).status_code == 200
        assert _post(gate).status_code == 200
        gate.wait_logged(2)
        refused = _post(gate)
        assert refused.status_code == 429
        assert refused.headers["x-should-retry"] == "false"
        error = refused.json()
        assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
        assert error["error"]["message"].startswith(
            "ccgate: budget spent: profile 'api' has used $0.60 of its $0.60 daily budget"
        )
        assert _messages(fake) == 2
        # Free calls still go: a token count spends nothing.
        counted = httpx.post(
            gate.profile_url("api") + "/v1/messages/count_tokens",
            json=BODY,
            headers={"x-api-key": API_SECRET, "anthropic-version": "2023-06-01"},
            timeout=10,
        )
        assert counted.status_code == 200
        ccgate("budget", "set", "api", "--day", "5")
        assert _post(gate).status_code == 200  # the forwarder read the raised budget
        assert _messages(fake) == 3
        gate.wait_logged(5)
    log = json.loads(ccgate("log", "--json").stdout)
    assert [(r["profile"], r["status"], r["outcome"]) for r in log if r["endpoint"] == "messages"] == [
        ("api", 200, "ok"),
        ("api", 200, "ok"),
        ("api", 429, "rejected"),
        ("api", 200, "ok"),
    ]


def test_a_restart_knows_what_was_spent_and_a_re_read_counts_each_request_once(ccgate, fake: FakeUpstream) -> None:
    add_profile("api", "api-key", secret=API_SECRET, base_url=fake.url)
    config = paths.config_file()
    config.write_text(config.read_text() + PRICES)
    ccgate("budget", "set", "api", "--day", "0.7")
    with Gate() as gate:
        assert _post(gate).status_code == 200
        assert _post(gate).status_code == 200
        gate.wait_logged(2)
        # A price override elsewhere changes what the figures depend on: the forwarder reads them
        # from the log again. Counting the two requests twice ($1.20) would refuse the next one.
        config.write_text(config.read_text() + '\n[prices."other-model"]\ninput_mtok = 1\noutput_mtok = 1\n')
        assert _post(gate).status_code == 200  # $0.60 < $0.70
        gate.wait_logged(3)
        assert _post(gate).status_code == 429  # $0.90
    with Gate() as gate:
        # A new forwarder starts from the log: the budget is spent before its first request.
        assert _post(gate).status_code == 429
    assert _messages(fake) == 3


def test_a_budget_without_the_usage_log_is_read_from_what_the_log_held(ccgate, fake: FakeUpstream) -> None:
    add_profile("api", "api-key", secret=API_SECRET, base_url=fake.url)
    paths.config_file().write_text(paths.config_file().read_text() + PRICES)
    ccgate("budget", "set", "api", "--day", "0.3")
    with Gate() as gate:
        assert _post(gate).status_code == 200
        gate.wait_logged(1)
    with Gate("--no-log") as gate:
        assert _post(gate).status_code == 429
