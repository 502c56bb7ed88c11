"""API list prices for the usage log's token classes: genai-prices plus config overrides.

Cost is computed at report time, never stored per row. Reports GROUP BY (model, long-context
flag, fast mode) in SQL and price each group's token sums here, so a price change (a new
genai-prices release, an override in config.toml) reaches every old row at once, and a report
over a million rows prices a few hundred groups instead of a million requests.

That is exact because pricing is linear once the tier is fixed: Anthropic bills a long-context
request (whole prompt > 200k tokens on models whose card has the tier) at the higher rate for
every class, output included, so the tier is decided per request in SQL (`LONG_CONTEXT_SQL`),
and each (model, tier) pair gets a flat `RateCard` of USD per million tokens per class.

The rate card is derived through genai-prices' own calculator rather than by reading its
price keys, which keeps its mapping rules: its `Usage.input_tokens` is the whole prompt
(input + cache reads + cache writes) while Anthropic's `input_tokens` excludes cache tokens,
and its `cache_write_tokens` is the total of writes of which `cache_write_1h_tokens` is the
1-hour part. Mapping Anthropic's fields across directly misprices (see REFERENCE "Prices").
Unclassified cache writes (the remainder beyond the 5m/1h breakdown) price at the 5-minute rate,
Anthropic's default TTL. A model neither genai-prices nor an override knows is *unpriced*: the
reports say so and never count it as $0.

Rate cards are cached in memory and in a small JSON file in the state dir (keyed by the
genai-prices version and the overrides), so `ccgate statusline` can price without importing
genai-prices on every prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ccgate.errors import ConfigError

PROVIDER = "anthropic"
LONG_CONTEXT_THRESHOLD = 200_000
MTOK = Decimal(1_000_000)
# The whole prompt of one request, as Anthropic counts it for the long-context tier.
PROMPT_SQL = (
    "(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_write_other_tokens)"
)
LONG_CONTEXT_SQL = f"({PROMPT_SQL} > {LONG_CONTEXT_THRESHOLD})"
FAST_SQL = "(COALESCE(speed, '') = 'fast')"

CLASSES = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output")
# Override keys (genai-prices' price-key names) and Anthropic's published multipliers of the
# input price, used when an override gives only input/output (cache reads 0.1x, 5m writes
# 1.25x, 1h writes 2x).
OVERRIDE_KEYS = {
    "input_mtok": "input",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_mtok": "output",
    "web_searches_kcount": "web_search",
}
DERIVED_FROM_INPUT = {"cache_read": Decimal("0.1"), "cache_write_5m": Decimal("1.25"), "cache_write_1h": Decimal("2")}


@dataclass(frozen=True, slots=True)
class RateCard:
    """USD per million tokens for each class (web_search: USD per thousand searches), one tier."""

    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    web_search: Decimal = Decimal(0)
    source: str = "genai-prices"  # or "override"

    def to_json(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in (*CLASSES, "web_search", "source")}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> RateCard:
        return cls(**{k: Decimal(v) for k, v in data.items() if k != "source"}, source=data.get("source", "?"))


@dataclass(slots=True)
class TokenSums:
    """Token sums of a group of requests that share model, tier and speed."""

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_write_other: int = 0
    output: int = 0
    web_search: int = 0


def cost_of(card: RateCard, t: TokenSums) -> Decimal:
    """Linear cost of a group under one flat card (the tier was decided per request in SQL)."""
    tokens = (
        t.input * card.input
        + t.cache_read * card.cache_read
        + (t.cache_write_5m + t.cache_write_other) * card.cache_write_5m
        + t.cache_write_1h * card.cache_write_1h
        + t.output * card.output
    )
    return tokens / MTOK + t.web_search * card.web_search / 1000


# --- overrides from config.toml [prices.<model>] ---------------------------------------------


def _decimal(model: str, key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"prices.{model}.{key} must be a number (USD per million tokens)")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"prices.{model}.{key} must be a number (USD per million tokens)") from None
    if not result.is_finite() or result < 0:
        raise ConfigError(f"prices.{model}.{key} must be a finite number >= 0")
    return result


def _card_from_table(model: str, table: dict[str, Any]) -> RateCard:
    rates: dict[str, Decimal] = {}
    for key, value in table.items():
        if key == "long_context":
            continue
        if key not in OVERRIDE_KEYS:
            allowed = ", ".join(OVERRIDE_KEYS)
            raise ConfigError(f"prices.{model}: unknown key {key!r} (allowed: {allowed}, long_context)")
        rates[OVERRIDE_KEYS[key]] = _decimal(model, key, value)
    if "input" not in rates or "output" not in rates:
        raise ConfigError(f"prices.{model} needs at least input_mtok and output_mtok")
    for name, factor in DERIVED_FROM_INPUT.items():
        rates.setdefault(name, rates["input"] * factor)
    return RateCard(**rates, source="override")


@dataclass(frozen=True, slots=True)
class Override:
    base: RateCard
    long_context: RateCard | None  # None: the model has no long-context tier


def parse_overrides(prices: dict[str, Any]) -> dict[str, Override]:
    """`[prices."<model>"]` tables: genai-prices' key names, plus an optional `long_context` sub-table."""
    out: dict[str, Override] = {}
    for model, table in prices.items():
        if not isinstance(table, dict):
            raise ConfigError(f"prices.{model} must be a table")
        long_table = table.get("long_context")
        if long_table is not None and not isinstance(long_table, dict):
            raise ConfigError(f"prices.{model}.long_context must be a table")
        base = _card_from_table(model, table)
        long_card = _card_from_table(f"{model}.long_context", long_table) if long_table else None
        out[model.lower()] = Override(base, long_card)
    return out


