"""Budgets: a profile's spending limits per day, week and month, and the rules they follow.

A budget lives in config.toml under [budgets.NAME] (NAME a profile):

    [budgets.api]
    day = 5.0                      # USD; any of day, week, month
    month = 60.0
    warn_pct = 80                  # the warn level, percent of each limit (default 80)
    include_subscription = false   # count subscription traffic too (API-equivalent)

What a budget counts (`counted`): the profile's API-billed cost at list prices — billed to an API key
per the response headers, or of unknown billing on a profile that is not a subscription one (a
LiteLLM proxy that strips the rate-limit headers bills a key all the same) — plus, with
include_subscription, its subscription traffic priced as the reports price it. Periods follow the
local zone: a day from midnight, a week from Monday 00:00, a month from the 1st (as the reports'
periods start, reports/context.py). A period is *spent* once its cost reaches the limit (equal
counts), *warn* from warn_pct of it.

The figures themselves come from the reports (reports/budgets.py) and, in the forwarder, from each
finished request (gateway/budget.py); this module holds only the rules and the config use-cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from ccgate.config import Config
from ccgate.errors import ConfigError, UsageError

PERIODS = ("day", "week", "month")
Period = Literal["day", "week", "month"]
ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}
DEFAULT_WARN_PCT = 80.0
MAX_USD = Decimal(1_000_000)
State = Literal["ok", "warn", "spent"]


@dataclass(frozen=True, slots=True)
class Budget:
    profile: str
    limits: dict[str, Decimal] = field(default_factory=dict)  # period -> USD
    warn_pct: float = DEFAULT_WARN_PCT
    include_subscription: bool = False

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {p: float(self.limits[p]) for p in PERIODS if p in self.limits}
        if self.warn_pct != DEFAULT_WARN_PCT:
            table["warn_pct"] = self.warn_pct
        if self.include_subscription:
            table["include_subscription"] = True
        return table


@dataclass(frozen=True, slots=True)
class Costs:
    """A profile's cost over a period, split by who paid (USD at list prices)."""

    api: Decimal = Decimal(0)
    subscription: Decimal = Decimal(0)
    unknown: Decimal = Decimal(0)

    def __add__(self, other: Costs) -> Costs:
        return Costs(self.api + other.api, self.subscription + other.subscription, self.unknown + other.unknown)


def counted(costs: Costs, budget: Budget) -> Decimal:
    """What of `costs` the budget counts: API-billed (and unknown) cost, plus subscription if asked."""
    return costs.api + costs.unknown + (costs.subscription if budget.include_subscription else Decimal(0))


def budget_state(spent: Decimal, limit: Decimal, warn_pct: float) -> State:
    if spent >= limit:
        return "spent"
    if spent >= limit * Decimal(str(warn_pct)) / 100:
        return "warn"
    return "ok"


def money(value: Decimal) -> str:
    """USD as people read it: cents from $1 up, four decimals below (a tiny budget stays visible)."""
    text = f"{value:.2f}" if value >= 1 else f"{value:.4f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


# --- periods ---------------------------------------------------------------------------------


def period_bounds(period: str, now: float, tz: tzinfo) -> tuple[float, float]:
    """The local period holding `now`: [start, end) in unix seconds, DST included."""
    today = datetime.fromtimestamp(now, tz).date()
    if period == "day":
        first, after = today, today + timedelta(days=1)
    elif period == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif period == "month":
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(period)
    return _midnight(first, tz), _midnight(after, tz)


