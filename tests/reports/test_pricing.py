"""Prices checked against Anthropic's published per-million-token rates, computed here by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ccgate.errors import ConfigError
from ccgate.reports.pricing import Pricer, RecordPricing, parse_overrides
from ccgate.reports.rules import Card
from ccgate.usage.model import UsageRecord

# Published list prices, USD per million tokens (input, output); cache reads are 0.1x input,
# 5-minute writes 1.25x, 1-hour writes 2x. claude-sonnet-4-5 above 200k prompt tokens: $6 / $22.50.
SONNET_4_5 = (3, 15)
SONNET_4_5_LONG = (6, 22.5)
SONNET_5 = (2, 10)
OPUS_4_8 = (5, 25)
OPUS_4_8_FAST = (10, 50)
HAIKU_5_5 = (0.1, 0.5)
HAIKU_5_5_LONG = (0.5, 2.5)  # above 100k prompt tokens: 5x, every class
OPUS_4_6 = (5, 25)
OPUS_4_6_LONG = (10, 37.5)  # above 200k, until claude-opus-4-6 dropped the premium on 2026-03-13
PREMIUM_DROPPED = datetime(2026, 3, 13, tzinfo=UTC).timestamp()
NOW = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


def by_hand(rates: tuple[float, float], *, input=0, read=0, w5m=0, w1h=0, output=0) -> Decimal:
    inp, out = (Decimal(str(r)) for r in rates)
    total = input * inp + read * inp / 10 + w5m * inp * Decimal("1.25") + w1h * inp * 2 + output * out
    return total / 1_000_000


def req(
    model: str | None, *, ts: float = NOW, geo: str | None = None, speed: str | None = None, **tokens: int
) -> dict[str, Any]:
    """One request as a `requests` row: the token columns, model, time, US-only and fast flags."""
    row = {
        "ts": ts,
        "model": model,
        "request_model": None,
        "inference_geo": geo,
        "speed": speed,
        "input_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "cache_write_other_tokens": 0,
        "output_tokens": 0,
        "web_search_requests": 0,
    }
    row.update(tokens)
    return row


def test_long_context_request_prices_every_class_at_the_higher_tier() -> None:
    cost = Pricer().row_cost(req("claude-sonnet-4-5", input_tokens=300_000, output_tokens=1_000))
    assert cost == Decimal("1.8225") == by_hand(SONNET_4_5_LONG, input=300_000, output=1_000)


def test_the_tier_starts_where_the_models_own_card_says() -> None:
    pricer = Pricer()
    # claude-haiku-5-5's tier starts at 100k: a prompt of exactly 100,000 is below it, 100,001 above.
    at = pricer.row_cost(req("claude-haiku-5-5", input_tokens=100_000, output_tokens=1_000))
    above = pricer.row_cost(req("claude-haiku-5-5", input_tokens=100_001, output_tokens=1_000))
    assert at == by_hand(HAIKU_5_5, input=100_000, output=1_000) == Decimal("0.0105")
    assert above == by_hand(HAIKU_5_5_LONG, input=100_001, output=1_000) == Decimal("0.0525005")
    # The prompt counts cache reads and writes too: 99,999 read + 2 written is past the start.
    mixed = pricer.row_cost(req("claude-haiku-5-5", cache_read_tokens=99_999, cache_write_5m_tokens=2))
    assert mixed == by_hand(HAIKU_5_5_LONG, read=99_999, w5m=2)
    # 200k-tier models keep their own start: 200,000 is base, 200,001 long.
    assert pricer.row_cost(req("claude-sonnet-4-5", input_tokens=200_000)) == by_hand(SONNET_4_5, input=200_000)
    assert pricer.row_cost(req("claude-sonnet-4-5", input_tokens=200_001)) == by_hand(SONNET_4_5_LONG, input=200_001)
    assert pricer.edges == (100_000, 200_000)


def test_a_request_keeps_the_price_in_force_on_its_date() -> None:
    pricer = Pricer()
    big = {"input_tokens": 300_000, "output_tokens": 1_000}
    before = pricer.row_cost(req("claude-opus-4-6", ts=PREMIUM_DROPPED - 1, **big))
    after = pricer.row_cost(req("claude-opus-4-6", ts=PREMIUM_DROPPED, **big))
    assert before == by_hand(OPUS_4_6_LONG, input=300_000, output=1_000) == Decimal("3.0375")
    assert after == by_hand(OPUS_4_6, input=300_000, output=1_000) == Decimal("1.525")
    assert PREMIUM_DROPPED in pricer.instants


def test_each_cache_class_has_its_own_rate() -> None:
    pricer = Pricer()
    row = req(
        "claude-sonnet-4-5",
        input_tokens=1_000,
        cache_read_tokens=100_000,
        cache_write_5m_tokens=10_000,
        cache_write_1h_tokens=20_000,
        output_tokens=2_000,
    )
    expected = by_hand(SONNET_4_5, input=1_000, read=100_000, w5m=10_000, w1h=20_000, output=2_000)
    assert pricer.row_cost(row) == expected == Decimal("0.2205")
    # 1-hour writes cost 2x input, not the 5-minute rate (what ccusage charges).
    assert pricer.row_cost(req("claude-opus-4-8", cache_write_1h_tokens=1_000_000)) == Decimal(10)
    # Unclassified writes fall back to the 5-minute rate, never $0.
    assert pricer.row_cost(req("claude-opus-4-8", cache_write_other_tokens=1_000_000)) == Decimal("6.25")


def test_model_without_a_long_context_tier_stays_at_base_rates() -> None:
    cost = Pricer().row_cost(req("claude-sonnet-5", input_tokens=250_000, output_tokens=10_000))
    assert cost == by_hand(SONNET_5, input=250_000, output=10_000) == Decimal("0.6")


def test_fast_mode_uses_the_fast_price_card() -> None:
    pricer = Pricer()
    assert pricer.row_cost(req("claude-opus-4-8", input_tokens=1_000_000)) == by_hand(OPUS_4_8, input=1_000_000)
    fast = pricer.row_cost(req("claude-opus-4-8", speed="fast", input_tokens=1_000_000, output_tokens=100_000))
    assert fast == by_hand(OPUS_4_8_FAST, input=1_000_000, output=100_000) == Decimal(15)


def test_web_searches_are_ten_dollars_a_thousand() -> None:
    cost = Pricer().row_cost(req("claude-sonnet-5", input_tokens=1_000, web_search_requests=3))
    assert cost == by_hand(SONNET_5, input=1_000) + Decimal("0.03") == Decimal("0.032")


def test_us_only_inference_is_one_point_one_times_the_tokens() -> None:
    pricer = Pricer()
    cost = pricer.row_cost(req("claude-opus-4-8", geo="us", input_tokens=1_000_000, web_search_requests=1))
    assert cost == Decimal("5.5") + Decimal("0.01")  # the search keeps its price
    assert pricer.row_cost(req("claude-opus-4-8", geo="global", input_tokens=1_000_000)) == Decimal(5)


def test_unknown_model_is_unpriced_not_zero_and_nothing_costs_nothing() -> None:
    pricer = Pricer()
    assert pricer.row_cost(req("claude-mystery-9", input_tokens=5_000)) is None
    assert pricer.row_cost(req(None, input_tokens=5_000)) is None
    # A refused request (no tokens) costs nothing, whether or not its model has a price.
    assert pricer.row_cost(req(None)) == 0
    assert pricer.row_cost(req("claude-mystery-9")) == 0


def test_override_beats_genai_prices_and_fills_cache_rates_from_input() -> None:
    pricer = Pricer(parse_overrides({"claude-haiku-4-5": {"input_mtok": 0.5, "output_mtok": 1}}))
    # Dated snapshot names match by prefix.
    card = pricer.card("claude-haiku-4-5-20251001", Card(0, us=False, fast=False))
    assert card is not None and card.source == "override"
    assert (card.cache_read, card.cache_write_5m, card.cache_write_1h) == (
        Decimal("0.05"),
        Decimal("0.625"),
        Decimal("1.0"),
    )
    cost = pricer.row_cost(req("claude-haiku-4-5-20251001", input_tokens=1_000_000, output_tokens=100_000))
    assert cost == Decimal("0.6")


def test_override_for_an_unknown_model_with_its_own_tier_start() -> None:
    overrides = parse_overrides(
        {
            "acme-1": {
                "input_mtok": 1,
                "output_mtok": 2,
                "long_context": {"input_mtok": 4, "output_mtok": 8, "start": 150_000},
            }
        }
    )
    pricer = Pricer(overrides)
    assert pricer.edges == (100_000, 150_000, 200_000)
    assert pricer.row_cost(req("acme-1", input_tokens=150_000, output_tokens=1_000_000)) == Decimal("2.15")
    assert pricer.row_cost(req("acme-1", input_tokens=150_001, output_tokens=1_000_000)) == Decimal("8.600004")


@pytest.mark.parametrize(
    "table, message",
    [
        ({"m": {"input_mtok": 1}}, "needs at least input_mtok and output_mtok"),
        ({"m": {"input_mtok": 1, "output_mtok": -2}}, ">= 0"),
        ({"m": {"input_mtok": "x", "output_mtok": 2}}, "must be a number"),
        ({"m": {"input_mtok": 1, "output_mtok": 2, "bogus": 1}}, "unknown key 'bogus'"),
        ({"m": 3}, "must be a table"),
    ],
)
def test_bad_overrides_are_config_errors(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_overrides(table)


def test_cache_file_round_trip_prices_without_genai_prices(tmp_path) -> None:
    cache = tmp_path / "price-cache.json"
    first = Pricer(cache_file=cache)
    long = req("claude-opus-4-6", ts=PREMIUM_DROPPED - 1, input_tokens=300_000, output_tokens=1_000)
    expected = first.row_cost(long)
    first.row_cost(req("claude-mystery-9", input_tokens=1))
    first.save()
    second = Pricer(cache_file=cache)
    assert second.row_cost(long) == expected == Decimal("3.0375")
    assert second.row_cost(req("claude-mystery-9", input_tokens=1)) is None
    assert second.edges == first.edges and second.instants == first.instants
    assert not second._file_dirty  # every answer, and the tier starts and price dates, came from the file


def test_pricers_sharing_the_cache_file_keep_each_others_cards(tmp_path) -> None:
    # The forwarder's usage writer and its budgets each hold a pricer on one file, loaded before either saved.
    cache = tmp_path / "price-cache.json"
    writer, budgets = Pricer(cache_file=cache), Pricer(cache_file=cache)
    sonnet = req("claude-sonnet-4-5", input_tokens=1_000, output_tokens=100)
    opus = req("claude-opus-4-6", input_tokens=1_000, output_tokens=100)
    writer.row_cost(sonnet)
    budgets.row_cost(opus)
    writer.save()
    budgets.save()  # adds its cards to the writer's, not instead of them
    later = Pricer(cache_file=cache)
    assert later.row_cost(sonnet) == by_hand(SONNET_4_5, input=1_000, output=100) == Decimal("0.0045")
    assert later.row_cost(opus) == by_hand(OPUS_4_6, input=1_000, output=100) == Decimal("0.0075")
    assert not later._file_dirty


def test_the_first_lookup_of_a_model_keeps_every_band_speed_and_period_of_it(tmp_path) -> None:
    cache = tmp_path / "price-cache.json"
    first = Pricer(cache_file=cache)
    first.row_cost(req("claude-haiku-5-5", input_tokens=10))  # one short, standard-speed request today
    first.save()
    second = Pricer(cache_file=cache)  # e.g. the budgets' reading on the forwarder's next start
    # Tiers at 100k and 200k: haiku-5-5 prices above 100k alike, and alike in both price periods.
    assert second.same_price_bands("claude-haiku-5-5", second.edges) == (0, 1, 1)
    long_before = req("claude-haiku-5-5", ts=PREMIUM_DROPPED - 1, input_tokens=150_000)
    assert second.row_cost(long_before) == by_hand(HAIKU_5_5_LONG, input=150_000) == Decimal("0.075")
    assert not second._file_dirty  # all of it from the file: genai-prices not consulted again


def test_the_writer_prices_messages_once_each_and_keeps_the_cards_for_the_next_start(tmp_path) -> None:
    cache = tmp_path / "price-cache.json"

    def record(endpoint: str, model: str | None, **tokens: int) -> UsageRecord:
        return UsageRecord(
            ts=NOW, profile="max", method="POST", path="/v1/messages", endpoint=endpoint, status=200,
            outcome="ok", model=model, **tokens,
        )  # fmt: skip

    records = [
        record("messages", "claude-sonnet-4-5", input_tokens=100_000, output_tokens=2_000),
        record("count_tokens", "claude-sonnet-4-5", input_tokens=50_000),  # a token count costs nothing
        record("messages", "claude-mystery-9", input_tokens=10),  # no price source knows it
    ]
    assert RecordPricing(Pricer(cache_file=cache))(records) == [Decimal("0.33"), Decimal(0), None]
    assert by_hand(SONNET_4_5, input=100_000, output=2_000) == Decimal("0.33")
    again = Pricer(cache_file=cache)  # the next `ccgate serve`
    assert RecordPricing(again)(records) == [Decimal("0.33"), Decimal(0), None]
    assert not again._file_dirty  # every card came from the file the first one saved


def test_bad_override_start_is_a_config_error() -> None:
    table = {"m": {"input_mtok": 1, "output_mtok": 2, "long_context": {"input_mtok": 2, "output_mtok": 4, "start": -1}}}
    with pytest.raises(ConfigError, match="start must be a whole number"):
        parse_overrides(table)


def test_bands_a_model_prices_alike_are_named_for_merging() -> None:
    pricer = Pricer()
    edges = (100_000, 200_000)
    assert pricer.same_price_bands("claude-haiku-5-5", edges) == (0, 1, 1)  # its tier starts at 100k
    assert pricer.same_price_bands("claude-sonnet-4-5", edges) == (0, 0, 2)  # at 200k
    assert pricer.same_price_bands("claude-sonnet-5", edges) == (0, 0, 0)  # no tier
    # Alike in one price period is not enough: opus-4-6's long context cost more before 2026-03-13.
    assert pricer.same_price_bands("claude-opus-4-6", edges) == (0, 0, 2)
    assert pricer.same_price_bands("claude-mystery-9", edges) == (0, 0, 0)  # no price at all: nothing to split
    # An override with its own tier start splits where it says.
    tier = {"start": 150000, "input_mtok": 2, "output_mtok": 4}
    custom = Pricer(parse_overrides({"house-1": {"input_mtok": 1, "output_mtok": 2, "long_context": tier}}))
    assert custom.same_price_bands("house-1", (150_000,)) == (0, 1)
