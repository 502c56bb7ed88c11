"""5-hour blocks: a subscription account's usage in the windows its limits count, with the real figures.

Only subscription traffic counts (rules.billing_class), and each account has its own blocks:
API-key and LiteLLM traffic in the same hours is reported beside them (`other_traffic`), never
inside. A block opens with the account's first request after its previous block ended and lasts
five hours. Where the log has the upstream's `anthropic-ratelimit-unified-5h-reset` for that
request the window is taken from it ([reset - 5h, reset): the real window); otherwise it starts
at the hour the request fell in (ccusage's estimate) and the block says `"window": "estimated"`.
Each block carries the latest utilization figures its account's profiles reported inside it.

SQL groups by (minute, profile, account, model, card, period); Python walks the minutes in order
per account, which keeps a million-row log fast while staying exact to the minute.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ccgate.reports import limits
from ccgate.reports.context import ReportContext
from ccgate.reports.rules import TokenSums, billing_sql, card_code_sql, decode_card, epoch_sql, needs_price

BLOCK_S = 5 * 3600
MINUTE_S = 60

MINUTE_SQL = """
SELECT CAST(ts / 60 AS INTEGER) AS mnt, profile, account_id, COALESCE(model, request_model) AS m, {card} AS card,
       {epoch} AS e, {billing} = 'subscription' AS sub,
       COUNT(*), SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_write_other_tokens), SUM(output_tokens), SUM(web_search_requests), MIN(ts), MAX(ts),
       MAX(rl_5h_reset)
FROM requests WHERE endpoint = 'messages' AND ts >= ? AND ts < ?
GROUP BY mnt, profile, account_id, m, card, e, sub ORDER BY mnt
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

    def add(self, sums: TokenSums, count: int, cost: Decimal | None, model: str | None) -> None:
        self.requests += count
        self.input += sums.input
        self.cache_read += sums.cache_read
        self.cache_write += sums.cache_write
        self.output += sums.output
        if cost is not None:
            self.cost += cost
        elif needs_price(sums):
            self.unpriced_requests += count
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


def build_blocks(conn: sqlite3.Connection, ctx: ReportContext) -> tuple[dict[str, list[Block]], Other]:
    """Each subscription account's blocks in the context's range, and the rest of the traffic."""
    edges, instants = ctx.pricer.edges, ctx.pricer.instants
    sql = MINUTE_SQL.format(card=card_code_sql(edges), epoch=epoch_sql(instants), billing=billing_sql(ctx.profiles))
    blocks: dict[str, list[Block]] = {}
    other = Other()
    for r in conn.execute(sql, (ctx.since, ctx.until)):
        profile, account_id, model, card, epoch, sub, count = r[1], r[2], r[3], r[4], r[5], r[6], r[7]
        sums = TokenSums(*r[8:15])  # SUMs of NOT NULL columns over at least one row
        first, last, reset = r[15], r[16], r[17]
        cost = ctx.pricer.cost(model, sums, decode_card(card, edges), epoch)
        if not sub:
            other.requests += count
            other.tokens += sums.total
            other.cost += cost or 0
            other.unpriced_requests += count if cost is None and needs_price(sums) else 0
            continue
        own = blocks.setdefault(ctx.profiles.account_key(profile, account_id), [])
        if not own or first >= own[-1].end:
            own.append(_open_block(first, reset))
            own[-1].first_ts = first
        block = own[-1]
        block.first_ts = min(block.first_ts, first)
        block.last_ts = max(block.last_ts, last)
        block.profiles.add(profile or "-")
        block.add(sums, count, cost, model)
    ctx.pricer.save()
    return blocks, other


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
