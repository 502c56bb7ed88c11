"""`ccgate statusline`: Claude Code's statusLine command (JSON on stdin, one line on stdout).

It runs on every prompt, so it stays off the slow paths: no rich, and no genai-prices import
once the rate cards it needs are in the price cache file (pricing.Pricer). Two indexed SQL
queries (today's rows by ts, this session's by session_id), each grouped by model and tier.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from ccgate.reports.pricing import FAST_SQL, LONG_CONTEXT_SQL, Pricer, TokenSums

COST_SQL = """
SELECT COALESCE(model, request_model), {long}, {fast}, COUNT(*), SUM(input_tokens), SUM(cache_read_tokens),
       SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cache_write_other_tokens), SUM(output_tokens),
       SUM(web_search_requests)
FROM requests WHERE endpoint = 'messages' AND {where}
GROUP BY 1, 2, 3
"""


def priced_sum(conn: sqlite3.Connection, pricer: Pricer, where: str, params: list[Any]) -> tuple[Decimal, int]:
    """Cost of the matching rows and how many of them had no price."""
    total, unpriced = Decimal(0), 0
    for r in conn.execute(COST_SQL.format(long=LONG_CONTEXT_SQL, fast=FAST_SQL, where=where), params):
        sums = TokenSums(*(v or 0 for v in r[4:11]))
        cost = pricer.cost(r[0], sums, bool(r[1]), bool(r[2]))
        if cost is None:
            unpriced += r[3]
        else:
            total += cost
    return total, unpriced


def statusline_data(
    conn: sqlite3.Connection | None, pricer: Pricer, session_id: str | None, tz: tzinfo, now: float | None = None
) -> dict[str, Any]:
    now = time.time() if now is None else now
    out: dict[str, Any] = {"today_usd": None, "session_usd": None, "rate_limits": None}
    if conn is None:
        return out
    local = datetime.fromtimestamp(now, tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=tz).timestamp()
    out["today_usd"], out["today_unpriced"] = priced_sum(conn, pricer, "ts >= ?", [midnight])
    if session_id:
        out["session_usd"], out["session_unpriced"] = priced_sum(conn, pricer, "session_id = ?", [session_id])
    row = conn.execute(
        "SELECT rl_5h_utilization, rl_5h_reset, rl_7d_utilization, rl_7d_reset FROM requests "
        "WHERE ts >= ? AND rl_5h_utilization IS NOT NULL ORDER BY ts DESC LIMIT 1",
        (now - timedelta(days=7).total_seconds(),),
    ).fetchone()
    if row is not None:
        out["rate_limits"] = {
            "utilization_5h": row[0],
            "reset_5h": row[1],
            "utilization_7d": row[2],
            "reset_7d": row[3],
        }
    pricer.save()
    return out


def _money(value: Decimal | None, unpriced: int) -> str:
    if value is None:
        return "-"
    if unpriced and not value:
        return "unpriced"
    return f"${value:.2f}" + ("+?" if unpriced else "")


def format_line(data: dict[str, Any], stdin: dict[str, Any], tz: tzinfo, now: float | None = None) -> str:
    """`ccgate · today $1.23 · session $0.45 · 5h 42% ↻15:00`; falls back to Claude Code's own figures.

    A logged utilization whose window has already reset says nothing about the current window: it
    is dropped rather than shown stale."""
    now = time.time() if now is None else now
    parts = ["ccgate"]
    parts.append("today " + _money(data["today_usd"], data.get("today_unpriced", 0)))
    if data["session_usd"] is not None:
        parts.append("session " + _money(data["session_usd"], data.get("session_unpriced", 0)))
    rl = data["rate_limits"]
    utilization, reset = (rl["utilization_5h"], rl["reset_5h"]) if rl else (None, None)
    if isinstance(reset, int | float) and reset <= now:
        utilization, reset = None, None
    if utilization is None:
        five = (stdin.get("rate_limits") or {}).get("five_hour") or {}
        if isinstance(five.get("used_percentage"), int | float):
            utilization, reset = five["used_percentage"] / 100, five.get("resets_at")
    if utilization is not None:
        text = f"5h {utilization * 100:.0f}%"
        if isinstance(reset, int | float):
            text += " ↻" + datetime.fromtimestamp(reset, tz).strftime("%H:%M")
        parts.append(text)
    return " · ".join(parts)


def main() -> None:
    """The whole command; never fails, since Claude Code shows whatever the first line is.

    Imports only what it needs so that a launcher can call it without loading the CLI."""
    import json
    import sys

    try:
        from ccgate.config import Config, load_config
        from ccgate.errors import CcgateError
        from ccgate.reports.pricing import Pricer, default_cache_file
        from ccgate.reports.timespec import resolve_tz
        from ccgate.usage import store

        try:
            stdin = json.loads(sys.stdin.read() or "{}")
        except ValueError:
            stdin = {}
        if not isinstance(stdin, dict):
            stdin = {}
        tz = resolve_tz(None)
        try:
            config, problem = load_config(), ""
        except CcgateError:
            # The figures at list prices are still worth showing; what is wrong, doctor tells.
            config, problem = Config(Path(), {}), " · config.toml broken: ccgate doctor"
        pricer = Pricer.from_config(config, default_cache_file())
        conn = store.connect_reader()
        session = stdin.get("session_id") if isinstance(stdin.get("session_id"), str) else None
        print(format_line(statusline_data(conn, pricer, session, tz), stdin, tz) + problem)
    except Exception as exc:  # a status line must never break the prompt
        print(f"ccgate: {type(exc).__name__}")
