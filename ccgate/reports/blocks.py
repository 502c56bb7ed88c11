"""5-hour blocks: a subscription account's usage in the windows its limits count, with the real figures.

Only subscription traffic counts (rules.billing_class), and each account has its own blocks:
API-key and LiteLLM traffic in the same hours is reported beside them (`other_traffic`), never
inside. A block opens with the account's first request after its previous block ended and lasts
five hours. Where the log has the upstream's `anthropic-ratelimit-unified-5h-reset` for that
request the window is taken from it ([reset - 5h, reset): the real window); otherwise it starts
at the hour the request fell in (ccusage's estimate) and the block says `"window": "estimated"`.
Each block carries the latest utilization figures its account's profiles reported inside it.

The walk is exact to the second: SQL groups by (second, profile, account, model, card, period)
and Python takes the seconds in order per account (window edges are whole seconds: the header's
reset, or an hour). Most hours lie wholly inside one block, though, and for those the seconds
cannot change the answer: whole UTC hours are read from the log's hourly sums, and only the
hours where an account's block opens or ends (and the partial hours at the range's ends) from
the raw rows, second by second.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ccgate.reports import limits
from ccgate.reports.context import ReportContext
from ccgate.reports.groups import summed_hours
from ccgate.reports.rules import NEEDS_PRICE_SQL, TokenSums, billing_sql, card_code_sql, decode_card, epoch_sql
from ccgate.usage.db import LEDGER_ROLLUP_EDGES

BLOCK_S = 5 * 3600
MINUTE_S = 60

SECOND_SQL = """
SELECT CAST(ts AS INTEGER) AS sec, profile, account_id, COALESCE(model, request_model) AS m, {card} AS card,
       {epoch} AS e, {billing} = 'subscription' AS sub,
       COUNT(*), SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_write_other_tokens), SUM(output_tokens), SUM(web_search_requests), MIN(ts), MAX(ts),
       MAX(rl_5h_reset), SUM(CASE WHEN {needs_price} THEN 1 ELSE 0 END)
FROM requests WHERE endpoint = 'messages' AND ts >= ? AND ts < ?
GROUP BY sec, profile, account_id, m, card, e, sub ORDER BY sec
"""

# The same columns over the hourly sums (one row per hour and key; the sums carry no reset).
HOUR_SQL = """
SELECT hour, NULLIF(profile, ''), NULLIF(account_id, ''), NULLIF(model, '') AS m, card, {epoch} AS e,
       {billing} = 'subscription' AS sub,
       SUM(requests), SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_write_other_tokens), SUM(output_tokens), SUM(web_search_requests), MIN(first_ts), MAX(last_ts), NULL,
       SUM(priced)