def _find_override(overrides: dict[str, Override], model: str) -> Override | None:
    """Exact name first, then the longest override name the model starts with (dated snapshots)."""
    model = model.lower()
    if model in overrides:
        return overrides[model]
    prefixes = [name for name in overrides if model.startswith(name)]
    return overrides[max(prefixes, key=len)] if prefixes else None


# --- genai-prices -----------------------------------------------------------------------------


def _genai_card(model: str, long_context: bool, fast: bool) -> RateCard | None:
    """Flatten genai-prices' card to one tier, then read each class's rate through its calculator."""
    from datetime import UTC, datetime

    from genai_prices import Usage, data_snapshot, types

    try:
        _provider, info = data_snapshot.get_snapshot().find_provider_model(model, None, PROVIDER, None)
    except LookupError:
        return None
    context: dict[str, str] = {"speed": "fast"} if fast else {}
    prices = info.get_prices(datetime.now(tz=UTC), context or None)
    flat: dict[str, Any] = {}
    for key, value in prices.__dict__.items():
        if isinstance(value, types.TieredPrices):
            value = _tier_price(value, LONG_CONTEXT_THRESHOLD + 1 if long_context else 0)
        flat[key] = value
    card = types.ModelPrice(**flat)
    million = 1_000_000

    def price(**usage: int) -> Decimal:
        return card.calc_price(Usage(**usage))["total_price"]

    base_input = price(input_tokens=million)
    return RateCard(
        input=base_input,
        cache_read=price(input_tokens=million, cache_read_tokens=million),
        cache_write_5m=price(input_tokens=million, cache_write_tokens=million),
        cache_write_1h=price(input_tokens=million, cache_write_tokens=million, cache_write_1h_tokens=million),
        output=price(output_tokens=million),
        web_search=price(web_searches=1000),
    )


def _tier_price(tiered: Any, prompt_tokens: int) -> Decimal:
    applicable = tiered.base
    for tier in tiered.tiers:
        if prompt_tokens > tier.start:
            applicable = tier.price
    return applicable


def _genai_version() -> str:
    """Identifies the installed price data without importing genai-prices (the status line's budget):
    the path, size and mtime of its bundled data module."""
    import importlib.util

    spec = importlib.util.find_spec("genai_prices")
    if spec is None or not spec.origin:
        return "?"
    data = Path(spec.origin).with_name("data.py")
    try:
        st = data.stat()
    except OSError:
        return spec.origin
    return f"{data}:{st.st_size}:{st.st_mtime_ns}"


# --- the pricer reports use -------------------------------------------------------------------


class Pricer:
    """Rate cards per (model, long-context, fast), memoised; None means unpriced."""

    def __init__(self, overrides: dict[str, Override] | None = None, cache_file: Path | None = None) -> None:
        self.overrides = overrides or {}
        self.cache_file = cache_file
        self._cards: dict[tuple[str, bool, bool], RateCard | None] = {}
        self._file_cards: dict[str, Any] | None = None
        self._file_dirty = False

    @classmethod
    def from_config(cls, config: Any, cache_file: Path | None = None) -> Pricer:
        return cls(parse_overrides(config.prices), cache_file)

    def card(self, model: str | None, long_context: bool = False, fast: bool = False) -> RateCard | None:
        if not model:
            return None
        key = (model, long_context, fast)
        if key not in self._cards:
            self._cards[key] = self._lookup(model, long_context, fast)
        return self._cards[key]

    def cost(
        self, model: str | None, sums: TokenSums, long_context: bool = False, fast: bool = False
    ) -> Decimal | None:
        card = self.card(model, long_context, fast)
        return None if card is None else cost_of(card, sums)

    def _lookup(self, model: str, long_context: bool, fast: bool) -> RateCard | None:
        override = _find_override(self.overrides, model)
        if override is not None:
            if long_context and override.long_context is not None:
                return override.long_context
            return override.base
        file_key = f"{model}|{int(long_context)}|{int(fast)}"
        cached = self._file_cache().get(file_key, "missing")
        if cached != "missing":
            return None if cached is None else RateCard.from_json(cached)
        card = _genai_card(model, long_context, fast)
        self._file_cache()[file_key] = None if card is None else card.to_json()
        self._file_dirty = True
        return card

    # The file cache is keyed by the genai-prices version: an upgrade reprices everything.
    def _file_cache(self) -> dict[str, Any]:
        if self._file_cards is None:
            self._file_cards = {}
            if self.cache_file is not None:
                try:
                    data = json.loads(self.cache_file.read_text())
                    if data.get("genai_prices") == _genai_version():
                        self._file_cards = data.get("cards", {})
                except (OSError, ValueError, AttributeError):
                    pass
        return self._file_cards

    def save(self) -> None:
        """Write new lookups to the cache file (best effort; it is only a cache)."""
        if not self._file_dirty or self.cache_file is None:
            return
        from ccgate.fileio import write_private

        data = json.dumps({"genai_prices": _genai_version(), "cards": self._file_cards}).encode()
        try:
            write_private(self.cache_file, data)  # 0600 whatever the umask, never half-written
            self._file_dirty = False
        except OSError:
            pass


def default_cache_file() -> Path:
    from ccgate import paths

    return paths.state_dir() / "price-cache.json"
