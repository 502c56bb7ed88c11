"""API list prices for the usage log's token classes: genai-prices plus config overrides.

Cost is computed at report time, never stored per row. Reports GROUP BY (model, price card,
price period) in SQL and price each group's token sums here, so a price change (a new
genai-prices release, an override in config.toml) reaches every old row at once, and a report
over a million rows prices a few hundred groups instead of a million requests.

That is exact because pricing is linear once three things are fixed per request:
- the *tier*: a long-context tier applies to every class of a request (output included) whose
  whole prompt exceeds the model's own tier start (200k for most, 100k for claude-haiku-5-5);
  `edges` are all the tier starts the price data and overrides know, and SQL puts each request
  in its band between them (rules.band_sql), so every model's own start is honoured;
- the *date*: list prices change on dates (genai-prices' dated prices, UTC midnights, e.g.
  claude-opus-4-6 dropped its long-context premium on 2026-03-13); `instants` are those dates,
  and each request is priced in the period it fell in (rules.epoch_sql);
- *fast mode* (`speed: "fast"`, its own per-model card) and *US-only inference* (x1.1, rules).

Each (model, band, fast, period) gets a flat `RateCard` of USD per million tokens per class,
derived through genai-prices' own calculator rather than by reading its price keys, which keeps
its mapping rules: its `Usage.input_tokens` is the whole prompt (input + cache reads + cache
writes) while Anthropic's `input_tokens` excludes cache tokens, and its `cache_write_tokens` is
the total of writes of which `cache_write_1h_tokens` is the 1-hour part. Unclassified cache writes
(the remainder beyond the 5m/1h breakdown) price at the 5-minute rate, Anthropic's default TTL.
Web searches are priced per thousand; web fetches cost nothing but their tokens. A model neither
genai-prices nor an override knows is *unpriced*: the reports say so and never count it as $0.

Rate cards, edges and instants are cached in memory and in a small JSON file in the state dir
(keyed by the genai-prices version), so `ccgate statusline` prices without importing genai-prices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from ccgate.errors import ConfigError
from ccgate.reports.rules import (
    PRICED_COLUMNS,
    US_MULTIPLIER,
    Card,
    TokenSums,
    card_of,
    epoch_of,
    needs_price,
    sums_of,
)

CACHE_FORMAT = 2  # bump when the cache file's layout changes

PROVIDER = "anthropic"
# What `Pricer.row_cost` reads of a row: whoever prices a record that is not a `requests` row passes these.
ROW_FIELDS = ("ts", "model", "request_model", "inference_geo", "speed", *PRICED_COLUMNS)
RECORD_FIELDS = ("endpoint", *ROW_FIELDS)  # what `request_cost` reads
DEFAULT_LONG_CONTEXT_START = 200_000
MTOK = Decimal(1_000_000)
# Epoch 0, before the first dated price change: priced as of this day.
BEFORE_ANY_CHANGE = datetime(2000, 1, 1, tzinfo=UTC)

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


class RateCard(NamedTuple):
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


def cost_of(card: RateCard, t: TokenSums, *, us: bool = False) -> Decimal:
    """Linear cost of a group under one flat card (tier, period and speed were decided per request)."""
    tokens = (
        t.input * card.input
        + t.cache_read * card.cache_read
        + (t.cache_write_5m + t.cache_write_other) * card.cache_write_5m
        + t.cache_write_1h * card.cache_write_1h
        + t.output * card.output
    ) / MTOK
    if us:
        tokens *= US_MULTIPLIER
    return tokens + t.web_search * card.web_search / 1000


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
        if key in ("long_context", "start"):
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


class Override(NamedTuple):
    base: RateCard
    long_context: RateCard | None  # None: the model has no long-context tier
    start: int = DEFAULT_LONG_CONTEXT_START  # the long-context tier applies to prompts above this


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
        start = long_table.get("start", DEFAULT_LONG_CONTEXT_START) if long_table else DEFAULT_LONG_CONTEXT_START
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ConfigError(f"prices.{model}.long_context.start must be a whole number of tokens >= 0")
        out[model.lower()] = Override(base, long_card, start)
    return out


def _find_override(overrides: dict[str, Override], model: str) -> Override | None:
    """Exact name first, then the longest override name the model starts with (dated snapshots)."""
    model = model.lower()
    if model in overrides:
        return overrides[model]
    prefixes = [name for name in overrides if model.startswith(name)]
    return overrides[max(prefixes, key=len)] if prefixes else None


# --- genai-prices -----------------------------------------------------------------------------


def _model_info(model: str) -> Any:
    from genai_prices import data_snapshot

    try:
        return data_snapshot.get_snapshot().find_provider_model(model, None, PROVIDER, None)[1]
    except LookupError:
        return None


def _genai_card(model: str, prompt_floor: int, fast: bool, when: datetime) -> RateCard | None:
    """The model's card in force at `when`, flattened to the tier a prompt of `prompt_floor` tokens
    is in, then each class's rate read through genai-prices' calculator."""
    from genai_prices import Usage, types

    info = _model_info(model)
    if info is None:
        return None
    context: dict[str, str] = {"speed": "fast"} if fast else {}
    prices = info.get_prices(when, context or None)
    flat: dict[str, Any] = {}
    for key, value in prices.__dict__.items():
        if isinstance(value, types.TieredPrices):
            value = _tier_price(value, prompt_floor)
        flat[key] = value
    card = types.ModelPrice(**flat)
    million = 1_000_000

    def price(**usage: int) -> Decimal:
        return Decimal(card.calc_price(Usage(**usage))["total_price"])

    base_input = price(input_tokens=million)
    return RateCard(
        input=base_input,
        cache_read=price(input_tokens=million, cache_read_tokens=million),
        cache_write_5m=price(input_tokens=million, cache_write_tokens=million),
        cache_write_1h=price(input_tokens=million, cache_write_tokens=million, cache_write_1h_tokens=million),
        output=price(output_tokens=million),
        web_search=price(web_searches=1000),
    )


def _genai_rules() -> tuple[list[int], list[float]]:
    """Every tier start and every dated price change (as UTC midnight timestamps) in the price data."""
    from genai_prices import data_snapshot, types

    starts: set[int] = set()
    changes: set[float] = set()
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id != PROVIDER:
            continue
        for model in provider.models:
            conditional = model.prices if isinstance(model.prices, list) else [model.prices]
            variants = [v for v in model.price_variants or () if set(v.when) <= {"speed"}]
            for entry in [*conditional, *variants]:
                prices = getattr(entry, "prices", entry)
                starts.update(
                    tier.start
                    for value in prices.__dict__.values()
                    if isinstance(value, types.TieredPrices)
                    for tier in value.tiers
                )
                constraint = getattr(entry, "constraint", None)
                if isinstance(constraint, types.StartDateConstraint):
                    day = constraint.start_date
                    changes.add(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return sorted(starts), sorted(changes)


def _tier_price(tiered: Any, prompt_tokens: int) -> Decimal:
    applicable: Decimal = tiered.base
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
    """Rate cards per (model, prompt band, fast mode, price period), memoised; None means unpriced."""

    def __init__(self, overrides: dict[str, Override] | None = None, cache_file: Path | None = None) -> None:
        self.overrides = overrides or {}
        self.cache_file = cache_file
        self._cards: dict[tuple[str, int, bool, int], RateCard | None] = {}
        self._file: dict[str, Any] | None = None
        self._file_dirty = False

    @classmethod
    def from_config(cls, config: Any, cache_file: Path | None = None) -> Pricer:
        return cls(parse_overrides(config.prices), cache_file)

    @property
    def edges(self) -> tuple[int, ...]:
        """Every long-context tier start a price source knows, ascending."""
        starts = {*self._rules()[0], *(o.start for o in self.overrides.values() if o.long_context is not None)}
        return tuple(sorted(starts))

    @property
    def instants(self) -> tuple[float, ...]:
        """When list prices changed (UTC midnights), ascending: price period k starts at instants[k-1]."""
        return tuple(self._rules()[1])

    def card(self, model: str | None, card: Card, epoch: int = 0) -> RateCard | None:
        if not model:
            return None
        key = (model, card.prompt_floor, card.fast, epoch)
        if key not in self._cards:
            self._cards[key] = self._lookup(*key)
        return self._cards[key]

    def same_price_bands(self, model: str | None, edges: tuple[int, ...]) -> tuple[int, ...]:
        """For each prompt band over `edges` (0: up to the first), the lowest band this model prices
        exactly alike at every speed and in every price period: sums of such bands can be added up
        before pricing (cost is linear under one card). A model with no tiers gives all zeros."""
        floors = [0, *(edge + 1 for edge in edges)]
        periods = range(len(self.instants) + 1)

        def cards(band: int) -> list[RateCard | None]:
            return [self.card(model, Card(floors[band], False, fast), e) for fast in (False, True) for e in periods]

        seen = [cards(band) for band in range(len(floors))]
        return tuple(next(low for low in range(band + 1) if seen[low] == seen[band]) for band in range(len(floors)))

    def cost(self, model: str | None, sums: TokenSums, card: Card, epoch: int = 0) -> Decimal | None:
        rates = self.card(model, card, epoch)
        return None if rates is None else cost_of(rates, sums, us=card.us)

    def row_cost(self, row: Any) -> Decimal | None:
        """One `requests` row (or UsageRecord fields as a mapping), priced exactly as the reports price it."""
        sums = sums_of(row)
        if not needs_price(sums):
            return Decimal(0)
        card = card_of(sums.prompt, row.get("inference_geo"), row.get("speed"), self.edges)
        return self.cost(row.get("model") or row.get("request_model"), sums, card, epoch_of(row["ts"], self.instants))

    def _when(self, epoch: int) -> datetime:
        instants = self.instants
        return datetime.fromtimestamp(instants[epoch - 1], UTC) if epoch else BEFORE_ANY_CHANGE

    def _lookup(self, model: str, prompt_floor: int, fast: bool, epoch: int) -> RateCard | None:
        override = _find_override(self.overrides, model)
        if override is not None:
            if override.long_context is not None and prompt_floor > override.start:
                return override.long_context
            return override.base
        cards = self._file_cache().setdefault("cards", {})
        key = _file_key(model, prompt_floor, fast, epoch)
        if key not in cards:
            self._look_up_model(model, cards)
            if key not in cards:  # a band no edge of today's data starts (an override's start)
                cards[key] = _card_json(_genai_card(model, prompt_floor, fast, self._when(epoch)))
        cached = cards[key]
        return None if cached is None else RateCard.from_json(cached)

    def _look_up_model(self, model: str, cards: dict[str, Any]) -> None:
        """Every card of `model`: each band, speed and price period. Once genai-prices is loaded for
        one of them the rest are cheap, and whichever reader comes next (a report's same_price_bands,
        the budgets) finds them all in the file instead of importing it again."""
        floors = [0, *(edge + 1 for edge in self.edges)]
        for epoch in range(len(self.instants) + 1):
            when = self._when(epoch)
            for floor in floors:
                for fast in (False, True):
                    cards[_file_key(model, floor, fast, epoch)] = _card_json(_genai_card(model, floor, fast, when))
        self._file_dirty = True

    def _rules(self) -> tuple[list[int], list[float]]:
        cache = self._file_cache()
        if "edges" not in cache:
            cache["edges"], cache["instants"] = _genai_rules()
            self._file_dirty = True
        return cache["edges"], cache["instants"]

    # The file cache is keyed by the genai-prices version: an upgrade reprices everything.
    def _file_cache(self) -> dict[str, Any]:
        if self._file is None:
            self._file = {} if self.cache_file is None else _read_cache(self.cache_file, _genai_version())
        return self._file

    def save(self) -> None:
        """Add new lookups to the cache file (best effort; it is only a cache). Several pricers write
        it (the forwarder's usage writer and budgets, the dashboard, every report), so each merges
        its cards into what the file holds now rather than replacing it with its own."""
        if not self._file_dirty or self.cache_file is None:
            return
        from ccgate.fileio import write_private
        from ccgate.locks import lock_file_for, locked

        version = _genai_version()
        try:
            with locked(lock_file_for(self.cache_file)):
                on_file, mine = _read_cache(self.cache_file, version), self._file_cache()
                cards = {**on_file.get("cards", {}), **mine.get("cards", {})}
                self._file = {**on_file, **mine, "cards": cards}
                payload = {"genai_prices": version, "format": CACHE_FORMAT, "cache": self._file}
                write_private(self.cache_file, json.dumps(payload).encode())  # 0600 whatever the umask
            self._file_dirty = False
        except OSError:
            pass


def _file_key(model: str, prompt_floor: int, fast: bool, epoch: int) -> str:
    return f"{model}|{prompt_floor}|{int(fast)}|{epoch}"


def _card_json(rates: RateCard | None) -> dict[str, str] | None:
    return None if rates is None else rates.to_json()


def _read_cache(path: Path, version: str) -> dict[str, Any]:
    """The cache file's contents if they were made from this genai-prices version, else nothing."""
    try:
        data = json.loads(path.read_text())
        if data.get("genai_prices") == version and data.get("format") == CACHE_FORMAT:
            cache = data.get("cache", {})
            if isinstance(cache, dict):
                return cache
    except (OSError, ValueError, AttributeError):
        pass
    return {}


def request_cost(pricer: Pricer, row: Mapping[str, Any]) -> Decimal | None:
    """What one request costs at list prices: a message by its tokens (None: no price known); a
    token count, a model list or any other call costs nothing."""
    return pricer.row_cost(row) if row.get("endpoint") == "messages" else Decimal(0)


class RecordPricing:
    """Prices the usage writer's records once each, on its thread, for every listener (the live
    feed, the metrics, the budgets): a price-data import for a model never seen then holds up no
    request on the event loop, and nothing prices a record twice. New lookups go to the cache file,
    so the next start finds them there and never imports genai-prices (~25 MiB)."""

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer

    def __call__(self, records: Sequence[Any]) -> list[Decimal | None]:
        costs = [request_cost(self.pricer, {name: getattr(rec, name) for name in RECORD_FIELDS}) for rec in records]
        self.pricer.save()
        return costs


def default_cache_file() -> Path:
    from ccgate import paths

    return paths.state_dir() / "price-cache.json"
