"""/ccgate/api/*: the read-only JSON the page draws from.

Spend and session totals come from `ccgate.reports.stats.stats_report`, the function behind
`ccgate stats --json`, so the page and the terminal can never disagree. Every read runs in a
worker thread on its own read-only SQLite connection; the event loop keeps forwarding.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from ccgate import paths
from ccgate.config import Config
from ccgate.errors import UsageError
from ccgate.reports import timespec
from ccgate.reports.agents import agent_tree, record_cost
from ccgate.reports.blocks import BLOCK_S, blocks_report, latest_rate_limits
from ccgate.reports.pricing import Pricer, default_cache_file
from ccgate.reports.stats import FAR_FUTURE, SUBSCRIPTION_KINDS, StatsQuery, stats_report
from ccgate.web import queries

T = TypeVar("T")
SPEND_BY = ("day", "week", "month")
STACK_BY = ("model", "profile")
SESSIONS_DAYS = 7.0
# The first day/week/month views show what `ccgate stats` shows by default: the last 7 days.
DEFAULT_DAYS = {"day": 7, "week": 28, "month": 92}
MAX_LIMIT = 500
CACHE_SIZE = 64
LIMITS_LOOKBACK_S = 8 * 86400  # a 7-day window's figures older than this have reset


class BadQuery(ValueError):
    pass


class Reader:
    """Runs report functions off the loop, one at a time (the Pricer's file cache is not thread-safe).

    Results are kept per (function, arguments) and reused while the log has no new row and the
    config is unchanged: a report over a million rows costs a few hundred milliseconds, and
    re-opening a view (or several tabs) should not pay that again for the same answer.
    """

    def __init__(self, db_path: Path, config: Callable[[], Config]) -> None:
        self.db_path = db_path
        self.config = config
        self._lock = threading.Lock()
        self._pricer: Pricer | None = None
        self._pricer_config: Config | None = None
        self._cache: OrderedDict[str, tuple[tuple[Any, ...], Any]] = OrderedDict()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(conn, pricer, config, *args) in a worker thread; conn is None before the log exists."""
        return await asyncio.get_running_loop().run_in_executor(None, self._call, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._lock:
            config = self.config()
            if self._pricer is None or self._pricer_config is not config:
                # Price overrides live in config.toml: a changed file gets a fresh pricer.
                self._pricer, self._pricer_config = Pricer.from_config(config, default_cache_file()), config
            conn = queries.open_reader(self.db_path)
            try:
                key = f"{fn.__name__}{args!r}"
                version = (id(config), _minute(), None if conn is None else queries.last_id(conn))
                hit = self._cache.get(key)
                if hit is not None and hit[0] == version:
                    self._cache.move_to_end(key)
                    return hit[1]  # type: ignore[no-any-return]
                result = fn(conn, self._pricer, config, *args)
                self._cache[key] = (version, result)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
                return result
            finally:
                if conn is not None:
                    conn.close()


def _minute() -> int:
    """Relative windows ("the last 7 days", countdowns) move with time: no answer outlives a minute."""
    return int(time.time() // 60)


def profile_kinds(config: Config) -> dict[str, str]:
    """As `ccgate stats` reads them: straight from the tables, so one odd profile cannot hide the rest."""
    return {name: str(table.get("kind")) for name, table in config.profiles.items() if isinstance(table, dict)}


# --- query parameters -------------------------------------------------------------------------


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name, choices[0])
    if value not in choices:
        raise BadQuery(f"{name} must be one of {', '.join(choices)}")
    return value


def _int(request: web.Request, name: str, default: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise BadQuery(f"{name} must be a whole number") from None
    if not 1 <= value <= high:
        raise BadQuery(f"{name} must be between 1 and {high}")
    return value


def spend_query(request: web.Request) -> tuple[StatsQuery, str]:
    """The Spend view's filter, read exactly as `ccgate stats` reads --since/--until/--tz."""
    by = _choice(request, "by", SPEND_BY)
    stack = _choice(request, "stack", STACK_BY)
    try:
        tz = timespec.resolve_tz(request.query.get("tz") or None)
        now = datetime.now(tz)
        since_text, until_text = request.query.get("since"), request.query.get("until")
        since = (
            timespec.parse_when(since_text, tz, now, end=False)
            if since_text
            else timespec.default_since(tz, now, DEFAULT_DAYS[by])
        )
        until = timespec.parse_when(until_text, tz, now, end=True) if until_text else FAR_FUTURE
    except UsageError as exc:
        raise BadQuery(str(exc)) from None
    if until <= since:
        raise BadQuery("until must be later than since")
    q = StatsQuery(
        by=by,
        since=since,
        until=until,
        tz=tz,
        profile=request.query.get("profile") or None,
        model=request.query.get("model") or None,
        breakdown=stack == "model",
    )
    return q, stack


# --- the report calls (worker thread) -----------------------------------------------------------


def spend(conn: sqlite3.Connection | None, pricer: Pricer, config: Config, q: StatsQuery, stack: str) -> dict[str, Any]:
    kinds = profile_kinds(config)
    plan = config.settings.plan_monthly_usd
    if conn is None:
        return {"report": None, "stacks": {}, "stack": stack, "kinds": kinds}
    report = stats_report(conn, pricer, q, profile_kinds=kinds, plan_monthly_usd=plan).to_dict()
    stacks: dict[str, dict[str, Any]] = {}
    if stack == "model":
        for row in report["rows"]:
            stacks[row["key"]] = {m["model"]: m for m in row.get("models", [])}
    else:
        # One stats_report per profile: the same function, filtered, never a second aggregation.
        by_profile = stats_report(
            conn,
            pricer,
            StatsQuery(by="profile", since=q.since, until=q.until, tz=q.tz, model=q.model, profile=q.profile),
            profile_kinds=kinds,
        )
        for prow in by_profile.rows:
            if prow["key"] == "-":
                continue
            sub = StatsQuery(by=q.by, since=q.since, until=q.until, tz=q.tz, profile=prow["key"], model=q.model)
            for row in stats_report(conn, pricer, sub, profile_kinds=kinds).rows:
                stacks.setdefault(row["key"], {})[prow["key"]] = row
    return {"report": report, "stacks": stacks, "stack": stack, "kinds": kinds}


def sessions(conn: sqlite3.Connection | None, pricer: Pricer, config: Config, limit: int) -> dict[str, Any]:
    if conn is None:
        return {"sessions": []}
    q = StatsQuery(by="session", since=time.time() - SESSIONS_DAYS * 86400)
    rows = [r for r in stats_report(conn, pricer, q, profile_kinds=profile_kinds(config)).rows if r["key"] != "-"]
    rows.sort(key=lambda r: r["last_ts"] or 0, reverse=True)
    return {"since_days": SESSIONS_DAYS, "sessions": rows[:limit]}


def session_tree(conn: sqlite3.Connection | None, pricer: Pricer, config: Config, session_id: str) -> dict[str, Any]:
    rows = [] if conn is None else queries.session_rows(conn, session_id)
    rows = [r for r in rows if r["endpoint"] == "messages"]
    if not rows:
        raise web.HTTPNotFound(text='{"error": "no such session"}', content_type="application/json")
    costs = {r["id"]: record_cost(pricer, r) for r in rows}
    # Bounded by the session's own first and last request, so the report reads only its rows.
    q = StatsQuery(by="session", session=session_id, since=rows[0]["ts"], until=rows[-1]["ts"] + 1)
    totals = stats_report(conn, pricer, q, profile_kinds=profile_kinds(config)).totals  # type: ignore[arg-type]
    return {"session_id": session_id, "totals": totals, "tree": agent_tree(rows, costs), "requests": rows}


def limits(conn: sqlite3.Connection | None, pricer: Pricer, config: Config) -> dict[str, Any]:
    """Per profile: the latest 5h/7d figures the upstream sent and the active 5-hour block's burn rate
    (both from ccgate.reports.blocks, as `ccgate stats blocks` shows them). Per account: the same limits
    once, with the pace, since profiles logged in to one account share its windows."""
    now = time.time()
    kinds = profile_kinds(config)
    out = []
    for name, kind in sorted(kinds.items()):
        entry: dict[str, Any] = {"profile": name, "kind": kind, "subscription": kind in SUBSCRIPTION_KINDS}
        entry["latest"] = None if conn is None else latest_rate_limits(conn, now - LIMITS_LOOKBACK_S, FAR_FUTURE, name)
        entry["account_id"] = None
        entry["block"] = None
        if conn is not None and entry["latest"]:
            entry["account_id"] = queries.latest_account(conn, name, now - LIMITS_LOOKBACK_S)
        if conn is not None and (entry["subscription"] or entry["latest"]):
            entry["block"] = blocks_report(conn, pricer, now - BLOCK_S, FAR_FUTURE, profile=name, now=now)["active"]
        out.append(entry)
    subs = [n for n, k in kinds.items() if k in SUBSCRIPTION_KINDS]
    return {
        "now": now,
        "profiles": out,
        "accounts": account_limits(conn, out, now),
        "alarms": [] if conn is None else queries.alarms(conn, subs, now),
    }


def account_limits(conn: sqlite3.Connection | None, profiles: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """Profiles grouped by the account their latest limits came from (a profile whose requests name no
    account, such as a setup-token's, is its own group), newest figures first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in profiles:
        if entry["subscription"] or entry["latest"]:
            key = f"account:{entry['account_id']}" if entry["account_id"] else f"profile:{entry['profile']}"
            groups.setdefault(key, []).append(entry)
    out = []
    for members in groups.values():
        latest = max((m["latest"] for m in members if m["latest"]), key=lambda r: r["ts"], default=None)
        names = [m["profile"] for m in members]
        pace = None
        if conn is not None and latest is not None:
            pace = queries.pace_forecast(queries.utilization_history(conn, names, now), latest["reset_5h"])
        out.append({"account_id": members[0]["account_id"], "profiles": names, "latest": latest, "pace": pace})
    out.sort(key=lambda a: (-(a["latest"]["ts"] if a["latest"] else 0), a["profiles"]))
    return out


def recent(conn: sqlite3.Connection | None, pricer: Pricer, config: Config, limit: int) -> list[dict[str, Any]]:
    rows = [] if conn is None else queries.recent(conn, limit)
    for row in rows:
        row["cost_usd"] = record_cost(pricer, row)
    return rows


def usage_db_path(sink: object) -> Path:
    """Where the forwarder's usage log is; with --no-log, the default file (it may hold older runs)."""
    path = getattr(sink, "db_path", None)
    return Path(path) if path is not None else paths.usage_db()
