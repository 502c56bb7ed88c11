"""Budgets: the rules (periods, states, what counts), config.toml, `ccgate budget set|list|rm`."""

from __future__ import annotations

import json
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ccgate import paths
from ccgate.budgets import (
    Budget,
    Costs,
    budget_state,
    budgets_of,
    counted,
    money,
    parse_budgets,
    parse_usd,
    period_bounds,
)
from ccgate.config import load_config
from ccgate.errors import ConfigError, UsageError
from ccgate.reports import context
from ccgate.reports.budgets import budget_status
from ccgate.reports.reader import open_log
from tests.fakes.upstream import add_profile
from tests.reports.conftest import rec

BERLIN = ZoneInfo("Europe/Berlin")
# 2 USD per million input tokens, 10 per million output: 100k in + 10k out = $0.30 exactly.
PRICES = '[prices."test-model"]\ninput_mtok = 2\noutput_mtok = 10\n'


def at(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


# --- periods --------------------------------------------------------------------------------------


def test_a_day_runs_from_local_midnight_to_the_next_even_across_dst() -> None:
    start, end = period_bounds("day", at("2026-03-29T12:00"), BERLIN)  # clocks go forward at 02:00
    assert start == at("2026-03-29T00:00")
    assert end == at("2026-03-30T00:00")
    assert end - start == 23 * 3600


def test_a_week_starts_on_monday_and_a_month_on_the_first() -> None:
    assert period_bounds("week", at("2026-03-04T09:00"), BERLIN) == (at("2026-03-02T00:00"), at("2026-03-09T00:00"))
    assert period_bounds("month", at("2026-02-15T09:00"), BERLIN) == (at("2026-02-01T00:00"), at("2026-03-01T00:00"))
    assert period_bounds("month", at("2026-12-31T23:59"), BERLIN) == (at("2026-12-01T00:00"), at("2027-01-01T00:00"))


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_the_first_second_of_a_period_is_in_it_and_the_one_before_is_not(period: str) -> None:
    start, _ = period_bounds(period, at("2026-03-04T09:00"), BERLIN)
    assert period_bounds(period, start, BERLIN)[0] == start
    assert period_bounds(period, start - 1, BERLIN)[1] == start


# --- states and what counts ----------------------------------------------------------------------


def test_a_period_is_spent_when_its_cost_reaches_the_limit_exactly() -> None:
    limit = Decimal("5")
    assert budget_state(Decimal("5"), limit, 80) == "spent"
    assert budget_state(Decimal("4.999999"), limit, 80) == "warn"
    assert budget_state(Decimal("4"), limit, 80) == "warn"
    assert budget_state(Decimal("3.999999"), limit, 80) == "ok"


def test_a_budget_counts_api_billed_and_unknown_billing_and_subscription_only_when_asked() -> None:
    costs = Costs(api=Decimal("1"), subscription=Decimal("10"), unknown=Decimal("0.5"))
    assert counted(costs, Budget("x", {"day": Decimal(1)})) == Decimal("1.5")
    assert counted(costs, Budget("x", {"day": Decimal(1)}, include_subscription=True)) == Decimal("11.5")


def test_amounts_read_from_the_command_line() -> None:
    assert parse_usd("--day", "5") == Decimal("5")
    assert parse_usd("--day", "$4.50") == Decimal("4.50")
    assert parse_usd("--day", "0.0001") == Decimal("0.0001")
    assert parse_usd("--day", "") is None
    for bad in ("0", "-1", "abc", "nan", "inf", "1000000.01"):
        with pytest.raises(UsageError, match="--day"):
            parse_usd("--day", bad)
    assert parse_usd("--day", "1000000") == Decimal(1_000_000)


def test_money_shows_cents_and_keeps_tiny_amounts_visible() -> None:
    assert money(Decimal("5")) == "5.00"
    assert money(Decimal("0.01")) == "0.01"
    assert money(Decimal("0.0312")) == "0.0312"
    assert money(Decimal("0.00041")) == "0.0004"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"day": "5"}, "budgets.api.day must be an amount"),
        ({"day": 0}, "budgets.api.day = 0 is out of range"),
        ({"day": True}, "budgets.api.day must be an amount"),
        ({"warn_pct": 80}, "sets no limit"),
        ({"day": 5, "warn_pct": 0}, "warn_pct must be a number from 1 to 100"),
        ({"day": 5, "warn_pct": 101}, "warn_pct must be a number from 1 to 100"),
        ({"day": 5, "include_subscription": "yes"}, "include_subscription must be true or false"),
    ],
)
def test_a_bad_budget_table_names_the_file_and_the_key(table: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as raised:
        parse_budgets(Path("/x/config.toml"), {"api": table})
    assert str(raised.value).startswith("/x/config.toml: ")


def test_warn_pct_takes_its_range_ends() -> None:
    assert parse_budgets(Path("c"), {"a": {"day": 1, "warn_pct": 1}})["a"].warn_pct == 1
    assert parse_budgets(Path("c"), {"a": {"day": 1, "warn_pct": 100}})["a"].warn_pct == 100


# --- the commands ---------------------------------------------------------------------------------


def test_budget_set_merges_limits_and_keeps_the_rest_of_the_file(ccgate) -> None:
    add_profile("api", "api-key", secret="sk-ant-api03-" + "k" * 40)
    config = paths.config_file()
    config.write_text("# mine\n" + config.read_text())
    out = ccgate("budget", "set", "api", "--day", "5", "--month", "$60").stdout
    assert out.strip() == "budget for 'api': $5.00 daily, $60.00 monthly; warns at 80%; counts API-billed cost"
    ccgate("budget", "set", "api", "--week", "20", "--warn", "75", "--include-subscription")
    ccgate("budget", "set", "api", "--month", "")
    text = config.read_text()
    assert text.startswith("# mine\n")
    assert budgets_of(load_config())["api"] == Budget(
        "api", {"day": Decimal("5"), "week": Decimal("20")}, 75.0, include_subscription=True
    )
    assert (config.stat().st_mode & 0o777) == 0o600


def test_budget_commands_refuse_what_they_cannot_do(ccgate) -> None:
    add_profile("api", "api-key", secret="sk-ant-api03-" + "k" * 40)
    cases = [
        (("budget", "set", "apx", "--day", "5"), "ccgate: no profile named 'apx'; did you mean 'api'?"),
        (("budget", "set", "api", "--day", "five"), "ccgate: --day 'five' is not an amount"),
        (("budget", "set", "api"), "ccgate: a budget needs a limit: ccgate budget set api --day USD"),
        (("budget", "set", "api", "--day", "1", "--warn", "0"), "ccgate: --warn 0 is out of range"),
        (("budget", "rm", "api"), "ccgate: profile 'api' has no budget"),
    ]
    for args, message in cases:
        proc = ccgate(*args, check=False)
        assert proc.returncode == 1, args
        assert proc.stderr.startswith(message), proc.stderr
        assert "Traceback" not in proc.stderr
    assert "budgets" not in paths.config_file().read_text()


def test_budget_rm_and_profile_rm_and_rename_carry_the_budget(ccgate) -> None:
    add_profile("api", "api-key", secret="sk-ant-api03-" + "k" * 40)
    add_profile("other", "api-key", secret="sk-ant-api03-" + "o" * 40)
    ccgate("budget", "set", "api", "--day", "5")
    ccgate("budget", "set", "other", "--day", "7")
    ccgate("profile", "rename", "api", "key")
    assert set(budgets_of(load_config())) == {"key", "other"}
    ccgate("profile", "rm", "other")
    assert set(budgets_of(load_config())) == {"key"}
    assert ccgate("budget", "rm", "key").stdout.strip() == "removed the budget of 'key'"
    assert "budgets" not in paths.config_file().read_text()


def _today_and_old() -> tuple[float, float]:
    now = time.time()
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    return max(midnight + 1, now - 60), midnight - 40 * 86400  # the latter: before any current period


def test_budget_list_shows_limit_spent_left_and_the_period_end(ccgate, usage_log) -> None:
    add_profile("api", "api-key", secret="sk-ant-api03-" + "k" * 40)
    add_profile("max", "max-oauth", secret="sk-ant-oat01-" + "m" * 40)
    paths.config_file().write_text(paths.config_file().read_text() + PRICES)
    today, old = _today_and_old()
    one = {"model": "test-model", "input_tokens": 100_000, "output_tokens": 10_000}  # $0.30
    usage_log(
        [
            rec(today, profile="api", billing="api", **one),
            rec(today, profile="api", billing="unknown", **one),  # a key's traffic without headers counts too
            rec(old, profile="api", billing="api", **one),  # long ago: in no current period
            rec(today, profile="max", billing="subscription", **one),
            rec(today, profile="max", billing="api", **one),  # a subscription profile billed to a key
            rec(today, profile="api", endpoint="count_tokens", input_tokens=500_000),  # not spend
        ]
    )
    ccgate("budget", "set", "api", "--day", "0.5", "--month", "10")
    ccgate("budget", "set", "max", "--day", "1")
    rows = json.loads(ccgate("budget", "list", "--json").stdout)
    by = {(r["profile"], r["period"]): r for r in rows}
    assert list(by) == [("api", "day"), ("api", "month"), ("max", "day")]
    assert by["api", "day"] | {"start": None, "end": None, "end_ts": None} == {
        "profile": "api",
        "period": "day",
        "limit_usd": 0.5,
        "spent_usd": 0.6,
        "left_usd": 0.0,
        "used_pct": 120.0,
        "warn_pct": 80.0,
        "state": "spent",
        "include_subscription": False,
        "unpriced_requests": 0,
        "start": None,
        "end": None,
        "end_ts": None,
    }
    midnight = datetime.fromtimestamp(today).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(by["api", "day"]["start"]) == midnight
    assert by["api", "month"]["spent_usd"] == 0.6 and by["api", "month"]["state"] == "ok"
    assert by["max", "day"]["spent_usd"] == 0.3 and by["max", "day"]["left_usd"] == 0.7
    ccgate("budget", "set", "max", "--include-subscription")
    rows = json.loads(ccgate("budget", "list", "--json").stdout)
    assert [r["spent_usd"] for r in rows if r["profile"] == "max"] == [0.6]
    table = ccgate("budget", "list", env={"COLUMNS": "200"}).stdout
    api_day = next(line.split() for line in table.splitlines() if line.startswith("api      day"))
    assert api_day[:6] == ["api", "day", "$0.50", "$0.60", "$0.00", "120%"]
    assert api_day[-2:] == ["SPENT:", "refused"]


def test_budget_status_pins_the_start_of_the_day(usage_log, config_toml) -> None:
    config_toml('[profiles.api]\nkind = "api-key"\n' + PRICES)
    now = at("2026-03-04T09:00")
    midnight = at("2026-03-04T00:00")
    one = {"model": "test-model", "profile": "api", "input_tokens": 100_000, "output_tokens": 10_000}
    usage_log([rec(midnight, **one), rec(midnight - 1, **one)])
    ctx = context.build(load_config(), tz="Europe/Berlin", now=now)
    budget = Budget("api", {"day": Decimal(1), "week": Decimal(1)})
    rows = budget_status(open_log(), ctx, [budget])
    assert [(r["period"], r["spent_usd"]) for r in rows] == [("day", 0.3), ("week", 0.6)]


def test_budget_list_without_budgets_says_how_to_set_one(ccgate) -> None:
    assert (
        ccgate("budget", "list").stdout.strip() == "no budgets yet; set one with `ccgate budget set PROFILE --day USD`"
    )
    assert json.loads(ccgate("budget", "list", "--json").stdout) == []
