"""Golden report: a small fixed log whose totals and costs are worked out here by hand from the
published per-million-token prices, checked through the real `ccgate stats` command (JSON, CSV, table)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runner
from tests.reports.conftest import parse_csv, parse_json, rec, table_header, table_rows, wide_env


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# Hand-computed costs (USD) of each request; per-MTok prices: sonnet-4-5 $3/$15 (above 200k prompt
# tokens $6/$22.50 for every class), sonnet-5 $2/$10 (no tier), opus-4-8 $5/$25, haiku-4-5 overridden
# to $0.50/$1; cache reads 0.1x input, 5-minute writes 1.25x, 1-hour writes 2x.
R1 = 300_000 * 6 / 1e6 + 1_000 * 22.5 / 1e6  # long context: 1.8225
R2 = (1_000 * 3 + 100_000 * 0.3 + 10_000 * 3.75 + 20_000 * 6 + 2_000 * 15) / 1e6  # 0.2205
R3 = (2_000 * 5 + 100_000 * 10 + 4_000 * 25) / 1e6  # 1-hour writes at 2x input: 1.11
R4 = (250_000 * 2 + 10_000 * 10) / 1e6  # > 200k but no tier on sonnet-5: 0.6
R8 = (1_000_000 * 0.5 + 100_000 * 1) / 1e6  # override: 0.6

CONFIG = """
[settings]
plan_monthly_usd = 100

[profiles.max]
kind = "max-oauth"

[profiles.work]
kind = "api-key"

