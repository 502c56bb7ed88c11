"""The dashboard's own reads of the usage log: the newest rows, the latest rate-limit headers,
alarms, and one session's rows. Totals per day/model/profile/session come from ccgate.reports,
never from here. Every query is bounded by an index (id, ts, profile+ts, session+ts), so it
stays fast on a log of millions of rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ccgate.usage import store

# What a dashboard row may show. Never the credential fingerprint or anything from a request body.
FEED_FIELDS = (
    "id",
    "ts",
    "profile",
    "method",
    "endpoint",
    "status",
    "outcome",
    "error_type",
    "request_model",
    "model",
    "stream",
    "stop_reason",
    "session_id",
    "agent_id",
    "parent_agent_id",
    "credential_kind",
    "ttfb_ms",
    "duration_ms",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_other_tokens",
    "output_tokens",
    "web_search_requests",
    "billing",
    "service_tier",
    "speed",
)
PACE_WINDOW_S = 3600.0  # the burn rate behind the forecast: the last hour's utilization change
# Two readings seconds apart extrapolate to nonsense (a 30-point jump in 30 ms is 3,600,000 %/h).
PACE_MIN_SPAN_S = 300.0
ALARM_WINDOW_S = 86400.0


def open_reader(path: Path) -> sqlite3.Connection | None:
    """A read-only connection (the dashboard never writes); None before the first request is logged."""
    if not path.exists():
        return None
    conn = store.open_db(path, readonly=True)
    conn.row_factory = sqlite3.Row
    return conn


def feed_row(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    keys = row.keys()
    out = {name: row[name] for name in FEED_FIELDS if name in keys}
    if "stream" in out:
        out["stream"] = bool(out["stream"])
    return out


def last_id(conn: sqlite3.Connection) -> int:
    """The newest row's id (the rowid's B-tree end: constant time), a cheap version of the log."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0])


def recent(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Newest first."""
    cols = ", ".join(FEED_FIELDS)
    rows = conn.execute(f"SELECT {cols} FROM requests ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [feed_row(r) for r in rows]


def utilization_history(conn: sqlite3.Connection, profiles: Iterable[str], now: float) -> list[tuple[float, float]]:
    """(ts, 5h utilization) over the last hour from these profiles (one account's): the burn rate
    behind the pace forecast."""
    names = list(profiles)
    marks = ", ".join("?" for _ in names)
    rows = conn.execute(
        f"SELECT ts, rl_5h_utilization FROM requests WHERE profile IN ({marks}) AND ts >= ?"
        " AND rl_5h_utilization IS NOT NULL ORDER BY ts",
        (*names, now - PACE_WINDOW_S),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def latest_account(conn: sqlite3.Connection, profile: str, since: float) -> str | None:
    """The account (from metadata.user_id) of the profile's newest request that carried limits."""
    row = conn.execute(
        "SELECT account_id FROM requests WHERE profile = ? AND ts >= ? AND rl_5h_utilization IS NOT NULL"
        " ORDER BY ts DESC LIMIT 1",
        (profile, since),
    ).fetchone()
    return None if row is None else row[0]


def pace_forecast(points: list[tuple[float, float]], reset: int | None) -> dict[str, Any] | None:
    """At the recent burn rate (utilization per hour), when 100% would be reached, against the reset.

    Utilization drops when a window resets, so only the points since the last drop count, and
    they must span at least PACE_MIN_SPAN_S.
    """
    since_drop = _since_last_drop(points)
    if len(since_drop) < 2:
        return None
    (t0, u0), (t1, u1) = since_drop[0], since_drop[-1]
    if t1 - t0 < PACE_MIN_SPAN_S:
        return None
    rate_per_s = (u1 - u0) / (t1 - t0)
    full_at = t1 + (1.0 - u1) / rate_per_s if rate_per_s > 0 else None
    return {
        "rate_per_hour": rate_per_s * 3600,
        "full_at": full_at,
        "before_reset": full_at is not None and reset is not None and full_at < reset,
    }


def _since_last_drop(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    start = 0
    for i in range(1, len(points)):
        if points[i][1] < points[i - 1][1]:
            start = i
    return points[start:]


def alarms(conn: sqlite3.Connection, subscription_profiles: Iterable[str], now: float) -> list[dict[str, Any]]:
    """Problems of the last 24 hours worth a person's attention, newest first."""
    since = now - ALARM_WINDOW_S
    out: list[dict[str, Any]] = []
    for profile in subscription_profiles:
        row = conn.execute(
            "SELECT COUNT(*), MAX(ts) FROM requests WHERE profile = ? AND ts >= ? AND billing = 'api'",
            (profile, since),
        ).fetchone()
        if row[0]:
            out.append(
                {
                    "kind": "api_billed",
                    "profile": profile,
                    "count": row[0],
                    "last": row[1],
                    "message": f"{row[0]} request(s) on subscription profile {profile} came back billed to the API"
                    " (API-key rate-limit headers): check that the request used the subscription login",
                }
            )
    for status, kind, what in (
        (
            401,
            "unauthorized",
            "401: the token expired or was revoked; log in again (`claude /login`, or"
            " `ccgate profile add` with a fresh key)",
        ),
        (429, "rate_limited", "429: the upstream rejected requests (rate limit)"),
    ):
        for profile, count, last in conn.execute(
            "SELECT profile, COUNT(*), MAX(ts) FROM requests WHERE ts >= ? AND status = ? GROUP BY profile",
            (since, status),
        ):
            out.append(
                {
                    "kind": kind,
                    "profile": profile,
                    "count": count,
                    "last": last,
                    "message": f"{count} x {what}",
                }
            )
    out.sort(key=lambda a: a["last"] or 0, reverse=True)
    return out


def session_rows(conn: sqlite3.Connection, session_id: str, limit: int = 20_000) -> list[dict[str, Any]]:
    cols = ", ".join(FEED_FIELDS)
    rows = conn.execute(
        f"SELECT {cols} FROM requests WHERE session_id = ? ORDER BY ts LIMIT ?", (session_id, limit)
    ).fetchall()
    return [feed_row(r) for r in rows]


def now() -> float:
    return time.time()
