"""Spend reports over the usage log: pure functions (connection and pricer in, dicts out).

`ccgate stats` and the dashboard's /ccgate/api/ call the same `stats_report`; nothing here
imports rich. One SQL pass groups the `messages` rows by (report key, model, billing,
long-context flag, fast mode) and sums the token classes; Python then prices each group
(see pricing.py for why cost is computed at report time) and folds the groups into rows.

Time groupings (day, week, month, hour) are done in the report's time zone, DST included:
SQLite has no time zones, so SQL groups by UTC quarter-hour (every zone's offset is a
multiple of 15 minutes) and Python maps each quarter-hour to its local period.

New groupings (issue 8: agent trees, accounts) are one entry in `GROUPINGS`.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from ccgate.reports.pricing import FAST_SQL, LONG_CONTEXT_SQL, Pricer, TokenSums

QUARTER_S = 900
FAR_FUTURE = 32503680000.0  # year 3000
AVG_MONTH_DAYS = 365.25 / 12
SUBSCRIPTION_KINDS = frozenset({"max-oauth", "claude-login"})
TIME_GROUPINGS = ("day", "week", "month", "hour")


# --- groupings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grouping:
    sql: str  # the GROUP BY key expression
    time: bool = False  # key is a UTC quarter-hour, mapped to a local period by `period_of`


GROUPINGS: dict[str, Grouping] = {
    "day": Grouping(f"CAST(ts / {QUARTER_S} AS INTEGER)", time=True),
    "week": Grouping(f"CAST(ts / {QUARTER_S} AS INTEGER)", time=True),
    "month": Grouping(f"CAST(ts / {QUARTER_S} AS INTEGER)", time=True),
    "hour": Grouping(f"CAST(ts / {QUARTER_S} AS INTEGER)", time=True),
    "model": Grouping("COALESCE(model, request_model, '?')"),
    "profile": Grouping("COALESCE(profile, '-')"),
    "session": Grouping("COALESCE(session_id, '-')"),
    "account": Grouping("COALESCE(account_id, '-')"),
    "billing": Grouping("billing"),
}


def period_of(by: str, local: datetime) -> tuple[str, datetime, datetime]:
    """The label and local [start, end) of the period that contains `local` (an aware datetime)."""
    tz = local.tzinfo
    if by == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        # Wall-clock labels repeat when DST ends; the zone abbreviation tells the two apart.
        return start.strftime("%Y-%m-%d %H:00 %Z").strip(), start, start + timedelta(hours=1)
    day = local.date()
    if by == "day":
        first, nxt = day, day + timedelta(days=1)
        label = day.isoformat()
    elif by == "week":
        first = day - timedelta(days=day.weekday())
        nxt = first + timedelta(days=7)
        year, week, _ = first.isocalendar()
        label = f"{year}-W{week:02d}"
    elif by == "month":
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        label = first.strftime("%Y-%m")
    else:
        raise ValueError(by)
    return label, local_midnight(first, tz), local_midnight(nxt, tz)


def local_midnight(day: date, tz: tzinfo | None) -> datetime:
    """00:00 local on `day`, as an aware datetime (fold=0: the first one if it repeats)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz)


# --- the query -----------------------------------------------------------------------------


@dataclass(slots=True)
class StatsQuery:
    by: str = "day"
    since: float = 0.0  # unix seconds, inclusive
    until: float = FAR_FUTURE  # unix seconds, exclusive
    tz: tzinfo = UTC
    profile: str | None = None
    model: str | None = None  # substring of the model name
    breakdown: bool = False
    session: str | None = None
    account: str | None = None


def _where(q: StatsQuery) -> tuple[str, list[Any]]:
    clauses = ["endpoint = 'messages'", "ts >= ?", "ts < ?"]
    params: list[Any] = [q.since, q.until]
    if q.profile:
        clauses.append("profile = ?")
        params.append(q.profile)
    if q.model:
        clauses.append("COALESCE(model, request_model, '') LIKE ?")
        params.append(f"%{q.model}%")
    if q.session:
        clauses.append("session_id = ?")
        params.append(q.session)
    if q.account:
        clauses.append("account_id = ?")
        params.append(q.account)
    return " AND ".join(clauses), params


GROUP_SQL = """
SELECT {key} AS k, COALESCE(model, request_model) AS m, billing, COALESCE(profile, '') AS p,
       {long} AS lc, {fast} AS fast,
       COUNT(*), SUM(CASE WHEN status >= 400 OR outcome != 'ok' THEN 1 ELSE 0 END),
       SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_write_other_tokens), SUM(output_tokens), SUM(web_search_requests), MIN(ts), MAX(ts)
FROM requests WHERE {where}
GROUP BY k, m, billing, p, lc, fast
"""


@dataclass(slots=True)
class Group:
    """One SQL group: token sums of requests sharing key, model, billing, profile, tier and speed."""

    key: Any
    model: str | None
    billing: str
    profile: str
    long_context: bool
    fast: bool
    requests: int
    errors: int
    sums: TokenSums
    first_ts: float
    last_ts: float


