"""Spend reports over the usage log: pure functions (connection and pricer in, dicts out).

`ccgate stats` and the dashboard's /ccgate/api/ call the same `stats_report`; nothing here
imports rich. SQL groups the `messages` rows by (report key, model, billing, long-context
flag, fast mode) and sums the token classes; Python then prices each group (see pricing.py
for why cost is computed at report time) and folds the groups into rows. Whole UTC hours are
read from the usage log's hourly sums (tables `hourly` and `session_hourly`, kept by triggers,
see usage/store.py) and only the partial hours at a range's ends from the raw rows; both give
the same groups, so callers never know which answered.

Time groupings (day, week, month, hour) are done in the report's time zone, DST included:
SQLite has no time zones, so Python finds the zone's UTC offsets over the log's span (DST
changes bisected to the second) and SQL groups by local day or hour number, `(ts + offset) /
86400`, with the offset as a CASE over those few segments. Weeks and months are folded from days
in Python; a repeated hour when DST ends stays two rows (the offset is part of the key).

New groupings (issue 8: agent trees, accounts) are one entry in `GROUPINGS`.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from ccgate.reports.pricing import FAST_SQL, LONG_CONTEXT_SQL, Pricer, TokenSums
from ccgate.text import plural

FAR_FUTURE = 32503680000.0  # year 3000
AVG_MONTH_DAYS = 365.25 / 12
SUBSCRIPTION_KINDS = frozenset({"max-oauth", "claude-login"})
TIME_GROUPINGS = ("day", "week", "month", "hour")


# --- groupings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grouping:
    sql: str  # the GROUP BY key expression; for time groupings, the local period unit in seconds
    time: bool = False  # key is a local day or hour number, mapped to a labelled period by `period_of`
    rollup_sql: str | None = None  # the key over the hourly sums; None: only the raw rows have it
    rollup_table: str = "hourly"


GROUPINGS: dict[str, Grouping] = {
    "day": Grouping("86400", time=True, rollup_sql="86400"),
    "week": Grouping("86400", time=True, rollup_sql="86400"),
    "month": Grouping("86400", time=True, rollup_sql="86400"),
    "hour": Grouping("3600", time=True, rollup_sql="3600"),
    "model": Grouping("COALESCE(model, request_model, '?')", rollup_sql="COALESCE(NULLIF(model, ''), '?')"),
    "profile": Grouping("COALESCE(profile, '-')", rollup_sql="COALESCE(NULLIF(profile, ''), '-')"),
    "session": Grouping(
        "COALESCE(session_id, '-')", rollup_sql="COALESCE(NULLIF(session_id, ''), '-')", rollup_table="session_hourly"
    ),
    "account": Grouping("COALESCE(account_id, '-')", rollup_sql="COALESCE(NULLIF(account_id, ''), '-')"),
    # Who paid, max-oauth profiles' unknowns counted as subscription.
    "billing": Grouping("{billing}", rollup_sql="{billing}"),
}


def offset_segments(tz: tzinfo, start: float, end: float) -> list[tuple[float, int]]:
    """[(from_ts, utc_offset_s)] covering [start, end): the zone's offset changes (DST) found by
    stepping a day at a time and bisecting each change to the second."""

    def offset(ts: float) -> int:
        delta = datetime.fromtimestamp(ts, tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [(start, offset(start))]
    t = start
    while t < end:
        nxt = min(t + 86400, end)
        if offset(nxt) != segments[-1][1]:
            lo, hi = int(t), int(nxt)  # offset(lo) is the current one, offset(hi) the new one
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == segments[-1][1] else (lo, mid)
            segments.append((hi, offset(hi)))
        t = nxt
    return segments


def offset_sql(segments: list[tuple[float, int]], ts: str = "ts") -> str:
    """A CASE expression giving each row's UTC offset from the segments (numbers only, no user text)."""
    if len(segments) == 1:
        return str(segments[0][1])
    whens = " ".join(f"WHEN {ts} < {int(nxt[0])} THEN {cur[1]}" for cur, nxt in itertools.pairwise(segments))
    return f"(CASE {whens} ELSE {segments[-1][1]} END)"


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


def _where(q: StatsQuery, id_range: tuple[int | None, int | None] | None) -> tuple[str, list[Any]]:
    # `+ts`: with the row-id range the table is read in order, which beats index look-ups.
    clauses = ["endpoint = 'messages'", "+ts >= ?", "+ts < ?"]
    params: list[Any] = [q.since, q.until]
    if id_range is not None and id_range[0] is not None:
        clauses[:0] = ["id BETWEEN ? AND ?"]
        params[:0] = list(id_range)
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


