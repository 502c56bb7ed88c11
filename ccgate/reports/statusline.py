"""`ccgate statusline`: Claude Code's statusLine command (JSON on stdin, one line on stdout).

It runs on every prompt, so it stays off the slow paths: no rich, and no genai-prices import
once the rate cards it needs are in the price cache file (pricing.Pricer). Its figures are the
reports' own: today and this session through `stats_report` (the hourly sums and an indexed
session read), limits through reports/limits.py, for the account of the session's profile. It
opens the usage log read-only and never upgrades it: a log from an older ccgate shows no figures.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from ccgate.reports import limits
from ccgate.reports.context import ReportContext
from ccgate.reports.stats import query, stats_report


def _spend(conn: sqlite3.Connection, ctx: ReportContext, **filters: Any) -> tuple[Decimal, int]:
    """Cost of the matching rows at list prices and how many of them, with tokens, had no price."""
    totals = stats_report(conn, ctx, query(ctx, "billing", **filters)).totals
    return Decimal(str(totals["cost_usd"] or 0)), totals["unpriced_requests"]


def statusline_data(conn: sqlite3.Connection | None, ctx: ReportContext, session_id: str | None) -> dict[str, Any]:
    from ccgate import alerts

    out: dict[str, Any] = {"today_usd": None, "session_usd": None, "rate_limits": None}
    out["alerts"] = [a.title for a in alerts.current(ctx.now)]
    if conn is None:
        return out
    local = datetime.fromtimestamp(ctx.now, ctx.tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=ctx.tz).timestamp()
    ctx.since, ctx.until = midnight, ctx.now + 1
    out["today_usd"], out["today_unpriced"] = _spend(conn, ctx)
    if session_id:
        ctx.since, ctx.until = 0.0, ctx.now + 1
        out["session_usd"], out["session_unpriced"] = _spend(conn, ctx, session=session_id)
    out["rate_limits"] = session_limits(conn, ctx, session_id)
    return out


def session_limits(conn: sqlite3.Connection, ctx: ReportContext, session_id: str | None) -> dict[str, Any] | None:
    """The current figures of the account the session's profile belongs to (without a session: the newest)."""
    row = None
    if session_id:
        row = conn.execute(
            "SELECT profile FROM requests WHERE session_id = ? AND profile IS NOT NULL ORDER BY ts DESC LIMIT 1",
            (session_id,),
        ).fetchone()
    if row is not None:
        account = limits.account_of(conn, ctx.profiles, row[0], ctx.now)
        return account.latest if account is not None else None
    return limits.current(limits.latest(conn, ctx.now - limits.LOOKBACK_S, ctx.now + 1), ctx.now)


def _money(value: Decimal | None, unpriced: int) -> str:
    if value is None:
        return "-"
    if unpriced and not value:
        return "unpriced"
    return f"${value:.2f}" + ("+?" if unpriced else "")


def format_line(data: dict[str, Any], stdin: dict[str, Any], tz: tzinfo) -> str:
    """`ccgate · today $1.23 · session $0.45 · 5h 42% ↻15:00 · ⚠ api: daily budget 85% used`; falls back
    to Claude Code's own figures.

    A window whose reset has passed says nothing about the current one: limits.current empties it."""
    parts = ["ccgate"]
    parts.append("today " + _money(data["today_usd"], data.get("today_unpriced", 0)))
    if data["session_usd"] is not None:
        parts.append("session " + _money(data["session_usd"], data.get("session_unpriced", 0)))
    rl = data["rate_limits"] or {}
    utilization, reset = rl.get("utilization_5h"), rl.get("reset_5h")
    if utilization is None:
        five = (stdin.get("rate_limits") or {}).get("five_hour") or {}
        if isinstance(five.get("used_percentage"), int | float):
            utilization, reset = five["used_percentage"] / 100, five.get("resets_at")
    if utilization is not None:
        text = f"5h {utilization * 100:.0f}%"
        if isinstance(reset, int | float):
            text += " ↻" + datetime.fromtimestamp(reset, tz).strftime("%H:%M")
        parts.append(text)
    current = data.get("alerts") or []
    if current:
        # The newest alert still current (its period or window not over), and how many more.
        parts.append("⚠ " + current[0] + (f" (+{len(current) - 1})" if len(current) > 1 else ""))
    return " · ".join(parts)


def main() -> None:
    """The whole command; never fails, since Claude Code shows whatever the first line is.

    Imports only what it needs so that a launcher can call it without loading the CLI."""
    import json
    import sys

    try:
        from ccgate.config import Config, load_config
        from ccgate.errors import CcgateError
        from ccgate.reports import context, reader

        try:
            stdin = json.loads(sys.stdin.read() or "{}")
        except ValueError:
            stdin = {}
        if not isinstance(stdin, dict):
            stdin = {}
        try:
            config, problem = load_config(), ""
        except CcgateError:
            # The figures at list prices are still worth showing; what is wrong, doctor tells.
            config, problem = Config(Path(), {}), " · config.toml broken: ccgate doctor"
        ctx = context.build(config, now=time.time())
        try:
            conn = reader.open_log()
        except reader.LogOutdated:
            conn = None
        session = stdin.get("session_id") if isinstance(stdin.get("session_id"), str) else None
        print(format_line(statusline_data(conn, ctx, session), stdin, ctx.tz) + problem)
    except Exception as exc:  # a status line must never break the prompt
        message = getattr(exc, "message", None)
        print(f"ccgate: {message}" if isinstance(message, str) else f"ccgate: {type(exc).__name__}")
