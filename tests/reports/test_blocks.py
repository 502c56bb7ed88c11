"""5-hour blocks on a synthetic log: gaps longer than 5 hours, a window boundary, an active block
whose window comes from recorded rate-limit headers, burn rate and projection worked out by hand."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ccgate.reports.blocks import blocks_report
from ccgate.usage import store
from tests.conftest import Runner
from tests.reports.conftest import parse_csv, parse_json, rec, report_ctx

H = 3600
T = 1_800_000_000  # "now" in the domain tests: a whole hour (2027-01-15 08:00 UTC)


KINDS = {"max": "max-oauth", "work": "api-key", "max2": "max-oauth"}


def synthetic(now: float) -> list:
    sub = {"billing": "unknown"}  # a max-oauth profile's request without rate-limit headers: subscription
    return [
        # Block 1 (estimated window from the hour of the first request), then a gap of 7 hours.
        rec(now - 20 * H + 600, input_tokens=1_000, **sub),
        rec(now - 19 * H, output_tokens=1_000, **sub),
        # Block 2 [T-12h, T-7h); the request at T-6.5h is past its end and opens block 3 at T-7h.
        rec(now - 12 * H, input_tokens=10, **sub),
        rec(now - 7.5 * H, input_tokens=10, **sub),
        rec(now - 6.5 * H, input_tokens=10, **sub),
        # API-key traffic in the same hours is no part of any subscription block...
        rec(now - 1.5 * H, profile="work", billing="api", input_tokens=100_000),
        # ...and neither is a subscription profile's request that came back API-billed.
        rec(now - 1.5 * H, billing="api", input_tokens=50_000),
        # Another account has blocks of its own.
        rec(now - 1.2 * H, profile="max2", account_id="acct-2", billing="subscription", input_tokens=7),
        # Active block: the upstream said the 5h window resets at now+3h, so it runs [now-2h, now+3h).
        rec(
            now - 2 * H,
            input_tokens=6_000,
            billing="subscription",
            rl_5h_utilization=0.30,
            rl_5h_reset=int(now + 3 * H),
            rl_7d_utilization=0.10,
            rl_7d_reset=int(now + 3 * 86400),
        ),
        rec(
            now - 1 * H,
            output_tokens=6_000,
            billing="subscription",
            rl_5h_utilization=0.55,
            rl_5h_reset=int(now + 3 * H),
            rl_7d_utilization=0.2,
            rl_7d_reset=int(now + 3 * 86400),
        ),
        # A count_tokens call is not usage.
        rec(now - 0.5 * H, None, endpoint="count_tokens", count_tokens_input=50_000),
    ]


def blocks_at(now: float) -> dict:
    ctx = report_ctx(since=T - 86400, until=T + 86400, kinds=KINDS, now=now)
    return blocks_report(store.connect(), ctx)


@pytest.fixture
def everything(usage_log: Callable[..., Path]) -> dict:
    usage_log(synthetic(T))
    return blocks_at(T)


@pytest.fixture
def report(everything: dict) -> dict:
    """The max account's blocks."""
    (account,) = [a for a in everything["accounts"] if a["profiles"] == ["max"]]
    return account


def test_only_each_accounts_subscription_traffic_is_in_its_blocks(everything: dict) -> None:
    assert [a["profiles"] for a in everything["accounts"]] == [["max"], ["max2"]]  # newest activity first
    assert [b["requests"] for b in everything["accounts"][1]["blocks"]] == [1]
    # Beside the blocks: the API-key request and the API-billed one of the subscription profile.
    assert everything["other_traffic"]["requests"] == 2
    assert everything["other_traffic"]["total_tokens"] == 150_000


def test_blocks_split_on_gaps_and_window_ends(report: dict) -> None:
    starts = [(b["start"] - T) / H for b in report["blocks"]]
    assert starts == [-20, -12, -7, -2]
    assert [b["requests"] for b in report["blocks"]] == [2, 2, 1, 2]
    assert [b["window"] for b in report["blocks"]] == ["estimated", "estimated", "estimated", "headers"]
    assert all(b["end"] - b["start"] == 5 * H for b in report["blocks"])
    first = report["blocks"][0]
    assert first["total_tokens"] == 2_000
    assert first["cost_usd"] == pytest.approx((1_000 * 2 + 1_000 * 10) / 1e6)  # sonnet-5: $2 / $10 per MTok
    assert not first["active"] and "burn_tokens_per_min" not in first


def test_active_block_burn_rate_and_projection(report: dict) -> None:
    active = report["active"]
    assert active is report["blocks"][-1] and active["active"]
    assert (active["start"], active["end"]) == (T - 2 * H, T + 3 * H)
    # 12,000 tokens over the 60 minutes between its first and last request; $0.012 + $0.06 = $0.072.
    assert active["total_tokens"] == 12_000
    assert active["burn_tokens_per_min"] == 200
    assert active["cost_usd"] == pytest.approx(0.072)
    assert active["burn_cost_per_hour_usd"] == pytest.approx(0.072)
    assert active["minutes_remaining"] == 180
    assert active["projected_total_tokens"] == 12_000 + 200 * 180
    assert active["projected_cost_usd"] == pytest.approx(0.072 + 0.072 * 3)