def id_range(
    conn: sqlite3.Connection, since: float, until: float
) -> tuple[int | None, int | None, float, float] | None:
    """The row ids and timestamps spanning [since, until); None when no row falls in it.

    Every matching row has an id between the smallest and largest matching id, so scanning that id
    range (filtering on ts) misses nothing and reads the table in storage order. When the range
    covers the whole log (two index look-ups tell), the ids are None: a plain table scan.
    """
    first, last = conn.execute("SELECT MIN(ts), MAX(ts) FROM requests").fetchone()
    if first is None or first >= until or last < since:
        return None
    if since <= first and until > last:
        return None, None, float(first), float(last)
    row = conn.execute(
        "SELECT MIN(id), MAX(id), MIN(ts), MAX(ts) FROM requests WHERE ts >= ? AND ts < ?", (since, until)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1]), float(row[2]), float(row[3])


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# A subscription profile's request that came back API-billed: reported as "api", and noted.
API_FALLBACK = "api-fallback"


def billing_sql(subscription_profiles: list[str]) -> str:
    """`billing`, with a max-oauth profile's requests of unknown billing counted as subscription usage
    and its API-billed ones told apart (API_FALLBACK) from API-key profiles' wanted API billing."""
    if not subscription_profiles:
        return "billing"
    names = ", ".join(quote(p) for p in sorted(subscription_profiles))
    return (
        f"(CASE WHEN profile IN ({names}) AND billing = 'unknown' THEN 'subscription' "
        f"WHEN profile IN ({names}) AND billing = 'api' THEN '{API_FALLBACK}' ELSE billing END)"
    )


# One flag column for the price card (long context x2 + fast): fewer GROUP BY terms run faster.
GROUP_SQL = """
SELECT {key} AS k, {offset} AS o, COALESCE(model, request_model) AS m, {billing} AS b,
       ({long}) * 2 + ({fast}) AS card,
       COUNT(*), SUM(CASE WHEN status >= 400 OR outcome != 'ok' THEN 1 ELSE 0 END),
       SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_write_other_tokens), SUM(output_tokens), SUM(web_search_requests), MIN(ts), MAX(ts)
FROM requests WHERE {where}
GROUP BY {group}
"""


@dataclass(slots=True)
class Group:
    """One SQL group: token sums of requests sharing key, model, billing, tier and speed."""

    key: Any
    offset: int  # the zone's UTC offset for time keys (0 otherwise)
    model: str | None
    billing: str
    long_context: bool
    fast: bool
    requests: int
    errors: int
    sums: TokenSums
    first_ts: float
    last_ts: float


def fetch_groups(
    conn: sqlite3.Connection, grouping: Grouping, q: StatsQuery, subscription_profiles: list[str] | None = None
) -> list[Group]:
    """The report's groups: hourly sums for the whole UTC hours of the range, raw rows for the rest.

    A key may come back more than once (from the sums and from an edge's rows): callers add up.
    """
    billing = billing_sql(subscription_profiles or [])
    plan = rollup_plan(conn, grouping, q)
    if plan is None:
        return raw_groups(conn, grouping, q, billing)
    groups = rollup_groups(conn, grouping, q, billing, plan)
    for edge in (replace(q, until=min(q.until, plan.h0 * 3600)), replace(q, since=max(q.since, (plan.h1 + 1) * 3600))):
        if edge.since < edge.until:
            groups += raw_groups(conn, grouping, edge, billing)
    return groups


@dataclass(frozen=True, slots=True)
class RollupPlan:
    h0: int  # the whole UTC hours [h0, h1] the sums answer
    h1: int
    segments: list[tuple[float, int]] | None  # time groupings: the zone's offsets over the hours that have sums


def rollup_plan(conn: sqlite3.Connection, grouping: Grouping, q: StatsQuery) -> RollupPlan | None:
    """What the hourly sums can answer of the query; None: nothing (read the raw rows).

    One session's rows are few and indexed: they are read as they are."""
    if grouping.rollup_sql is None or q.session or not _has_rollup(conn, grouping.rollup_table):
        return None
    h0, h1 = math.ceil(q.since / 3600), math.floor(q.until / 3600) - 1
    if h1 < h0:
        return None
    segments = None
    if grouping.time:
        present = present_hours(conn, grouping.rollup_table, h0, h1)
        if present is not None:
            segments = offset_segments(q.tz, present[0] * 3600, (present[1] + 1) * 3600)
            if not whole_hours(segments):
                return None  # e.g. India's +05:30: a local day does not start on a UTC hour
    return RollupPlan(h0, h1, segments)


