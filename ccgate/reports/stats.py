"""`ccgate stats`: usage and cost by period, model, profile, session, account, project, machine or billing.

A pure function over the usage log (connection and context in, a dict-shaped Report out) that
the CLI and the dashboard's API both call, so the page and the terminal can never disagree.
groups.py reads the groups; this module prices them (pricing.py), applies the rules (rules.py)
and folds them into rows and a totals row. Nothing here imports rich.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ccgate.reports.context import ReportContext, iso
from ccgate.reports.groups import (
    GROUPINGS,
    Group,
    StatsQuery,
    fetch_groups,
    local_midnight,
    period_of,
)
from ccgate.reports.rules import API_ON_SUBSCRIPTION, decode_card
from ccgate.text import plural

AVG_MONTH_DAYS = 365.25 / 12


def query(ctx: ReportContext, by: str, **filters: Any) -> StatsQuery:
    """The query for a report `by` a grouping over the context's range and zone."""
    return StatsQuery(by=by, since=ctx.since, until=ctx.until, tz=ctx.tz, **filters)


def price(ctx: ReportContext, g: Group) -> Decimal | None:
    """A group's cost at list prices (None: no price source knows its model)."""
    return ctx.pricer.cost(g.model, g.sums, decode_card(g.card, g.edges), g.epoch)


# --- accumulating rows -----------------------------------------------------------------------


@dataclass(slots=True)
class Acc:
    """Running totals of one report row."""

    requests: int = 0
    errors: int = 0
    input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    output: int = 0
    cost_api: Decimal = Decimal(0)
    cost_subscription: Decimal = Decimal(0)
    cost_unknown: Decimal = Decimal(0)
    unpriced_requests: int = 0
    unpriced_models: set[str] = field(default_factory=set)
    first_ts: float = math.inf
    last_ts: float = -math.inf
    api_on_subscription: int = 0  # requests of subscription profiles that came back API-billed
    models: set[str] = field(default_factory=set)
    labels: dict[str, set[str]] = field(default_factory=dict)

    def add(self, g: Group, cost: Decimal | None, billing: str) -> None:
        s = g.sums
        self.requests += g.requests
        self.errors += g.errors
        self.input += s.input
        self.cache_read += s.cache_read
        self.cache_write += s.cache_write_5m + s.cache_write_1h + s.cache_write_other
        self.cache_write_1h += s.cache_write_1h
        self.output += s.output
        self.first_ts = min(self.first_ts, g.first_ts)
        self.last_ts = max(self.last_ts, g.last_ts)
        if g.model:
            self.models.add(g.model)
        if billing == API_ON_SUBSCRIPTION:
            self.api_on_subscription += g.requests
        if cost is None:
            if g.priced:
                self.unpriced_requests += g.priced
                self.unpriced_models.add(g.model or "?")
            return
        if billing == "subscription":
            self.cost_subscription += cost
        elif billing in ("api", API_ON_SUBSCRIPTION):
            self.cost_api += cost
        else:
            self.cost_unknown += cost

    def merge(self, other: Acc) -> None:
        """Add another row's totals (the totals row is its rows merged, not every group again)."""
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)
        self.unpriced_models |= other.unpriced_models
        self.models |= other.models

    @property
    def cost(self) -> Decimal:
        return self.cost_api + self.cost_subscription + self.cost_unknown

    def to_dict(self) -> dict[str, Any]:
        prompt = self.input + self.cache_read + self.cache_write
        priced = self.requests - self.unpriced_requests
        return {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input,
            "cache_write_tokens": self.cache_write,
            "cache_write_1h_tokens": self.cache_write_1h,
            "cache_read_tokens": self.cache_read,
            "output_tokens": self.output,
            "total_tokens": prompt + self.output,
            "cache_hit_ratio": round(self.cache_read / prompt, 4) if prompt else None,
            # None (never 0) when every request with tokens in the row lacks a price.
            "cost_usd": _usd(self.cost) if priced > 0 or not self.unpriced_requests else None,
            "api_cost_usd": _usd(self.cost_api),
            "subscription_cost_usd": _usd(self.cost_subscription),
            "unknown_billing_cost_usd": _usd(self.cost_unknown),
            "cost_basis": self.cost_basis(),
            "unpriced_requests": self.unpriced_requests,
            "unpriced_models": sorted(self.unpriced_models),
            "first_ts": self.first_ts if self.requests else None,
            "last_ts": self.last_ts if self.requests else None,
            "model_names": sorted(self.models),
        }

    def cost_basis(self) -> str:
        """ "api-equivalent": flat-rate subscription usage priced at list prices; "api": billed per token."""
        sub = self.cost_subscription > 0
        paid = self.cost_api > 0 or self.cost_unknown > 0
        if sub and paid:
            return "mixed"
        return "api-equivalent" if sub else "api"


_SUMMED = (
    "requests",
    "errors",
    "input",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "output",
    "cost_api",
    "cost_subscription",
    "cost_unknown",
    "unpriced_requests",
    "api_on_subscription",
)


def _usd(value: Decimal) -> float:
    return float(round(value, 6))


# --- the report ----------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    by: str
    range: dict[str, Any]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    plan: dict[str, Any] | None
    notes: list[str]

    @property
    def title(self) -> str:
        return f"ccgate stats by {self.by} · {self.range['label']}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "title": self.title,
            "since": self.range["since"],
            "until": self.range["until"],
            "tz": self.range["tz"],
            "range": self.range["label"],
            "rows": self.rows,
            "totals": self.totals,
            "plan": self.plan,
            "notes": self.notes,
        }


