"""The rules (reports/rules.py), each at its home: the Python form and the SQL form agree, and every
threshold is pinned one token or one second either side."""

from __future__ import annotations

import sqlite3

import pytest

from ccgate.reports import rules
from ccgate.reports.rules import ProfileSet, TokenSums

PROFILES = ProfileSet(
    {"max": "max-oauth", "login": "claude-login", "key": "api-key", "lite": "litellm-key", "ride": "litellm-key"},
    {"ride": "max"},
)


def sql_value(expr: str, **columns: object) -> object:
    conn = sqlite3.connect(":memory:")
    names = ", ".join(f"? AS {name}" for name in columns)
    return conn.execute(f"SELECT {expr} FROM (SELECT {names})", list(columns.values())).fetchone()[0]


@pytest.mark.parametrize(
    ("status", "outcome", "error"),
    [(200, "ok", False), (399, "ok", False), (400, "ok", True), (200, "client_closed", True), (529, "ok", True)],
)
def test_what_an_error_is(status: int, outcome: str, error: bool) -> None:
    assert rules.is_error(status, outcome) is error
    assert bool(sql_value(rules.ERROR_SQL, status=status, outcome=outcome)) is error


def test_what_needs_a_price() -> None:
    assert not rules.needs_price(TokenSums())
    assert rules.needs_price(TokenSums(output=1))
    assert rules.needs_price(TokenSums(cache_write_other=1))
    assert rules.needs_price(TokenSums(web_search=1))  # a search alone is billed


@pytest.mark.parametrize(("prompt", "band"), [(0, 0), (100_000, 0), (100_001, 1), (200_000, 1), (200_001, 2)])
def test_the_prompt_band_in_python_and_sql(prompt: int, band: int) -> None:
    edges = (100_000, 200_000)
    assert rules.band_of(prompt, edges) == band
    sql = rules.band_sql(edges, prompt="p")
    assert sql_value(sql, p=prompt) == band


def test_the_card_code_in_python_and_sql() -> None:
    edges = (100_000, 200_000)
    columns = {
        "input_tokens": 150_000,
        "cache_read_tokens": 60_000,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "cache_write_other_tokens": 0,
        "inference_geo": "us",
        "speed": "fast",
    }
    code = rules.card_code(210_000, "us", "fast", edges)
    assert code == 2 * 4 + 2 + 1 == sql_value(rules.card_code_sql(edges), **columns)
    assert rules.decode_card(code, edges) == rules.Card(prompt_floor=200_001, us=True, fast=True)
    assert rules.decode_card(0, edges) == rules.Card(prompt_floor=0, us=False, fast=False)


@pytest.mark.parametrize(("ts", "epoch"), [(999.0, 0), (1000.0, 1), (1999.0, 1), (2000.0, 2)])
def test_price_periods_start_at_the_change_inclusive(ts: float, epoch: int) -> None:
    instants = (1000.0, 2000.0)
    assert rules.epoch_of(ts, instants) == epoch
    assert sql_value(rules.epoch_sql(instants), ts=ts) == epoch


@pytest.mark.parametrize(
    ("billing", "profile", "expected"),
    [
        ("unknown", "max", "subscription"),
        ("unknown", "login", "subscription"),
        ("unknown", "ride", "subscription"),  # rides on max's token
        ("unknown", "lite", "unknown"),
        ("unknown", None, "unknown"),
        ("api", "max", "api_on_subscription"),
        ("api", "key", "api"),
        ("subscription", "key", "subscription"),
    ],
)
def test_who_paid_in_python_and_sql(billing: str, profile: str | None, expected: str) -> None:
    assert rules.billing_class(billing, profile, PROFILES) == expected
    assert sql_value(rules.billing_sql(PROFILES), billing=billing, profile=profile) == expected


def test_subscription_profiles_and_accounts() -> None:
    assert PROFILES.subscription_profiles == ["login", "max", "ride"]
    assert PROFILES.account_key("max", "acct-1") == "account:acct-1"
    assert PROFILES.account_key("ride", None) == "profile:max"  # limits of the token it rides on
    assert PROFILES.account_key("max", None) == "profile:max"
    assert PROFILES.account_key(None, None) == "profile:-"


def test_profile_set_from_odd_tables() -> None:
    found = ProfileSet.from_tables(
        {"a": {"kind": "max-oauth"}, "b": "not a table", "c": {"kind": "litellm-key", "via_max": "a"}}
    )
    assert found.kinds == {"a": "max-oauth", "c": "litellm-key"} and found.rides_on == {"c": "a"}