def fetch_groups(conn: sqlite3.Connection, grouping: Grouping, q: StatsQuery) -> list[Group]:
    where, params = _where(q)
    sql = GROUP_SQL.format(key=grouping.sql, long=LONG_CONTEXT_SQL, fast=FAST_SQL, where=where)
    out = []
    for r in conn.execute(sql, params):
        sums = TokenSums(r[8] or 0, r[9] or 0, r[10] or 0, r[11] or 0, r[12] or 0, r[13] or 0, r[14] or 0)
        out.append(Group(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6], r[7] or 0, sums, r[15], r[16]))
    return out


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
        if cost is None:
            if s.input or s.cache_read or s.cache_write_5m or s.cache_write_1h or s.cache_write_other or s.output:
                self.unpriced_requests += g.requests
                self.unpriced_models.add(g.model or "?")
            return
        if billing == "subscription":
            self.cost_subscription += cost
        elif billing == "api":
            self.cost_api += cost
        else:
            self.cost_unknown += cost

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
        }

    def cost_basis(self) -> str:
        """ "api-equivalent": flat-rate subscription usage priced at list prices; "api": billed per token."""
        sub = self.cost_subscription > 0
        paid = self.cost_api > 0 or self.cost_unknown > 0
        if sub and paid:
            return "mixed"
        return "api-equivalent" if sub else "api"


def _usd(value: Decimal) -> float:
    return float(round(value, 6))


# --- the report ----------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    by: str
    since: float
    until: float
    tz: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    plan: dict[str, Any] | None
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": _iso(self.since, None),
            "until": _iso(self.until, None) if self.until < FAR_FUTURE else None,
            "tz": self.tz,
            "rows": self.rows,
            "totals": self.totals,
            "plan": self.plan,
            "notes": self.notes,
        }


def _iso(ts: float, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(ts, tz or UTC).isoformat(timespec="seconds")


def effective_billing(billing: str, profile: str, kinds: dict[str, str]) -> str:
    """A max-oauth profile's requests without a billing verdict are still subscription usage."""
    if billing == "unknown" and kinds.get(profile) in SUBSCRIPTION_KINDS:
        return "subscription"
    return billing


def stats_report(
    conn: sqlite3.Connection,
    pricer: Pricer,
    q: StatsQuery,
    *,
    profile_kinds: dict[str, str] | None = None,
    plan_monthly_usd: float | None = None,
    now: float | None = None,
) -> Report:
    """The rows of `ccgate stats --by q.by`, a totals row, and the plan comparison."""
    grouping = GROUPINGS[q.by]
    kinds = profile_kinds or {}
    groups = fetch_groups(conn, grouping, q)
    keyed = _time_keys(groups, q) if grouping.time else {}
    rows: dict[str, Acc] = {}
    meta: dict[str, dict[str, Any]] = {}
    by_model: dict[tuple[str, str], Acc] = {}
    totals = Acc()
    for g in groups:
        key = keyed[g.key] if grouping.time else str(g.key)
        if grouping.time:
            label, start, end = key
            key = label
            meta.setdefault(label, {"start": start.isoformat(), "end": end.isoformat(), "_order": start.timestamp()})
        cost = pricer.cost(g.model, g.sums, g.long_context, g.fast)
        billing = effective_billing(g.billing, g.profile, kinds)
        rows.setdefault(key, Acc()).add(g, cost, billing)
        totals.add(g, cost, billing)
        if q.breakdown:
            by_model.setdefault((key, g.model or "?"), Acc()).add(g, cost, billing)
    pricer.save()
    out = []
    for key, acc in rows.items():
        row = {"key": key, **{k: v for k, v in meta.get(key, {}).items() if not k.startswith("_")}, **acc.to_dict()}
        if q.by == "profile" and kinds.get(key) in SUBSCRIPTION_KINDS and row["cost_basis"] == "api":
            row["cost_basis"] = "api-equivalent"
        if q.breakdown:
            models = [{"model": m, **a.to_dict()} for (k, m), a in by_model.items() if k == key]
            row["models"] = sorted(models, key=lambda r: -(r["cost_usd"] or 0))
        out.append(row)
    if grouping.time:
        out.sort(key=lambda r: meta[r["key"]]["_order"])
    else:
        out.sort(key=lambda r: (-(r["cost_usd"] or 0), r["key"]))
    total_row = {"key": "total", **totals.to_dict()}
    if q.by == "month" and plan_monthly_usd is not None:
        for row in out:
            row["plan_saved_usd"] = round(row["subscription_cost_usd"] - plan_monthly_usd, 6)
    plan = _plan(totals, q, plan_monthly_usd, now)
    return Report(q.by, q.since, q.until, _tz_name(q.tz), out, total_row, plan, _notes(totals))


def _time_keys(groups: list[Group], q: StatsQuery) -> dict[int, tuple[str, datetime, datetime]]:
    """Map each UTC quarter-hour seen to its local period (computed once per quarter-hour)."""
    out: dict[int, tuple[str, datetime, datetime]] = {}
    for g in groups:
        if g.key not in out:
            local = datetime.fromtimestamp(g.key * QUARTER_S, q.tz)
            out[g.key] = period_of(q.by, local)
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
        notes.append(
            f"{totals.unpriced_requests} request(s) use models with no known price ({models}): not counted in cost; "
            'add [prices."<model>"] input_mtok/output_mtok to config.toml'
        )
    if totals.cost_subscription > 0:
        notes.append("subscription-billed usage is shown at API list prices (API-equivalent); the plan is flat-rate")
    if totals.cost_subscription > 0 and totals.cost_api > 0:
        notes.append("some traffic was billed to an API key, not the subscription (see api_cost_usd)")
    return notes


def _tz_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)
