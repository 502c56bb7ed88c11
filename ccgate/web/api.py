"""/ccgate/api/*: the read-only JSON the page draws from, a thin layer over ccgate.reports.

Every figure comes from the function the CLI uses (`ccgate stats --json` and Spend are one
`stats_report`); ranges, zones and defaults are read by reports.context exactly as the CLI
reads --since/--until/--tz. Every read runs in a worker thread on a read-only connection
(reports.reader); the event loop keeps forwarding.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from ccgate.config import Config
from ccgate.errors import CcgateError
from ccgate.reports import alarms, context, feed, limits, reader
from ccgate.reports.agents import session_trees
from ccgate.reports.blocks import blocks_report
from ccgate.reports.groups import FAR_FUTURE
from ccgate.reports.pricing import Pricer, default_cache_file
from ccgate.reports.stats import query, stats_report

T = TypeVar("T")
SPEND_BY = ("day", "week", "month")
STACK_BY = ("model", "profile")
MAX_LIMIT = 500
CACHE_SIZE = 64


class BadQuery(ValueError):
    pass


Params = dict[str, str]


class Reader:
    """Runs report functions off the loop, one at a time (the Pricer's file cache is not thread-safe).

    Results are kept per (function, arguments) and reused while the log has no new row, the
    config is unchanged and the minute is the same: relative windows move with time.
    """

    def __init__(self, db_path: Path, config: Callable[[], Config]) -> None:
        self.db_path = db_path
        self.config = config
        self._lock = threading.Lock()
        self._pricer: Pricer | None = None
        self._pricer_config: Config | None = None
        self._cache: OrderedDict[str, tuple[tuple[Any, ...], Any]] = OrderedDict()

    async def run(self, fn: Callable[..., T], params: Params, *args: Any) -> T:
        """fn(conn, ctx, *args) in a worker thread; conn is None before the log exists."""
        return await asyncio.get_running_loop().run_in_executor(None, self._call, fn, params, args)

    def context(self, config: Config, params: Params, by: str = "day") -> context.ReportContext:
        if self._pricer is None or self._pricer_config is not config:
            # Price overrides live in config.toml: a changed file gets a fresh pricer.
            self._pricer, self._pricer_config = Pricer.from_config(config, default_cache_file()), config
        try:
            return context.build(
                config,
                by=by,
                since=params.get("since") or None,
                until=params.get("until") or None,
                tz=params.get("tz") or None,
                pricer=self._pricer,
            )
        except CcgateError as exc:
            raise BadQuery(exc.message) from None

    def _call(self, fn: Callable[..., T], params: Params, args: tuple[Any, ...]) -> T:
        with self._lock:
            config = self.config()
            by = params.get("by", "day")
            ctx = self.context(config, params, by)
            try:
                conn = reader.open_log(self.db_path)
            except reader.LogOutdated:
                conn = None  # `serve` migrates at start; a reader never does
            try:
                key = f"{fn.__name__}{sorted(params.items())!r}{args!r}"
                version = (id(config), int(time.time() // 60), feed.last_id(conn), _alerts_stamp())
                hit = self._cache.get(key)
                if hit is not None and hit[0] == version:
                    self._cache.move_to_end(key)
                    return hit[1]  # type: ignore[no-any-return]
                result = fn(conn, ctx, *args)
                self._cache[key] = (version, result)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
                return result
            finally:
                if conn is not None:
                    conn.close()


# --- query parameters -------------------------------------------------------------------------


def choice(params: Params, name: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, choices[0])
    if value not in choices:
        raise BadQuery(f"{name} must be one of {', '.join(choices)}")
    return value


def whole_number(params: Params, name: str, default: int, high: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise BadQuery(f"{name} must be a whole number") from None
    if not 1 <= value <= high:
        raise BadQuery(f"{name} must be between 1 and {high}")
    return value


def spend_params(params: Params) -> Params:
    """The Spend view's filter, checked before it goes to the worker thread."""
    choice(params, "by", SPEND_BY)
    choice(params, "stack", STACK_BY)
    return {k: v for k, v in params.items() if k in ("by", "stack", "since", "until", "tz", "profile", "model")}


# --- the report calls (worker thread) -----------------------------------------------------------


def spend(conn: sqlite3.Connection | None, ctx: context.ReportContext, by: str, stack: str, filters: Params) -> Any:
    narrow = {k: v for k, v in filters.items() if k in ("profile", "model") and v}
    report = stats_report(conn, ctx, query(ctx, by, breakdown=stack == "model", **narrow)).to_dict()
    stacks: dict[str, dict[str, Any]] = {}
    if stack == "model":
        for row in report["rows"]:
            stacks[row["key"]] = {m["model"]: m for m in row.get("models", [])}
    else:
        # One stats_report per profile: the same function, filtered, never a second aggregation.
        for prow in stats_report(conn, ctx, query(ctx, "profile", **narrow)).rows:
            if prow["key"] == "-":
                continue
            sub = stats_report(conn, ctx, query(ctx, by, **{**narrow, "profile": prow["key"]}))
            for row in sub.rows:
                stacks.setdefault(row["key"], {})[prow["key"]] = row
    return {"report": report if conn is not None else None, "stacks": stacks, "stack": stack}


def sessions(conn: sqlite3.Connection | None, ctx: context.ReportContext, limit: int) -> dict[str, Any]:
    report = stats_report(conn, ctx, query(ctx, "session"))
    rows = [r for r in report.rows if r["key"] != "-"]
    rows.sort(key=lambda r: r["last_ts"] or 0, reverse=True)
    return {"range": ctx.range_label(), "sessions": rows[:limit]}


def session_tree(conn: sqlite3.Connection | None, ctx: context.ReportContext, session_id: str) -> dict[str, Any]:
    trees = session_trees(conn, ctx, session=session_id)
    if not trees:
        raise web.HTTPNotFound(text='{"error": "no such session"}', content_type="application/json")
    ctx.since, ctx.until = trees[0]["first_ts"], trees[0]["last_ts"] + 1
    totals = stats_report(conn, ctx, query(ctx, "session", session=session_id)).totals
    return {**trees[0], "totals": totals}


def accounts(conn: sqlite3.Connection | None, ctx: context.ReportContext) -> list[dict[str, Any]]:
    """One entry per subscription account: latest limits, pace and the active 5-hour block."""
    ctx.since, ctx.until = ctx.now - 5 * 3600, FAR_FUTURE
    blocks = {a["account"]: a for a in blocks_report(conn, ctx)["accounts"]}
    out = []
    for account in limits.accounts(conn, ctx.profiles, ctx.now):
        entry = limits.with_pace(conn, account, ctx.now)
        entry["kinds"] = sorted({ctx.profiles.kinds.get(p, "?") for p in account.profiles})
        entry["block"] = blocks.get(account.key, {}).get("active")
        out.append(entry)
    return out


def limits_view(conn: sqlite3.Connection | None, ctx: context.ReportContext) -> dict[str, Any]:
    return {
        "now": ctx.now,
        "accounts": accounts(conn, ctx),
        "alarms": [a.to_dict() for a in alarms.alarms(conn, ctx.profiles, ctx.now)],
        "alerts": current_alerts(ctx.now),
    }


def now_view(conn: sqlite3.Connection | None, ctx: context.ReportContext, limit: int) -> dict[str, Any]:
    return {
        "requests": feed.recent(conn, ctx, limit),
        "accounts": accounts(conn, ctx),
        "alerts": current_alerts(ctx.now),
    }


def current_alerts(now: float) -> list[dict[str, Any]]:
    """The alerts still current (ccgate/alerts.py), newest first, as the status line and doctor see them."""
    from ccgate import alerts as alert_state

    return [a.to_dict() for a in alert_state.current(now)]


def _alerts_stamp() -> tuple[int, int] | None:
    """A new alert changes what the views show even when the log has no new row."""
    from ccgate import alerts as alert_state

    try:
        st = alert_state.state_file().stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def usage_db_path(sink: object) -> Path:
    """Where the forwarder's usage log is; with --no-log, the default file (it may hold older runs)."""
    path = getattr(sink, "db_path", None)
    return Path(path) if path is not None else reader.log_path()