def test_real_utilization_comes_from_the_latest_headers(report: dict) -> None:
    limits = report["active"]["rate_limits"]
    assert limits["utilization_5h"] == 0.55 and limits["reset_5h"] == T + 3 * H
    assert limits["utilization_7d"] == 0.2 and limits["reset_7d"] == T + 3 * 86400
    assert report["blocks"][0]["rate_limits"] is None  # no headers recorded there: no invented figure
    assert report["rate_limits"]["utilization_5h"] == 0.55


def test_no_active_block_after_the_window(usage_log: Callable[..., Path]) -> None:
    usage_log(synthetic(T))
    (later,) = [a for a in blocks_at(T + 4 * H)["accounts"] if a["profiles"] == ["max"]]
    assert later["active"] is None and not any(b["active"] for b in later["blocks"])


def test_blocks_command_json_csv_and_table(
    usage_log: Callable[..., Path], ccgate: Runner, config_toml: Callable[[str], Path]
) -> None:
    config_toml(
        '[profiles.max]\nkind = "max-oauth"\n[profiles.work]\nkind = "api-key"\n[profiles.max2]\nkind = "max-oauth"\n'
    )
    now = time.time()
    usage_log(synthetic(now))
    report = parse_json(ccgate("stats", "blocks", "--since", "1d", "--profile", "max", "--json").stdout)
    (account,) = report["accounts"]
    assert len(account["blocks"]) == 4 and account["active"]["window"] == "headers"
    assert account["active"]["rate_limits"]["utilization_5h"] == 0.55
    rows = parse_csv(ccgate("stats", "blocks", "--since", "1d", "--profile", "max", "--csv").stdout)
    assert [int(r["requests"]) for r in rows] == [b["requests"] for b in account["blocks"]]
    assert rows[-1]["active"] == "True" and float(rows[-1]["utilization_5h"]) == 0.55
    assert {r["account"] for r in rows} == {"profile:max"}
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    table = ccgate("stats", "blocks", "--since", "1d", "--tz", "UTC", env=env).stdout
    assert "55%" in table and "headers" in table and "burn 200 tokens/min" in table
    assert "5-hour blocks of max2" in table and "5-hour blocks of max " in table
    assert "2 request(s) no subscription paid for" in table


# --- whole hours from the hourly sums, the hours where a block opens or ends from the minutes ----


def _max_blocks(records: list, *, since: float = T - 86400, until: float = T + 86400) -> list[dict]:
    conn = store.connect()
    store.insert_records(conn, records)
    ctx = report_ctx(since=since, until=until, kinds=KINDS, now=T + 86400)
    (account,) = blocks_report(conn, ctx)["accounts"]
    return list(account["blocks"])


def test_a_window_ending_inside_an_hour_splits_that_hour_to_the_second() -> None:
    reset = T + 3 * H + 1234  # the upstream's window: [T - 2h + 1234 s, T + 3h + 1234 s)
    sub = {"billing": "subscription", "rl_5h_reset": reset}
    blocks = _max_blocks(
        [
            rec(T - 2 * H + 1234, input_tokens=1, **sub),
            *[rec(T + h * H + 60, input_tokens=10, **sub) for h in range(3)],  # whole hours inside the block
            rec(reset - 1, input_tokens=100, **sub),  # the block's last second
            rec(reset, input_tokens=1_000, billing="unknown"),  # its end: a new (estimated) block
            rec(reset + 100, input_tokens=10_000, billing="unknown"),
        ]
    )
    assert [(b["start"], b["end"], b["window"]) for b in blocks] == [
        (reset - 5 * H, reset, "headers"),
        (T + 3 * H, T + 8 * H, "estimated"),
    ]
    assert [b["input_tokens"] for b in blocks] == [131, 11_000]
    assert [b["requests"] for b in blocks] == [5, 2]


def test_a_block_opened_inside_an_hour_counts_each_model_of_that_hour_once() -> None:
    sub = {"billing": "unknown"}
    blocks = _max_blocks(
        [
            rec(T - 10 * H + 59, input_tokens=1, **sub),  # block [T-10h, T-5h)
            rec(T - 5 * H - 1, input_tokens=2, **sub),  # its last second
            rec(T - 5 * H, "claude-opus-5", input_tokens=4, **sub),  # the next block's first second
            rec(T - 5 * H + 1800, input_tokens=8, **sub),
            rec(T - 4 * H + 30, "claude-opus-5", input_tokens=16, **sub),  # a whole hour inside it
        ]
    )
    assert [((b["start"] - T) / H, b["input_tokens"], b["requests"]) for b in blocks] == [(-10, 3, 2), (-5, 28, 3)]
    assert blocks[1]["first_ts"] == T - 5 * H and blocks[1]["last_ts"] == T - 4 * H + 30


def test_partial_hours_at_the_range_ends_are_read_to_the_second() -> None:
    sub = {"billing": "unknown"}
    records = [rec(T - 3 * H + 10 * s, input_tokens=1, **sub) for s in range(6)]  # T-3h, +10 s, ... +50 s
    records.append(rec(T + 2 * H - 1, input_tokens=100, **sub))
    blocks = _max_blocks(records, since=T - 3 * H + 20, until=T + 2 * H - 1)
    assert [(b["requests"], b["input_tokens"]) for b in blocks] == [(4, 4)]
    assert blocks[0]["first_ts"] == T - 3 * H + 20
    blocks = _max_blocks([], since=T - 3 * H + 20, until=T + 2 * H)
    assert [(b["requests"], b["input_tokens"]) for b in blocks] == [(5, 104)]