FROM hourly WHERE hour BETWEEN ? AND ?
GROUP BY hour, profile, account_id, m, card, e, sub ORDER BY hour
"""


@dataclass(slots=True)
class Block:
    start: float
    end: float
    window: str  # "headers" (from the reset header) or "estimated" (hour of the first request)
    first_ts: float = 0.0
    last_ts: float = 0.0
    requests: int = 0
    input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output: int = 0
    cost: Decimal = Decimal(0)
    unpriced_requests: int = 0
    unpriced_models: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)

    @property
    def tokens(self) -> int:
        return self.input + self.cache_read + self.cache_write + self.output

    def add(self, sums: TokenSums, count: int, priced: int, cost: Decimal | None, model: str | None) -> None:
        self.requests += count
        self.input += sums.input
        self.cache_read += sums.cache_read
        self.cache_write += sums.cache_write
        self.output += sums.output
        if cost is not None:
            self.cost += cost
        elif priced:
            self.unpriced_requests += priced
            self.unpriced_models.add(model or "?")


@dataclass(slots=True)
class Other:
    """Traffic in the range that no subscription paid for."""

    requests: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "total_tokens": self.tokens,
            "cost_usd": _usd(self.cost),
            "unpriced_requests": self.unpriced_requests,
        }


def _open_block(first_ts: float, reset: int | None) -> Block:
    if reset is not None and reset - BLOCK_S <= first_ts < reset:
        return Block(start=float(reset - BLOCK_S), end=float(reset), window="headers")
    start = float(int(first_ts // 3600) * 3600)
    return Block(start=start, end=start + BLOCK_S, window="estimated")


class _Walk:
    """The blocks walk: takes grouped rows (SECOND_SQL's or HOUR_SQL's columns, their cards coded over
    `edges`) in time order per account."""

    def __init__(self, ctx: ReportContext) -> None:
        self.ctx = ctx
        self.blocks: dict[str, list[Block]] = {}
        self.other = Other()

    def key(self, r: Any) -> str:
        return self.ctx.profiles.account_key(r[1], r[2])

    def covers(self, key: str, until: float) -> bool:
        """Whether the account's current block lasts at least until `until`."""
        own = self.blocks.get(key)
        return own is not None and own[-1].end >= until

    def take(self, r: Any, edges: tuple[int, ...], key: str | None = None) -> None:
        model, card, epoch, sub, count = r[3], r[4], r[5], r[6], r[7]
        sums = TokenSums(*r[8:15])  # SUMs of NOT NULL columns over at least one row
        first, last, reset, priced = r[15], r[16], r[17], r[18]
        cost = self.ctx.pricer.cost(model, sums, decode_card(card, edges), epoch)
        if not sub:
            self.other.requests += count
            self.other.tokens += sums.total
            self.other.cost += cost or 0
            self.other.unpriced_requests += priced if cost is None else 0
            return
        own = self.blocks.setdefault(key or self.key(r), [])
        if not own or first >= own[-1].end:
            own.append(_open_block(first, reset))
            own[-1].first_ts = first
        block = own[-1]
        block.first_ts = min(block.first_ts, first)
        block.last_ts = max(block.last_ts, last)
        block.profiles.add(r[1] or "-")
        block.add(sums, count, priced, cost, model)


def build_blocks(conn: sqlite3.Connection, ctx: ReportContext) -> tuple[dict[str, list[Block]], Other]:
    """Each subscription account's blocks in the context's range, and the rest of the traffic."""
    hours = summed_hours(conn, ctx.since, ctx.until, ctx.pricer)
    if hours is None:
        walk = _Walk(ctx)
        for r in _seconds(conn, ctx, ctx.since, ctx.until):
            walk.take(r, ctx.pricer.edges)
    else:
        walk = _walk_hours(conn, ctx, *hours)
    ctx.pricer.save()
    return walk.blocks, walk.other


def _walk_hours(conn: sqlite3.Connection, ctx: ReportContext, h0: int, h1: int) -> _Walk:
    """The walk over the hourly sums of [h0, h1], the raw seconds of the partial hours around them,
    and, for an account whose block does not cover an hour wholly, that hour's raw seconds."""
    walk, raw_edges = _Walk(ctx), ctx.pricer.edges
    for r in _seconds(conn, ctx, ctx.since, h0 * 3600):
        walk.take(r, raw_edges)
    sql = HOUR_SQL.format(epoch=epoch_sql(ctx.pricer.instants, ts="hour * 3600"), billing=billing_sql(ctx.profiles))
    for hour, rows in itertools.groupby(conn.execute(sql, (h0, h1)), key=lambda r: int(r[0])):
        start, end = hour * 3600, hour * 3600 + 3600
        raw: dict[str, list[Any]] | None = None
        by_second: set[str] = set()  # accounts whose hour the seconds answered
        for r in rows:
            if not r[6]:
                walk.take(r, LEDGER_ROLLUP_EDGES)
                continue
            key = walk.key(r)
            if key in by_second:
                continue
            if walk.covers(key, end):
                walk.take(r, LEDGER_ROLLUP_EDGES, key)
                continue
            if raw is None:  # an edge of some block falls in this hour: its seconds decide
                raw = {}
                for m in _seconds(conn, ctx, start, end):
                    if m[6]:
                        raw.setdefault(walk.key(m), []).append(m)
            by_second.add(key)
            for m in raw.get(key, []):
                walk.take(m, raw_edges, key)
    for r in _seconds(conn, ctx, max(ctx.since, (h1 + 1) * 3600), ctx.until):
        walk.take(r, raw_edges)
    return walk


