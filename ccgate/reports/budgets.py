"""What each budget has spent: the reports' own figures (`stats_report` by profile), never a second sum.

`spent_since` is the one read: every profile's cost split by who paid, from a period's start on.
`ccgate budget list`, the dashboard, doctor and the forwarder's start-up figure (gateway/budget.py)
all call it, so the terminal, the page and the refusal message agree.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from ccgate.budgets import PERIODS, Budget, Costs, budget_state, counted, period_bounds
from ccgate.reports.context import ReportContext
from ccgate.reports.groups import FAR_FUTURE
from ccgate.reports.stats import query, stats_report


def spent_since(conn: sqlite3.Connection | None, ctx: ReportContext, since: float) -> dict[str, Costs]:
    """Each profile's cost from `since` on (the log's rows without a profile under "-")."""
    return {key: costs for key, (costs, _unpriced) in _by_profile(conn, ctx, since).items()}


def _by_profile(conn: sqlite3.Connection | None, ctx: ReportContext, since: float) -> dict[str, tuple[Costs, int]]:
    window = replace(ctx, since=since, until=FAR_FUTURE)
    report = stats_report(conn, window, query(window, "profile"))
    return {
        row["key"]: (
            Costs(
                Decimal(str(row["api_cost_usd"])),
                Decimal(str(row["subscription_cost_usd"])),
                Decimal(str(row["unknown_billing_cost_usd"])),
            ),
            row["unpriced_requests"],
        )
        for row in report.rows
    }


def budget_status(conn: sqlite3.Connection | None, ctx: ReportContext, budgets: list[Budget]) -> list[dict[str, Any]]:
    """One row per budget and period: limit, spent, left, the period's end and its state."""
    periods = {}
    for period in PERIODS:
        if any(period in b.limits for b in budgets):
            start, end = period_bounds(period, ctx.now, ctx.tz)
            periods[period] = (start, end, _by_profile(conn, ctx, start))
    ctx.pricer.save()
    rows: list[dict[str, Any]] = []
    for budget in sorted(budgets, key=lambda b: b.profile):
        for period in PERIODS:
            if period in budget.limits:
                start, end, figures = periods[period]
                costs, unpriced = figures.get(budget.profile, (Costs(), 0))
                row = status_row(budget, period, counted(costs, budget), start, end, ctx)
                row["unpriced_requests"] = unpriced
                rows.append(row)
    return rows


def status_row(
    budget: Budget, period: str, spent: Decimal, start: float, end: float, ctx: ReportContext
) -> dict[str, Any]:
    limit = budget.limits[period]
    return {
        "profile": budget.profile,
        "period": period,
        "limit_usd": float(limit),
        "spent_usd": float(round(spent, 6)),
        "left_usd": float(round(max(limit - spent, Decimal(0)), 6)),
        "used_pct": round(float(spent / limit * 100), 1),
        "warn_pct": budget.warn_pct,
        "state": budget_state(spent, limit, budget.warn_pct),
        "include_subscription": budget.include_subscription,
        "start": datetime.fromtimestamp(start, ctx.tz).isoformat(timespec="seconds"),
        "end": datetime.fromtimestamp(end, ctx.tz).isoformat(timespec="seconds"),
        "end_ts": end,
    }