def _midnight(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


# --- config.toml -------------------------------------------------------------------------------


def budgets_of(config: Config) -> dict[str, Budget]:
    """config.toml's [budgets.PROFILE] tables, checked when asked for (a bad one never stops `ccgate use`)."""
    return parse_budgets(config.path, config.data.get("budgets"))


def parse_budgets(path: Path, tables: Any) -> dict[str, Budget]:
    """[budgets.*] from config.toml, checked; a bad value names the file and the key."""
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{path}: [budgets] must be a table of [budgets.PROFILE] tables")
    return {name: _parse_one(path, name, table) for name, table in tables.items()}


def _parse_one(path: Path, name: str, table: Any) -> Budget:
    where = f"{path}: budgets.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table (day/week/month = USD)")
    limits: dict[str, Decimal] = {}
    for period in PERIODS:
        if period in table:
            limits[period] = _config_usd(f"{where}.{period}", table[period])
    warn = table.get("warn_pct", DEFAULT_WARN_PCT)
    if isinstance(warn, bool) or not isinstance(warn, int | float) or not 1 <= warn <= 100:
        raise ConfigError(f"{where}.warn_pct must be a number from 1 to 100; fix the file")
    include = table.get("include_subscription", False)
    if not isinstance(include, bool):
        raise ConfigError(f"{where}.include_subscription must be true or false; fix the file")
    if not limits:
        raise ConfigError(f"{where} sets no limit: add day, week or month (USD), or remove the table")
    return Budget(name, limits, float(warn), include)


def _config_usd(where: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be an amount in USD; fix the file")
    amount = Decimal(str(value))
    if not Decimal(0) < amount <= MAX_USD:
        raise ConfigError(f"{where} = {value} is out of range: use more than 0 and at most {MAX_USD}; fix the file")
    return amount


def parse_usd(option: str, text: str) -> Decimal | None:
    """A limit typed on the command line (`5`, `4.50`, `$5`); '' means "remove this limit"."""
    cleaned = text.strip().removeprefix("$").strip()
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise UsageError(f"{option} {text!r} is not an amount: write USD like 5 or 4.50 ('' removes it)") from None
    if not amount.is_finite() or not Decimal(0) < amount <= MAX_USD:
        raise UsageError(f"{option} {text!r} is out of range: use more than 0 and at most {MAX_USD} USD")
    return amount


def check_warn_pct(value: float) -> float:
    if not math.isfinite(value) or not 1 <= value <= 100:
        raise UsageError(f"--warn {value:g} is out of range: use a percentage from 1 to 100")
    return float(value)


# --- use-cases over the config (callers hold config.editing() and save) -----------------------


def set_budget(
    config: Config,
    profile: str,
    limits: Mapping[str, str | None],
    *,
    warn_pct: float | None = None,
    include_subscription: bool | None = None,
) -> Budget:
    """Add or change `profile`'s budget: each given limit is set ('' removes it), the others stay."""
    from ccgate.profiles import get_profile

    get_profile(config, profile)  # an unknown name gets its "did you mean"
    current = budgets_of(config).get(profile) or Budget(profile)
    merged = dict(current.limits)
    for period, text in limits.items():
        if text is None:
            continue
        amount = parse_usd(f"--{period}", text)
        if amount is None:
            merged.pop(period, None)
        else:
            merged[period] = amount
    if not merged:
        raise UsageError(f"a budget needs a limit: ccgate budget set {profile} --day USD (or --week, --month)")
    budget = Budget(
        profile,
        {p: merged[p] for p in PERIODS if p in merged},
        current.warn_pct if warn_pct is None else check_warn_pct(warn_pct),
        current.include_subscription if include_subscription is None else include_subscription,
    )
    config.data.setdefault("budgets", {})[profile] = budget.to_table()
    return budget


def remove_budget(config: Config, profile: str) -> None:
    tables = config.data.get("budgets") or {}
    if profile not in tables:
        from ccgate.profiles import suggestion

        hint = suggestion(profile, tables)
        raise UsageError(f"profile {profile!r} has no budget{'; ' + hint if hint else ''}; see `ccgate budget list`")
    del tables[profile]


def rename_budget(config: Config, old: str, new: str) -> None:
    """A profile's budget follows it when the profile is renamed."""
    tables = config.data.get("budgets") or {}
    if old in tables:
        tables[new] = tables.pop(old)


def drop_budget(config: Config, profile: str) -> None:
    """A removed profile's budget goes with it."""
    (config.data.get("budgets") or {}).pop(profile, None)
