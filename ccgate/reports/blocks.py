"""5-hour blocks: usage in the windows Anthropic's subscription limits count, plus the real figures.

A block opens with the first request after the previous block ended and lasts five hours.
Where the log has the upstream's `anthropic-ratelimit-unified-5h-reset` for that request,
the window is taken from it ([reset - 5h, reset): the real window); otherwise it starts at the
hour the request fell in (ccusage's estimate) and the block says `"window": "estimated"`.
Each block carries the latest 5h/7d utilization and reset times the upstream reported inside it.

SQL groups by (minute, model, tier, speed); Python walks the minutes in order, which keeps a
million-row log fast while staying exact to the minute for block assignment.
Pure functions: the dashboard calls `blocks_report` too.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ccgate.reports.pricing import FAST_SQL, LONG_CONTEXT_SQL, Pricer, TokenSums

BLOCK_S = 5 * 3600
MINUTE_S = 60

MINUTE_SQL = """
SELECT CAST(ts / 60 AS INTEGER) AS mnt, COALESCE(model, request_model) AS m, {long} AS lc, {fast} AS fast,
       COUNT(*), SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_write_other_tokens), SUM(output_tokens), SUM(web_search_requests), MIN(ts), MAX(ts),
       MAX(rl_5h_reset)
FROM requests WHERE {where}
GROUP BY mnt, m, lc, fast ORDER BY mnt
"""

RATE_LIMIT_SQL = """
SELECT ts, rl_5h_utilization, rl_5h_reset, rl_7d_utilization, rl_7d_reset, rl_5h_status, rl_7d_status,
       rl_representative_claim
FROM requests WHERE ts >= ? AND ts < ? AND (rl_5h_utilization IS NOT NULL OR rl_7d_utilization IS NOT NULL)
{profile} ORDER BY ts DESC LIMIT 1
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

    @property
    def tokens(self) -> int:
        return self.input + self.cache_read + self.cache_write + self.output


def latest_rate_limits(
    conn: sqlite3.Connection, since: float, until: float, profile: str | None = None
) -> dict[str, Any] | None:
    """The newest utilization/reset figures the upstream sent in [since, until), as fractions (0-1+)."""
    params: list[Any] = [since, until]
    clause = ""
    if profile:
        clause = "AND profile = ?"
        params.append(profile)
    row = conn.execute(RATE_LIMIT_SQL.format(profile=clause), params).fetchone()
    if row is None:
        return None
    keys = ("ts", "utilization_5h", "reset_5h", "utilization_7d", "reset_7d", "status_5h", "status_7d", "binding")
    return dict(zip(keys, tuple(row), strict=True))


def _where(since: float, until: float, profile: str | None) -> tuple[str, list[Any]]:
    clauses = ["endpoint = 'messages'", "ts >= ?", "ts < ?"]
    params: list[Any] = [since, until]
    if profile:
        clauses.append("profile = ?")
        params.append(profile)
    return " AND ".join(clauses), params


def _open_block(first_ts: float, reset: int | None) -> Block:
    if reset is not None and reset - BLOCK_S <= first_ts < reset:
        return Block(start=float(reset - BLOCK_S), end=float(reset), window="headers")
    start = float(int(first_ts // 3600) * 3600)
    return Block(start=start, end=start + BLOCK_S, window="estimated")


def build_blocks(
    conn: sqlite3.Connection, pricer: Pricer, since: float, until: float, profile: str | None
) -> list[Block]:
    where, params = _where(since, until, profile)
    sql = MINUTE_SQL.format(long=LONG_CONTEXT_SQL, fast=FAST_SQL, where=where)
    blocks: list[Block] = []
    current: Block | None = None
    for r in conn.execute(sql, params):
        model, long_context, fast, count = r[1], bool(r[2]), bool(r[3]), r[4]
        sums = TokenSums(r[5] or 0, r[6] or 0, r[7] or 0, r[8] or 0, r[9] or 0, r[10] or 0, r[11] or 0)
        first, last, reset = r[12], r[13], r[14]
        if current is None or first >= current.end:
            current = _open_block(first, reset)
            current.first_ts = first
            blocks.append(current)
        b = current
        b.last_ts = max(b.last_ts, last)
        b.first_ts = min(b.first_ts, first)
        b.requests += count
        b.input += sums.input
        b.cache_read += sums.cache_read
        b.cache_write += sums.cache_write_5m + sums.cache_write_1h + sums.cache_write_other
        b.output += sums.output
        cost = pricer.cost(model, sums, long_context, fast)
        if cost is None:
            if sums.input or sums.output or sums.cache_read or sums.cache_write_5m or sums.cache_write_1h:
                b.unpriced_requests += count
                b.unpriced_models.add(model or "?")
        else:
            b.cost += cost
    pricer.save()
    return blocks


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


def blocks_report(
    conn: sqlite3.Connection,
    pricer: Pricer,
    since: float,
    until: float,
    *,
    profile: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Blocks in [since, until), each with the rate-limit figures recorded inside it; the active one flagged."""
    now = time.time() if now is None else now
    blocks = build_blocks(conn, pricer, since, until, profile)
    rows = []
    for b in blocks:
        row = block_dict(b, now)
        row["rate_limits"] = latest_rate_limits(conn, b.start, b.end, profile)
        rows.append(row)
    active = next((r for r in rows if r["active"]), None)
    return {
        "since": since,
        "until": until,
        "now": now,
        "blocks": rows,
        "active": active,
        "rate_limits": latest_rate_limits(conn, since, until, profile),
    }
