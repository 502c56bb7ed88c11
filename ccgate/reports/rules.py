"""The rules every figure follows, each decided in exactly one place.

- A request is an *error* when its status is 400 or more or it did not end normally.
- A request *needs a price* when it carries tokens or web searches; one that does not (a refusal,
  an empty answer) costs nothing, priced model or not.
- Its *prompt* is input + cache reads + cache writes: the figure Anthropic's long-context tiers
  are decided on, per request, against the model's own tier start (pricing.py knows the starts).
- *Subscription traffic*: billed to the subscription per the response headers, or of unknown
  billing on a profile that uses a subscription login (max-oauth, claude-login, or a LiteLLM
  profile riding on a max-oauth profile's token).
- A profile's rate *limits belong to an account*: the account id its requests named, else the
  max-oauth profile it rides on, else the profile itself (a setup-token names no account).

Several rules also exist as SQL for the reports' GROUP BY; the two forms are generated from the
same constants here and tested against each other (tests/reports/test_rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from types import MappingProxyType
from typing import Any, NamedTuple

SUBSCRIPTION_KINDS = frozenset({"max-oauth", "claude-login"})
ERROR_SQL = "(status >= 400 OR outcome != 'ok')"
PROMPT_SQL = (
    "(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_write_other_tokens)"
)
# Claude Code's requests through the gateway, seen by the forwarder and/or in its transcripts.
SEEN_GATEWAY, SEEN_TRANSCRIPT = 1, 2
SOURCES = {"all": None, "gateway": SEEN_GATEWAY, "transcripts": SEEN_TRANSCRIPT}
# US-only inference (`usage.inference_geo == "us"`): every token class at 1.1x the list price.
# Source: Claude Platform on AWS, "Data residency" ("US: … A 1.1x pricing multiplier applies"),
# the same `inference_geo` parameter Anthropic's data-residency page documents; genai-prices 0.2.3
# has no such rule. Web searches are billed per search and keep their price.
US_GEO = "us"
US_MULTIPLIER = Decimal("1.1")


def is_error(status: int, outcome: str) -> bool:
    return status >= 400 or outcome != "ok"


@dataclass(slots=True)
class TokenSums:
    """Token classes of one request or a group of requests that share a price."""

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_write_other: int = 0
    output: int = 0
    web_search: int = 0

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h + self.cache_write_other

    @property
    def prompt(self) -> int:
        return self.input + self.cache_read + self.cache_write

    @property
    def total(self) -> int:
        return self.prompt + self.output


def needs_price(sums: TokenSums) -> bool:
    return sums.total > 0 or sums.web_search > 0


# `needs_price` of one `requests` row, in SQL: groups count their requests that need a price, so a
# refused request of a model no source prices is never counted as unpriced usage.
NEEDS_PRICE_SQL = f"({PROMPT_SQL} + output_tokens > 0 OR web_search_requests > 0)"


# The columns of `requests` that carry priced usage, in TokenSums' order.
PRICED_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_other_tokens",
    "output_tokens",
    "web_search_requests",
)


def sums_of(row: Mapping[str, Any]) -> TokenSums:
    """The token classes of a `requests` row (or UsageRecord fields as a mapping)."""
    return TokenSums(*(row[column] or 0 for column in PRICED_COLUMNS))


# --- the price card of one request: prompt band, US-only inference, fast mode -------------------


# The immutable records the reports import are NamedTuples, not frozen dataclasses: on Python 3.11
# a frozen dataclass costs ~0.9 ms to create at import, a NamedTuple ~0.06 ms, and the status line
# and every report pay their imports on each run.
class Card(NamedTuple):
    """What, besides the model and the date, decides a request's price."""

    prompt_floor: int  # 0, or one more than the highest tier start the prompt exceeds
    us: bool
    fast: bool


def band_of(prompt: int, edges: Sequence[int]) -> int:
    """How many of the tier starts `edges` the prompt exceeds (a tier applies above its start)."""
    return sum(1 for edge in edges if prompt > edge)


def band_sql(edges: Sequence[int], prompt: str = PROMPT_SQL) -> str:
    return "(" + " + ".join(f"({prompt} > {int(edge)})" for edge in edges) + ")" if edges else "0"


