"""Subscription limits: the latest 5-hour and 7-day utilization the upstream reported, per account.

The only reader of the `rl_*` columns. Limits belong to an account (rules.ProfileSet.account_key):
profiles logged in to one account, or riding on one max-oauth profile, share its windows, so
`accounts()` groups profiles by the account their newest figures came from and returns each
account once, with a pace forecast. The status line, `stats blocks`, the dashboard and the alerts
all read limits here. Figures are fractions (0..1, can exceed 1), as the headers send them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ccgate.reports.rules import ProfileSet

LOOKBACK_S = 8 * 86400  # a 7-day window's figures older than this have reset
PACE_WINDOW_S = 3600.0  # the burn rate behind the forecast: the last hour's utilization change
# Two readings seconds apart extrapolate to nonsense (a 30-point jump in 30 ms is 3,600,000 %/h).
PACE_MIN_SPAN_S = 300.0

# INDEXED BY: with ANALYZE's statistics of a log where most rows carry figures, SQLite took
# (profile, ts) instead and walked 8 days of a profile without any (15 ms a look-up, usage/store.py m007).
LATEST_SQL = """
SELECT ts, profile, account_id, rl_5h_utilization, rl_5h_reset, rl_7d_utilization, rl_7d_reset, rl_5h_status,
       rl_7d_status, rl_representative_claim, rl_status
FROM requests INDEXED BY requests_limits
WHERE ts >= ? AND ts < ? AND (rl_5h_utilization IS NOT NULL OR rl_7d_utilization IS NOT NULL) {where}
ORDER BY ts DESC LIMIT 1
"""
KEYS = (
    "ts",
    "profile",
    "account_id",
    "utilization_5h",
    "reset_5h",
    "utilization_7d",
    "reset_7d",
    "status_5h",
    "status_7d",
    "binding",
    "status",
)


def latest(
    conn: sqlite3.Connection, since: float, until: float, profiles: Sequence[str] | None = None
) -> dict[str, Any] | None:
    """The newest figures in [since, until), of these profiles (None: any)."""
    params: list[Any] = [since, until]
    where = ""
    if profiles is not None:
        if not profiles:
            return None
        where = f"AND profile IN ({', '.join('?' for _ in profiles)})"
        params += list(profiles)
    row = conn.execute(LATEST_SQL.format(where=where), params).fetchone()
    return None if row is None else dict(zip(KEYS, tuple(row), strict=True))


def current(figures: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """`figures` with each window whose reset has passed emptied: it says nothing about the new window."""
    if figures is None:
        return None
    out = dict(figures)
    for window in ("5h", "7d"):
        reset = out.get(f"reset_{window}")
        if isinstance(reset, int | float) and reset <= now:
            out[f"utilization_{window}"] = out[f"reset_{window}"] = None
    return out


def utilization_history(conn: sqlite3.Connection, profiles: Iterable[str], now: float) -> list[tuple[float, float]]:
    """(ts, 5h utilization) over the last hour from these profiles (one account's)."""
    names = list(profiles)
    if not names:
        return []
    marks = ", ".join("?" for _ in names)
    rows = conn.execute(
        f"SELECT ts, rl_5h_utilization FROM requests WHERE profile IN ({marks}) AND ts >= ?"
        " AND rl_5h_utilization IS NOT NULL ORDER BY ts",
        (*names, now - PACE_WINDOW_S),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def pace_forecast(points: list[tuple[float, float]], reset: int | None) -> dict[str, Any] | None:
    """At the recent burn rate (utilization per hour), when 100% would be reached, against the reset.

    Utilization drops when a window resets, so only the points since the last drop count, and
    they must span at least PACE_MIN_SPAN_S.
    """
    start = 0
    for i in range(1, len(points)):
        if points[i][1] < points[i - 1][1]:
            start = i
    since_drop = points[start:]
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


@dataclass(slots=True)
class Account:
    key: str  # rules.ProfileSet.account_key
    account_id: str | None
    profiles: list[str]
    latest: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.key, "account_id": self.account_id, "profiles": self.profiles, "latest": self.latest}


def accounts(conn: sqlite3.Connection | None, profiles: ProfileSet, now: float) -> list[Account]:
    """Every subscription profile (and any other whose responses carried limits), grouped by the
    account its newest figures came from; newest figures first."""
    groups: dict[str, Account] = {}
    for name in sorted(profiles.kinds):
        figures = None if conn is None else latest(conn, now - LOOKBACK_S, now + 1, [name])
        if not (profiles.uses_subscription(name) or figures):
            continue
        account_id = figures["account_id"] if figures else None
        key = profiles.account_key(name, account_id)
        group = groups.setdefault(key, Account(key, account_id, [], None))
        group.profiles.append(name)
        if figures and (group.latest is None or figures["ts"] > group.latest["ts"]):
            group.latest = figures
    for group in groups.values():
        group.latest = current(group.latest, now)
    return sorted(groups.values(), key=lambda a: (-(a.latest["ts"] if a.latest else 0), a.profiles))


def account_of(conn: sqlite3.Connection | None, profiles: ProfileSet, profile: str, now: float) -> Account | None:
    """The account `profile` belongs to; a profile no longer in config.toml is an account of its own."""
    found = next((a for a in accounts(conn, profiles, now) if profile in a.profiles), None)
    if found is not None or conn is None:
        return found
    figures = latest(conn, now - LOOKBACK_S, now + 1, [profile])
    if figures is None:
        return None
    key = profiles.account_key(profile, figures["account_id"])
    return Account(key, figures["account_id"], [profile], current(figures, now))


def with_pace(conn: sqlite3.Connection | None, account: Account, now: float) -> dict[str, Any]:
    out = account.to_dict()
    reset = account.latest["reset_5h"] if account.latest else None
    out["pace"] = None if conn is None else pace_forecast(utilization_history(conn, account.profiles, now), reset)
    return out