def present_hours(conn: sqlite3.Connection, table: str, h0: int, h1: int) -> tuple[int, int] | None:
    """The first and last hour in [h0, h1] that has sums (two primary-key look-ups)."""
    row = conn.execute(f"SELECT MIN(hour), MAX(hour) FROM {table} WHERE hour BETWEEN ? AND ?", (h0, h1)).fetchone()
    return None if row[0] is None else (int(row[0]), int(row[1]))


def whole_hours(segments: list[tuple[float, int]]) -> bool:
    """True when every UTC offset of the segments and every change between them falls on whole hours."""
    return all(offset % 3600 == 0 for _, offset in segments) and all(int(t) % 3600 == 0 for t, _ in segments[1:])


def _has_rollup(conn: sqlite3.Connection, table: str) -> bool:
    # A database the dashboard opened read-only before `serve` migrated it may lack the table.
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return found is not None


ROLLUP_SQL = """
SELECT {key} AS k, {offset} AS o, NULLIF(model, '') AS m, {billing} AS b, card,
       SUM(requests), SUM(errors),
       SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_write_other_tokens), SUM(output_tokens), SUM(web_search_requests), MIN(first_ts), MAX(last_ts)
FROM {table} WHERE {where}
GROUP BY {group}
"""


def rollup_groups(
    conn: sqlite3.Connection, grouping: Grouping, q: StatsQuery, billing: str, plan: RollupPlan
) -> list[Group]:
    assert grouping.rollup_sql is not None
    if grouping.time and plan.segments is None:
        return []  # no sums in the range
    clauses, params = ["hour BETWEEN ? AND ?"], [plan.h0, plan.h1]
    for column, value in (("profile", q.profile), ("account_id", q.account)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if q.model:
        clauses.append("model LIKE ?")
        params.append(f"%{q.model}%")
    sql = grouped_sql(
        ROLLUP_SQL,
        grouping,
        q,
        billing,
        key_sql=grouping.rollup_sql,
        ts="hour * 3600",
        segments=plan.segments,
        where=" AND ".join(clauses),
        table=grouping.rollup_table,
    )
    return to_groups(conn.execute(sql, params).fetchall())


def grouped_sql(
    template: str,
    grouping: Grouping,
    q: StatsQuery,
    billing: str,
    *,
    key_sql: str,
    ts: str,
    segments: list[tuple[float, int]] | None,
    where: str,
    **extra: str,
) -> str:
    """Fill a grouping query: for time groupings the key is the local day or hour number of `ts`."""
    if grouping.time and segments is not None:
        offset = offset_sql(segments, ts=ts)
        key = f"CAST(({ts} + {offset}) / {key_sql} AS INTEGER)"
    else:
        offset, key = "0", key_sql
    # Grouping by the model again when the key already is the model only costs time.
    group = "k, o, m, b, card" if grouping.time else ("k, b, card" if q.by == "model" else "k, m, b, card")
    return template.format(
        key=key.replace("{billing}", billing), offset=offset, billing=billing, where=where, group=group, **extra
    )


def raw_groups(conn: sqlite3.Connection, grouping: Grouping, q: StatsQuery, billing: str) -> list[Group]:
    if q.session:
        # One session: its own rows through the session index, however far apart they are.
        span = conn.execute(
            "SELECT MIN(ts), MAX(ts) FROM requests WHERE session_id = ? AND ts >= ? AND ts < ?",
            (q.session, q.since, q.until),
        ).fetchone()
        if span[0] is None:
            return []
        lo_id = hi_id = None
        first_ts, last_ts = span
        where, params = _where(q, None)
    else:
        id_span = id_range(conn, q.since, q.until)
        if id_span is None:
            return []
        lo_id, hi_id, first_ts, last_ts = id_span
        if lo_id is None or hi_id is None:
            # The whole log: the rowid b-tree's ends, two look-ups.
            lo_id, hi_id = conn.execute("SELECT MIN(id), MAX(id) FROM requests").fetchone()
        where, params = _where(q, (lo_id, hi_id))
    sql = grouped_sql(
        GROUP_SQL,
        grouping,
        q,
        billing,
        key_sql=grouping.sql,
        ts="ts",
        segments=offset_segments(q.tz, first_ts, last_ts + 1) if grouping.time else None,
        where=where,
        long=LONG_CONTEXT_SQL,
        fast=FAST_SQL,
    )
    if lo_id is None or hi_id is None:
        return to_groups(conn.execute(sql, params).fetchall())
    return to_groups(run_split(conn, sql, params, lo_id, hi_id))


def to_groups(rows: list[Any]) -> list[Group]:
    out = []
    for r in rows:
        sums = TokenSums(r[7] or 0, r[8] or 0, r[9] or 0, r[10] or 0, r[11] or 0, r[12] or 0, r[13] or 0)
        card = r[4] or 0
        out.append(Group(r[0], r[1], r[2], r[3], card >= 2, bool(card & 1), r[5], r[6] or 0, sums, r[14], r[15]))
    return out


PARALLEL_MIN_ROWS = 200_000
MAX_WORKERS = 4


def run_split(conn: sqlite3.Connection, sql: str, params: list[Any], lo_id: int, hi_id: int) -> list[Any]:
    """Run a query whose first two parameters are an id range, split over threads for big ranges.

    SQLite evaluates a query on one core; its Python binding releases the GIL while stepping, so
    slices of the id range on their own read-only connections aggregate in parallel (a million
    rows: 1.85 s -> 0.99 s on two cores). Group rows from different slices may share a key: the
    caller adds them up anyway.
    """
    import os

    workers = min(MAX_WORKERS, os.cpu_count() or 1, max(1, (hi_id - lo_id) // PARALLEL_MIN_ROWS))
    path = _db_path(conn)
    if workers <= 1 or path is None:
        return conn.execute(sql, params).fetchall()
    from concurrent.futures import ThreadPoolExecutor

    from ccgate.usage import store

    step = (hi_id - lo_id) // workers + 1
    slices = [(lo_id + i * step, min(lo_id + (i + 1) * step - 1, hi_id)) for i in range(workers)]

    def run(bounds: tuple[int, int]) -> list[Any]:
        reader = store.open_db(path, readonly=True)
        try:
            return reader.execute(sql, [*bounds, *params[2:]]).fetchall()
        finally:
            reader.close()

    with ThreadPoolExecutor(workers) as pool:
        return [row for rows in pool.map(run, slices) for row in rows]


def _db_path(conn: sqlite3.Connection) -> Any:
    from pathlib import Path

    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None


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
    zone: tzinfo = UTC

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": _iso(self.since, self.zone),
            "until": _iso(self.until, self.zone) if self.until < FAR_FUTURE else None,
            "tz": self.tz,
            "rows": self.rows,
            "totals": self.totals,
            "plan": self.plan,
            "notes": self.notes,
        }


def _iso(ts: float, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(ts, tz or UTC).isoformat(timespec="seconds")


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
    subscription_profiles = [name for name, kind in kinds.items() if kind in SUBSCRIPTION_KINDS]
    groups = fetch_groups(conn, grouping, q, subscription_profiles)
    keyed = _time_keys(groups, q) if grouping.time else {}
    rows: dict[str, Acc] = {}
    meta: dict[str, dict[str, Any]] = {}
    by_model: dict[str, dict[str, Acc]] = {}
    totals = Acc()
    fallback = False
    for g in groups:
        if g.billing == API_FALLBACK:
            fallback = True
            g = replace(g, billing="api", key="api" if q.by == "billing" else g.key)
        key = keyed[g.key, g.offset] if grouping.time else str(g.key)
        if grouping.time:
            label, start, end = key
            key = label
            meta.setdefault(label, {"start": start.isoformat(), "end": end.isoformat(), "_order": start.timestamp()})
        cost = pricer.cost(g.model, g.sums, g.long_context, g.fast)
        billing = g.billing
        rows.setdefault(key, Acc()).add(g, cost, billing)
        totals.add(g, cost, billing)
        if q.breakdown:
            by_model.setdefault(key, {}).setdefault(g.model or "?", Acc()).add(g, cost, billing)
    pricer.save()
    out = []
    for key, acc in rows.items():
        row = {"key": key, **{k: v for k, v in meta.get(key, {}).items() if not k.startswith("_")}, **acc.to_dict()}
        if q.by == "profile" and kinds.get(key) in SUBSCRIPTION_KINDS and row["cost_basis"] == "api":
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
    if q.by == "month" and plan_monthly_usd is not None:
        for row in out:
            row["plan_saved_usd"] = round(row["subscription_cost_usd"] - plan_monthly_usd, 6)
    plan = _plan(totals, q, plan_monthly_usd, now)
    return Report(q.by, q.since, q.until, _tz_name(q.tz), out, total_row, plan, _notes(totals, fallback), q.tz)


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


def _notes(totals: Acc, api_fallback: bool) -> list[str]:
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
    if api_fallback:
        notes.append(
            "traffic of a subscription profile was billed to an API key, not the subscription "
            "(see api_cost_usd; `ccgate doctor` names the profile)"
        )
    return notes


def _tz_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)