def card_code_sql(edges: Sequence[int]) -> str:
    """SQL for `card_code`: band * 4 + US-only * 2 + fast, over a `requests` row."""
    return f"({band_sql(edges)} * 4 + (COALESCE(inference_geo, '') = 'us') * 2 + (COALESCE(speed, '') = 'fast'))"


def card_code(prompt: int, inference_geo: str | None, speed: str | None, edges: Sequence[int]) -> int:
    return band_of(prompt, edges) * 4 + (inference_geo == US_GEO) * 2 + (speed == "fast")


@cache  # a report decodes the same few codes once per group (100,000s for --by session)
def decode_card(code: int, edges: tuple[int, ...]) -> Card:
    band = code >> 2
    return Card(prompt_floor=edges[band - 1] + 1 if band else 0, us=bool(code & 2), fast=bool(code & 1))


def card_of(prompt: int, inference_geo: str | None, speed: str | None, edges: Sequence[int]) -> Card:
    return decode_card(card_code(prompt, inference_geo, speed, edges), tuple(edges))


# --- price periods: list prices change on dates (UTC midnights) ----------------------------------


def epoch_of(ts: float, instants: Sequence[float]) -> int:
    """Which price period `ts` falls in: how many price changes happened at or before it."""
    return sum(1 for t in instants if ts >= t)


def epoch_sql(instants: Sequence[float], ts: str = "ts") -> str:
    return "(" + " + ".join(f"({ts} >= {int(t)})" for t in instants) + ")" if instants else "0"


# --- who pays, and whose limits ----------------------------------------------------------------


class ProfileSet(NamedTuple):
    """What the rules need to know of the configured profiles (never a secret)."""

    kinds: Mapping[str, str] = MappingProxyType({})
    rides_on: Mapping[str, str] = MappingProxyType({})  # litellm profile -> the max-oauth profile

    @classmethod
    def from_tables(cls, tables: Mapping[str, Any]) -> ProfileSet:
        """From config.toml's raw [profiles] tables, so one odd profile cannot hide the rest."""
        kinds, rides = {}, {}
        for name, table in tables.items():
            if isinstance(table, Mapping):
                kinds[name] = str(table.get("kind"))
                if isinstance(table.get("via_max"), str):
                    rides[name] = table["via_max"]
        return cls(kinds, rides)

    def uses_subscription(self, profile: str | None) -> bool:
        if profile is None:
            return False
        return self.kinds.get(profile) in SUBSCRIPTION_KINDS or profile in self.rides_on

    @property
    def subscription_profiles(self) -> list[str]:
        return sorted(name for name in self.kinds if self.uses_subscription(name))

    def account_key(self, profile: str | None, account_id: str | None) -> str:
        if account_id:
            return f"account:{account_id}"
        if profile is not None and profile in self.rides_on:
            return f"profile:{self.rides_on[profile]}"
        return f"profile:{profile or '-'}"


API_ON_SUBSCRIPTION = "api_on_subscription"
BILLING_CLASSES = ("subscription", "api", API_ON_SUBSCRIPTION, "unknown")


def billing_class(billing: str, profile: str | None, profiles: ProfileSet) -> str:
    """Who paid: subscription, api, unknown, or api_on_subscription — a subscription profile's
    request that came back billed to an API key (the plan did not pay; worth a warning)."""
    if profiles.uses_subscription(profile):
        if billing == "unknown":
            return "subscription"
        if billing == "api":
            return API_ON_SUBSCRIPTION
    return billing


def sql_text(text: str) -> str:
    """`text` as an SQL string literal (names from config.toml and the log; none may hold a NUL)."""
    return "'" + text.replace("'", "''") + "'"


def billing_sql(profiles: ProfileSet, profile_column: str = "profile") -> str:
    """`billing_class` in SQL."""
    names = profiles.subscription_profiles
    if not names:
        return "billing"
    listed = ", ".join(sql_text(name) for name in names)
    return (
        f"(CASE WHEN {profile_column} IN ({listed}) THEN"
        f" (CASE billing WHEN 'unknown' THEN 'subscription' WHEN 'api' THEN '{API_ON_SUBSCRIPTION}' ELSE billing END)"
        " ELSE billing END)"
    )


def is_api_billed(billing_class_: str) -> bool:
    return billing_class_ in ("api", API_ON_SUBSCRIPTION)
