"""Prices checked against Anthropic's published per-million-token rates, computed here by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ccgate.errors import ConfigError
from ccgate.reports.pricing import Pricer, TokenSums, parse_overrides

# Published list prices, USD per million tokens (input, output); cache reads are 0.1x input,
# 5-minute writes 1.25x, 1-hour writes 2x. claude-sonnet-4-5 above 200k prompt tokens: $6 / $22.50.
SONNET_4_5 = (3, 15)
SONNET_4_5_LONG = (6, 22.5)
SONNET_5 = (2, 10)
OPUS_4_8 = (5, 25)


def by_hand(rates: tuple[float, float], *, input=0, read=0, w5m=0, w1h=0, output=0) -> Decimal:
    inp, out = (Decimal(str(r)) for r in rates)
    total = input * inp + read * inp / 10 + w5m * inp * Decimal("1.25") + w1h * inp * 2 + output * out
    return total / 1_000_000


def test_long_context_request_prices_every_class_at_the_higher_tier() -> None:
    cost = Pricer().cost("claude-sonnet-4-5", TokenSums(input=300_000, output=1_000), long_context=True)
    assert cost == Decimal("1.8225") == by_hand(SONNET_4_5_LONG, input=300_000, output=1_000)


def test_each_cache_class_has_its_own_rate() -> None:
    pricer = Pricer()
    sums = TokenSums(input=1_000, cache_read=100_000, cache_write_5m=10_000, cache_write_1h=20_000, output=2_000)
    expected = by_hand(SONNET_4_5, input=1_000, read=100_000, w5m=10_000, w1h=20_000, output=2_000)
    assert pricer.cost("claude-sonnet-4-5", sums) == expected == Decimal("0.2205")
    # 1-hour writes cost 2x input, not the 5-minute rate (what ccusage charges).
    assert pricer.cost("claude-opus-4-8", TokenSums(cache_write_1h=1_000_000)) == Decimal(10)
    # Unclassified writes fall back to the 5-minute rate, never $0.
    assert pricer.cost("claude-opus-4-8", TokenSums(cache_write_other=1_000_000)) == Decimal("6.25")


def test_model_without_a_long_context_tier_stays_at_base_rates() -> None:
    cost = Pricer().cost("claude-sonnet-5", TokenSums(input=250_000, output=10_000), long_context=True)
    assert cost == by_hand(SONNET_5, input=250_000, output=10_000) == Decimal("0.6")


def test_fast_mode_uses_the_fast_price_card() -> None:
    pricer = Pricer()
    normal = pricer.cost("claude-opus-4-8", TokenSums(input=1_000_000))
    fast = pricer.cost("claude-opus-4-8", TokenSums(input=1_000_000), fast=True)
    assert normal == by_hand(OPUS_4_8, input=1_000_000)
    assert fast is not None and fast > normal


def test_unknown_model_is_unpriced_not_zero() -> None:
    pricer = Pricer()
    assert pricer.cost("claude-mystery-9", TokenSums(input=5_000)) is None
    assert pricer.cost(None, TokenSums(input=5_000)) is None


def test_override_beats_genai_prices_and_fills_cache_rates_from_input() -> None:
    pricer = Pricer(parse_overrides({"claude-haiku-4-5": {"input_mtok": 0.5, "output_mtok": 1}}))
    # Dated snapshot names match by prefix.
    card = pricer.card("claude-haiku-4-5-20251001")
    assert card is not None and card.source == "override"
    assert (card.cache_read, card.cache_write_5m, card.cache_write_1h) == (
        Decimal("0.05"),
        Decimal("0.625"),
        Decimal("1.0"),
    )
    assert pricer.cost("claude-haiku-4-5-20251001", TokenSums(input=1_000_000, output=100_000)) == Decimal("0.6")


def test_override_for_an_unknown_model_with_long_context_table() -> None:
    overrides = parse_overrides(
        {"acme-1": {"input_mtok": 1, "output_mtok": 2, "long_context": {"input_mtok": 4, "output_mtok": 8}}}
    )
    pricer = Pricer(overrides)
    assert pricer.cost("acme-1", TokenSums(input=1_000_000, output=1_000_000)) == Decimal(3)
    assert pricer.cost("acme-1", TokenSums(input=1_000_000, output=1_000_000), long_context=True) == Decimal(12)


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
    expected = first.cost("claude-sonnet-4-5", TokenSums(input=300_000, output=1_000), long_context=True)
    first.cost("claude-mystery-9", TokenSums(input=1))
    first.save()
    second = Pricer(cache_file=cache)
    assert second.cost("claude-sonnet-4-5", TokenSums(input=300_000, output=1_000), long_context=True) == expected
    assert second.cost("claude-mystery-9", TokenSums(input=1)) is None
    assert not second._file_dirty  # both answers came from the file