[prices."claude-haiku-4-5"]
input_mtok = 0.5
output_mtok = 1
"""


def golden_records() -> list[Any]:
    return [
        rec(
            at("2026-03-02T09:00"),
            "claude-sonnet-4-5",
            input_tokens=300_000,
            output_tokens=1_000,
            profile="work",
            billing="api",
            session_id="A",
        ),
        rec(
            at("2026-03-02T10:00"),
            "claude-sonnet-4-5",
            input_tokens=1_000,
            cache_read_tokens=100_000,
            cache_write_5m_tokens=10_000,
            cache_write_1h_tokens=20_000,
            output_tokens=2_000,
            profile="work",
            billing="api",
            session_id="A",
        ),
        rec(
            at("2026-03-02T23:59:59"),
            "claude-opus-4-8",
            input_tokens=2_000,
            cache_write_1h_tokens=100_000,
            output_tokens=4_000,
            profile="max",
            billing="subscription",
            session_id="B",
        ),
        rec(
            at("2026-03-03T00:00"),
            "claude-sonnet-5",
            input_tokens=250_000,
            output_tokens=10_000,
            profile="max",
            billing="subscription",
            session_id="B",
        ),
        rec(
            at("2026-03-03T08:00"),
            "claude-mystery-9",
            input_tokens=5_000,
            output_tokens=500,
            profile="max",
            billing="subscription",
            session_id="C",
        ),
        # count_tokens is never spend, nor a request in the report.
        rec(
            at("2026-03-03T08:01"),
            None,
            endpoint="count_tokens",
            path="/v1/messages/count_tokens",
            count_tokens_input=999_999,
            profile="max",
            session_id="C",
        ),
        rec(
            at("2026-03-03T09:00"),
            "claude-sonnet-5",
            status=529,
            error_type="overloaded_error",
            profile="max",
            billing="subscription",
            session_id="C",
        ),
        rec(
            at("2026-03-03T10:00"),
            "claude-haiku-4-5-20251001",
            input_tokens=1_000_000,
            output_tokens=100_000,
            profile="max",
            billing="subscription",
            session_id="C",
        ),
    ]


RANGE = ("--since", "2026-03-01", "--until", "2026-03-05", "--tz", "UTC")


@pytest.fixture
def golden(usage_log: Callable[..., Path], config_toml: Callable[[str], Path]) -> None:
    config_toml(CONFIG)
    usage_log(golden_records())


def rows_by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in report["rows"]}


def test_by_day(golden: None, ccgate: Runner) -> None:
    report = parse_json(ccgate("stats", *RANGE, "--json").stdout)
    rows = rows_by_key(report)
    assert list(rows) == ["2026-03-02", "2026-03-03"]
    day1, day2 = rows["2026-03-02"], rows["2026-03-03"]
    assert day1["requests"] == 3 and day1["errors"] == 0
    assert day1["input_tokens"] == 303_000
    assert day1["cache_write_tokens"] == 130_000 and day1["cache_write_1h_tokens"] == 120_000
    assert day1["cache_read_tokens"] == 100_000 and day1["output_tokens"] == 7_000
    assert day1["cost_usd"] == pytest.approx(R1 + R2 + R3, abs=1e-9)
    assert day1["api_cost_usd"] == pytest.approx(R1 + R2, abs=1e-9)
    assert day1["subscription_cost_usd"] == pytest.approx(R3, abs=1e-9)
    assert day1["cost_basis"] == "mixed"
    assert day1["cache_hit_ratio"] == round(100_000 / (303_000 + 100_000 + 130_000), 4)
    assert day2["requests"] == 4 and day2["errors"] == 1
    assert day2["cost_usd"] == pytest.approx(R4 + R8, abs=1e-9)
    assert day2["unpriced_requests"] == 1 and day2["unpriced_models"] == ["claude-mystery-9"]
    totals = report["totals"]
    assert totals["requests"] == 7
    assert totals["cost_usd"] == pytest.approx(R1 + R2 + R3 + R4 + R8, abs=1e-9)
    assert any("claude-mystery-9" in note for note in report["notes"])


def test_by_model(golden: None, ccgate: Runner) -> None:
    rows = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "model", "--json").stdout))
    assert rows["claude-sonnet-4-5"]["cost_usd"] == pytest.approx(R1 + R2, abs=1e-9)
    assert rows["claude-opus-4-8"]["cost_usd"] == pytest.approx(R3, abs=1e-9)
    assert rows["claude-sonnet-5"]["cost_usd"] == pytest.approx(R4, abs=1e-9)
    assert rows["claude-sonnet-5"]["requests"] == 2 and rows["claude-sonnet-5"]["errors"] == 1
    assert rows["claude-haiku-4-5-20251001"]["cost_usd"] == pytest.approx(R8, abs=1e-9)
    mystery = rows["claude-mystery-9"]
    assert mystery["cost_usd"] is None  # unpriced, never $0
    assert mystery["unpriced_requests"] == 1 and mystery["input_tokens"] == 5_000


def test_by_session_and_profile(golden: None, ccgate: Runner) -> None:
    sessions = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "session", "--json").stdout))
    assert sessions["A"]["cost_usd"] == pytest.approx(R1 + R2, abs=1e-9)
    assert sessions["B"]["cost_usd"] == pytest.approx(R3 + R4, abs=1e-9)
    assert sessions["C"]["cost_usd"] == pytest.approx(R8, abs=1e-9) and sessions["C"]["unpriced_requests"] == 1
    profiles = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "profile", "--json").stdout))
    assert profiles["max"]["cost_basis"] == "api-equivalent"
    assert profiles["work"]["cost_basis"] == "api"
    assert profiles["max"]["api_cost_usd"] == 0


def test_breakdown_splits_each_day_by_model(golden: None, ccgate: Runner) -> None:
    report = parse_json(ccgate("stats", *RANGE, "--breakdown", "--json").stdout)
    day1 = rows_by_key(report)["2026-03-02"]
    models = {m["model"]: m for m in day1["models"]}
    assert set(models) == {"claude-sonnet-4-5", "claude-opus-4-8"}
    assert models["claude-sonnet-4-5"]["cost_usd"] == pytest.approx(R1 + R2, abs=1e-9)
    assert sum(m["requests"] for m in day1["models"]) == day1["requests"]


def test_filters(golden: None, ccgate: Runner) -> None:
    report = parse_json(ccgate("stats", *RANGE, "--profile", "work", "--json").stdout)
    assert report["totals"]["requests"] == 2
    assert report["totals"]["cost_usd"] == pytest.approx(R1 + R2, abs=1e-9)
    report = parse_json(ccgate("stats", *RANGE, "--model", "opus", "--json").stdout)
    assert report["totals"]["cost_usd"] == pytest.approx(R3, abs=1e-9)


def test_plan_savings(golden: None, ccgate: Runner) -> None:
    plan = parse_json(ccgate("stats", *RANGE, "--json").stdout)["plan"]
    # 5 days (--until 2026-03-05 includes that day) of a $100/month plan (average month: 365.25/12 days)
    # against the subscription usage at API prices.
    prorated = 100 * 5 / (365.25 / 12)
    assert plan["period_days"] == 5
    assert plan["plan_cost_for_period_usd"] == pytest.approx(prorated, abs=1e-6)
    assert plan["subscription_api_equivalent_usd"] == pytest.approx(R3 + R4 + R8, abs=1e-9)
    assert plan["plan_saved_usd"] == pytest.approx(R3 + R4 + R8 - prorated, abs=1e-6)
    monthly = parse_json(ccgate("stats", *RANGE, "--by", "month", "--json").stdout)["rows"]
    assert monthly[0]["plan_saved_usd"] == pytest.approx(R3 + R4 + R8 - 100, abs=1e-6)


@pytest.mark.parametrize("by", ["day", "model", "session", "profile"])
def test_json_csv_and_table_agree(golden: None, ccgate: Runner, by: str) -> None:
    report = parse_json(ccgate("stats", *RANGE, "--by", by, "--json").stdout)
    csv_rows = {r["key"]: r for r in parse_csv(ccgate("stats", *RANGE, "--by", by, "--csv").stdout)}
    table = ccgate("stats", *RANGE, "--by", by, env=wide_env()).stdout
    cells = table_rows(table)
    header = table_header(table)
    if by == "session":  # what tells sessions apart comes right after the id
        assert header[1:5] == ["start", "profile", "model", "project"]
        header = [header[0], *header[5:]]
        cells = {key: [row[0], *row[5:]] for key, row in cells.items()}
    assert header[:9] == [by, "requests", "errors", "input", "cache write", "cache read", "output", "hit", "cost"]
    for row in [*report["rows"], report["totals"]]:
        line = csv_rows[row["key"]]
        for field in ("requests", "errors", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"):
            assert int(line[field]) == row[field]
        assert (float(line["cost_usd"]) if line["cost_usd"] else None) == row["cost_usd"]
        cell = cells[row["key"]]
        assert cell[1] == f"{row['requests']:,}" and cell[3] == f"{row['input_tokens']:,}"
        assert cell[6] == f"{row['output_tokens']:,}"
        expected_cost = "unpriced" if row["cost_usd"] is None else f"${row['cost_usd']:,.2f}"
        if row["unpriced_requests"] and row["cost_usd"] is not None:
            expected_cost += "+?"
        assert cell[8] == expected_cost
    assert "claude-mystery-9" in table  # the unpriced note


def test_table_separates_api_billed_from_subscription(golden: None, ccgate: Runner) -> None:
    table = ccgate("stats", *RANGE, env=wide_env()).stdout
    header = table_header(table)
    assert header[-2:] == ["API-billed", "sub. API-equiv."]
    total = table_rows(table)["total"]
    assert total[-2] == f"${R1 + R2:,.2f}" and total[-1] == f"${R3 + R4 + R8:,.2f}"
    assert "saved" in table or "more than API prices" in table


def test_narrow_terminal_keeps_key_and_cost(golden: None, ccgate: Runner) -> None:
    table = ccgate("stats", *RANGE, env=wide_env(COLUMNS="50")).stdout
    assert max(len(line) for line in table.splitlines() if line.startswith(("│", "┃"))) <= 50
    header = table_header(table)
    assert header[0] == "day" and "cost" in header
    assert "\x1b[" not in table  # not a terminal


def test_no_color(golden: None, ccgate: Runner) -> None:
    colour = re.compile(r"\x1b\[[0-9;]*3[0-8][;m]")
    forced = ccgate("stats", *RANGE, env={"COLUMNS": "200", "FORCE_COLOR": "1"}).stdout
    assert colour.search(forced)  # the notes are yellow on a terminal
    plain = ccgate("stats", *RANGE, env={"COLUMNS": "200", "FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert not colour.search(plain) and "claude-mystery-9" in plain


def test_chart(golden: None, ccgate: Runner) -> None:
    out = ccgate("stats", *RANGE, "--chart", env=wide_env(COLUMNS="100")).stdout
    bars = {line.split()[0]: line.count("█") for line in out.splitlines() if "█" in line}
    # Bar lengths follow the costs: day 1 is the larger one.
    assert bars["2026-03-02"] > bars["2026-03-03"] > 0
    assert bars["2026-03-03"] / bars["2026-03-02"] == pytest.approx((R4 + R8) / (R1 + R2 + R3), abs=0.05)


def test_price_change_reaches_old_rows(golden: None, ccgate: Runner, config_toml: Callable[[str], Path]) -> None:
    config_toml(CONFIG + '\n[prices."claude-opus-4-8"]\ninput_mtok = 50\noutput_mtok = 250\n')
    rows = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "model", "--json").stdout))
    assert rows["claude-opus-4-8"]["cost_usd"] == pytest.approx(R3 * 10, abs=1e-9)


@pytest.mark.parametrize(
    "args, message",
    [
        (("--by", "year"), "--by must be one of"),
        (("--since", "last tuesday"), "cannot read 'last tuesday'"),
        (("--tz", "Mars/Olympus"), "unknown time zone"),
        (("--since", "2026-03-05", "--until", "2026-03-01"), "--until must be later"),
        (("--json", "--csv"), "choose one of --json and --csv"),
    ],
)
def test_bad_arguments_are_one_line_errors(ccgate: Runner, args: tuple[str, ...], message: str) -> None:
    proc = ccgate("stats", *args, check=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("ccgate: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_price_override_is_a_config_error(ccgate: Runner, config_toml: Callable[[str], Path]) -> None:
    config_toml('[prices."x"]\ninput_mtok = 1\n')
    proc = ccgate("stats", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "ccgate: prices.x needs at least input_mtok and output_mtok"


def test_empty_log(ccgate: Runner) -> None:
    report = parse_json(ccgate("stats", "--json").stdout)
    assert report["rows"] == [] and report["totals"]["requests"] == 0 and report["totals"]["cost_usd"] == 0
    for args in (("stats",), ("stats", "blocks")):
        proc = ccgate(*args)
        assert "ccgate: no requests in this range" in proc.stderr


def test_unknown_billing_on_a_subscription_profile_counts_as_subscription(
    usage_log: Callable[..., Path], config_toml: Callable[[str], Path], ccgate: Runner
) -> None:
    config_toml('[profiles."o\'brien"]\nkind = "max-oauth"\n\n[profiles.lite]\nkind = "litellm-key"\n')
    when = at("2026-03-02T12:00")
    usage_log(
        [
            rec(
                when,
                "claude-opus-4-8",
                input_tokens=1_000_000,
                profile="o'brien",
                billing="unknown",
                account_id="acc-1",
            ),
            rec(when, "claude-opus-4-8", input_tokens=1_000_000, profile="lite", billing="unknown", account_id="acc-2"),
        ]
    )
    profiles = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "profile", "--json").stdout))
    assert profiles["o'brien"]["subscription_cost_usd"] == 5 and profiles["o'brien"]["cost_basis"] == "api-equivalent"
    assert profiles["lite"]["unknown_billing_cost_usd"] == 5 and profiles["lite"]["cost_basis"] == "api"
    accounts = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "account", "--json").stdout))
    assert set(accounts) == {"acc-1", "acc-2"} and accounts["acc-1"]["cost_usd"] == 5
    billing = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "billing", "--json").stdout))
    assert billing["subscription"]["requests"] == 1 and billing["unknown"]["requests"] == 1


# --- issue 15/16: names, ranges, notes, widths, sessions, CSV ------------------------------------


@pytest.mark.parametrize("command", [("stats",), ("stats", "blocks")])
def test_an_unknown_profile_filter_is_an_error_with_a_suggestion(golden: None, ccgate: Runner, command) -> None:  # type: ignore[no-untyped-def]
    proc = ccgate(*command, *RANGE, "--profile", "mxa", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "ccgate: no profile named 'mxa'; did you mean 'max'? see `ccgate profile list`\n"


def test_a_profile_only_in_the_log_is_still_a_filter(
    usage_log: Callable[..., Path], config_toml: Callable[[str], Path], ccgate: Runner
) -> None:
    config_toml(CONFIG)
    usage_log([rec(at("2026-03-02T09:00"), input_tokens=10, profile="gone")])  # profile since removed
    report = parse_json(ccgate("stats", *RANGE, "--profile", "gone", "--json").stdout)
    assert report["totals"]["requests"] == 1
    assert parse_json(ccgate("stats", *RANGE, "--profile", "work", "--json").stdout)["rows"] == []


@pytest.mark.parametrize("since", ["100000000d", "999999999999w", "1000000000000000000000h"])
def test_a_span_beyond_the_calendar_is_a_one_line_error(ccgate: Runner, since: str) -> None:
    proc = ccgate("stats", "--since", since, check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"ccgate: '{since}' reaches back before the year 1: use a smaller span or a date\n"


FALLBACK_NOTE = "traffic of a subscription profile was billed to an API key"


def test_api_billing_is_noted_only_when_a_subscription_profile_got_it(
    usage_log: Callable[..., Path], config_toml: Callable[[str], Path], ccgate: Runner
) -> None:
    config_toml(CONFIG)
    usage_log(golden_records())  # work (api-key) billed to its key on purpose, max on the subscription
    report = parse_json(ccgate("stats", *RANGE, "--json").stdout)
    assert not any(FALLBACK_NOTE in n for n in report["notes"])
    usage_log([rec(at("2026-03-04T09:00"), "claude-sonnet-5", input_tokens=1_000, profile="max", billing="api")])
    report = parse_json(ccgate("stats", *RANGE, "--json").stdout)
    assert any(FALLBACK_NOTE in n for n in report["notes"])
    assert report["totals"]["api_cost_usd"] == pytest.approx(R1 + R2 + 1_000 * 2 / 1e6, abs=1e-9)
    billing = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "billing", "--json").stdout))
    assert set(billing) == {"api", "subscription"}
    assert billing["api"]["requests"] == 3


def test_a_narrow_table_says_which_columns_it_left_out(golden: None, ccgate: Runner) -> None:
    narrow = ccgate("stats", *RANGE, env=wide_env(COLUMNS="80")).stdout
    assert table_header(narrow) == ["day", "requests", "input", "output", "cost", "API-billed"]
    assert (
        "(5 columns left out to fit 80 characters: errors, cache write, cache read, hit, sub. API-equiv.; "
        in " ".join(narrow.split())  # rich wraps the note at 80 characters
    )
    wide = ccgate("stats", *RANGE, env=wide_env()).stdout
    assert "left out" not in wide


def test_sessions_show_start_profile_and_models(golden: None, ccgate: Runner) -> None:
    table = ccgate("stats", *RANGE, "--by", "session", env=wide_env()).stdout
    header = table_header(table)
    assert header[:4] == ["session", "start", "profile", "model"]
    cells = table_rows(table)
    assert cells["A"][1:4] == ["03-02 09:00", "work", "claude-sonnet-4-5"]
    assert cells["B"][1:4] == ["03-02 23:59", "max", "claude-opus-4-8 +1"]
    sessions = rows_by_key(parse_json(ccgate("stats", *RANGE, "--by", "session", "--json").stdout))
    assert sessions["B"]["profiles"] == ["max"]
    assert sessions["B"]["model_names"] == ["claude-opus-4-8", "claude-sonnet-5"]
    assert sessions["B"]["start"] == "2026-03-02T23:59:59+00:00"
    csv_rows = {r["key"]: r for r in parse_csv(ccgate("stats", *RANGE, "--by", "session", "--csv").stdout)}
    assert csv_rows["C"]["model_names"] == "claude-haiku-4-5-20251001;claude-mystery-9;claude-sonnet-5"


def test_csv_numbers_carry_no_float_noise(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    # $0.10 + $0.20 (50k and 100k input tokens of sonnet-5 at $2/M) is 0.30000000000000004 in binary floats.
    usage_log(
        [rec(at("2026-03-02T09:00"), "claude-sonnet-5", input_tokens=n, session_id="S") for n in (50_000, 100_000)]
    )
    lines = parse_csv(ccgate("stats", *RANGE, "--csv").stdout)
    assert [line["cost_usd"] for line in lines] == ["0.3", "0.3"]
    nodes = parse_csv(ccgate("stats", *RANGE, "--by", "agent", "--csv").stdout)
    assert [(n["cost_usd"], n["subtree_cost_usd"]) for n in nodes] == [("0.3", "0.3")]


def test_agent_nodes_use_first_ts_and_last_ts(golden: None, ccgate: Runner) -> None:
    sessions = parse_json(ccgate("stats", *RANGE, "--by", "agent", "--json").stdout)["sessions"]
    main = next(s["tree"] for s in sessions if s["session_id"] == "A")
    assert (main["first_ts"], main["last_ts"]) == (at("2026-03-02T09:00"), at("2026-03-02T10:00"))
    assert "first" not in main and "last" not in main


def test_the_unpriced_note_counts_in_words(golden: None, ccgate: Runner) -> None:
    notes = parse_json(ccgate("stats", *RANGE, "--json").stdout)["notes"]
    assert any(n.startswith("1 request uses a model with no known price (claude-mystery-9)") for n in notes)