def stats_report(conn: sqlite3.Connection | None, ctx: ReportContext, q: StatsQuery) -> Report:
    """The rows of `ccgate stats --by q.by`, a totals row, and the plan comparison."""
    grouping = GROUPINGS[q.by]
    groups = [] if conn is None else fetch_groups(conn, grouping, q, ctx.reading)
    keyed = _time_keys(groups, q) if grouping.time else {}
    rows: dict[str, Acc] = {}
    meta: dict[str, dict[str, Any]] = {}
    by_model: dict[str, dict[str, Acc]] = {}
    totals = Acc()
    for g in groups:
        if grouping.time:
            key, start, end = keyed[g.key, g.offset]
            meta.setdefault(key, {"start": start.isoformat(), "end": end.isoformat(), "_order": start.timestamp()})
        else:
            key = _label(q.by, g.key)
        cost = price(ctx, g)
        acc = rows.get(key)
        if acc is None:  # (not setdefault: an Acc built per group, 100,000s for --by session)
            acc = rows[key] = Acc()
        acc.add(g, cost, g.billing)
        for name, value in zip(grouping.labels, g.labels, strict=True):
            if value:
                acc.labels.setdefault(name, set()).add(value)
        if q.breakdown:
            by_model.setdefault(key, {}).setdefault(g.model or "?", Acc()).add(g, cost, g.billing)
    ctx.pricer.save()
    out = []
    for key, acc in rows.items():
        totals.merge(acc)
        row = {"key": key, **{k: v for k, v in meta.get(key, {}).items() if not k.startswith("_")}, **acc.to_dict()}
        for name in grouping.labels:
            row[f"{name}s"] = sorted(acc.labels.get(name, ()))
        if q.by == "session" and acc.requests:
            row["start"] = iso(acc.first_ts, q.tz)
        if q.by == "profile" and ctx.profiles.uses_subscription(key) and row["cost_basis"] == "api":
            row["cost_basis"] = "api-equivalent"
        if q.breakdown:
            models = [{"model": m, **a.to_dict()} for m, a in by_model.get(key, {}).items()]
            row["models"] = sorted(models, key=lambda r: (-(r["cost_usd"] or 0), r["model"]))
        out.append(row)
    if grouping.time:
        out.sort(key=lambda r: meta[r["key"]]["_order"])
    else:
        out.sort(key=lambda r: (-(r["cost_usd"] or 0), r["key"]))
    total_row = {"key": "total", **totals.to_dict()}
    if q.by == "month" and ctx.plan_monthly_usd is not None:
        for row in out:
            row["plan_saved_usd"] = round(row["subscription_cost_usd"] - ctx.plan_monthly_usd, 6)
    plan = _plan(totals, q, ctx.plan_monthly_usd, ctx.now)
    return Report(q.by, ctx.range_dict(), out, total_row, plan, _notes(totals))


def _label(by: str, key: Any) -> str:
    # Billed to an API key is billed to an API key; the note says when a subscription profile's was.
    return "api" if by == "billing" and key == API_ON_SUBSCRIPTION else str(key)


def _time_keys(groups: list[Group], q: StatsQuery) -> dict[tuple[int, int], tuple[str, datetime, datetime]]:
    """Map each (local day or hour number, UTC offset) seen to its labelled local period."""
    unit = int(GROUPINGS[q.by].sql)
    out: dict[tuple[int, int], tuple[str, datetime, datetime]] = {}
    for g in groups:
        if (g.key, g.offset) not in out:
            if unit == 86400:
                # The local calendar day itself: days since 1970-01-01 in local wall-clock time.
                day = date(1970, 1, 1) + timedelta(days=g.key)
                local = local_midnight(day, q.tz) + timedelta(hours=12)
            else:
                local = datetime.fromtimestamp(g.key * unit - g.offset, q.tz)
            out[g.key, g.offset] = period_of(q.by, local)
    return out


def _plan(totals: Acc, q: StatsQuery, monthly: float | None, now: float | None) -> dict[str, Any] | None:
    """What the subscription-billed usage would have cost at API prices, against the prorated plan price."""
    if monthly is None:
        return None
    import time

    end = min(q.until, now if now is not None else time.time())
    start = q.since if q.since > 0 else (totals.first_ts if totals.requests else end)
    days = max(end - start, 0) / 86400
    prorated = Decimal(str(monthly)) * Decimal(days / AVG_MONTH_DAYS)
    return {
        "plan_monthly_usd": monthly,
        "period_days": round(days, 3),
        "plan_cost_for_period_usd": _usd(prorated),
        "subscription_api_equivalent_usd": _usd(totals.cost_subscription),
        "plan_saved_usd": _usd(totals.cost_subscription - prorated),
    }


def _notes(totals: Acc) -> list[str]:
    notes = []
    if totals.unpriced_requests:
        models = ", ".join(sorted(totals.unpriced_models))
        use = "uses a model" if totals.unpriced_requests == 1 else "use models"
        notes.append(
            f"{plural(totals.unpriced_requests, 'request')} {use} with no known price ({models}): not counted in cost; "
            'add [prices."<model>"] input_mtok/output_mtok to config.toml'
        )
    if totals.cost_subscription > 0:
        notes.append("subscription-billed usage is shown at API list prices (API-equivalent); the plan is flat-rate")
    if totals.api_on_subscription:
        notes.append(
            "traffic of a subscription profile was billed to an API key, not the subscription "
            f"({plural(totals.api_on_subscription, 'request')}; see api_cost_usd; `ccgate doctor` names the profile)"
        )
    return notes