def _seconds(conn: sqlite3.Connection, ctx: ReportContext, since: float, until: float) -> Iterator[Any]:
    if since >= until:
        return iter(())
    edges, instants = ctx.pricer.edges, ctx.pricer.instants
    sql = SECOND_SQL.format(
        card=card_code_sql(edges),
        epoch=epoch_sql(instants),
        billing=billing_sql(ctx.profiles),
        needs_price=NEEDS_PRICE_SQL,
    )
    return iter(conn.execute(sql, (since, until)))


def _usd(value: Decimal | float) -> float:
    return float(round(Decimal(value), 6))


def block_dict(b: Block, now: float) -> dict[str, Any]:
    active = b.start <= now < b.end
    out: dict[str, Any] = {
        "start": b.start,
        "end": b.end,
        "window": b.window,
        "active": active,
        "first_ts": b.first_ts,
        "last_ts": b.last_ts,
        "requests": b.requests,
        "input_tokens": b.input,
        "cache_write_tokens": b.cache_write,
        "cache_read_tokens": b.cache_read,
        "output_tokens": b.output,
        "total_tokens": b.tokens,
        "cost_usd": _usd(b.cost) if b.requests > b.unpriced_requests or not b.unpriced_requests else None,
        "unpriced_requests": b.unpriced_requests,
        "unpriced_models": sorted(b.unpriced_models),
        "profiles": sorted(b.profiles),
    }
    if active:
        out.update(burn_rate(b, now))
    return out


def burn_rate(b: Block, now: float) -> dict[str, Any]:
    """Tokens per minute and cost per hour over the block's activity so far, projected to its end."""
    minutes = max((b.last_ts - b.first_ts) / MINUTE_S, 1.0)
    tokens_per_min = b.tokens / minutes
    cost_per_hour = float(b.cost) / minutes * 60
    remaining_min = max(b.end - now, 0) / MINUTE_S
    return {
        "minutes_remaining": round(remaining_min, 1),
        "burn_tokens_per_min": round(tokens_per_min, 1),
        "burn_cost_per_hour_usd": round(cost_per_hour, 6),
        "projected_total_tokens": round(b.tokens + tokens_per_min * remaining_min),
        "projected_cost_usd": round(float(b.cost) + cost_per_hour * remaining_min / 60, 6),
    }


def blocks_report(conn: sqlite3.Connection | None, ctx: ReportContext, *, profile: str | None = None) -> dict[str, Any]:
    """Per subscription account: its blocks in the range (the active one flagged, each with the
    figures its profiles reported inside it), and beside them the traffic no subscription paid."""
    now = ctx.now
    known = limits.accounts(conn, ctx.profiles, now)
    members = {a.key: a.profiles for a in known}
    blocks, other = build_blocks(conn, ctx) if conn is not None else ({}, Other())
    accounts = []
    for key in sorted(blocks, key=lambda k: -blocks[k][-1].last_ts):
        names = sorted({*members.get(key, []), *(p for b in blocks[key] for p in b.profiles)})
        if profile is not None and profile not in names:
            continue
        rows = []
        for b in blocks[key]:
            row = block_dict(b, now)
            row["rate_limits"] = limits.latest(conn, b.start, b.end, names) if conn is not None else None
            rows.append(row)
        accounts.append(
            {
                "account": key,
                "profiles": names,
                "blocks": rows,
                "active": next((r for r in rows if r["active"]), None),
                "rate_limits": limits.current(limits.latest(conn, ctx.since, ctx.until, names), now)
                if conn is not None
                else None,
            }
        )
    return {
        "since": ctx.since,
        "until": ctx.until,
        "now": now,
        "range": ctx.range_label(),
        "accounts": accounts,
        "other_traffic": other.to_dict(),
    }
