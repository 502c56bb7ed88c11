"""What in the usage log needs a person's attention: built here once, shown by the dashboard, doctor
and the alerts.

- `api_billed`: a subscription profile's requests came back billed to an API key (the plan did
  not pay: something put a key in play);
- `unauthorized`: a profile's newest request got 401 (its credential expired or was revoked;
  a later success clears it);
- `rate_limited`: the upstream answered 429.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ccgate.reports.rules import ProfileSet

DAY_S = 86400.0
Severity = Literal["fail", "warn"]


@dataclass(slots=True, frozen=True)
class Alarm:
    kind: str
    profile: str | None
    count: int
    last: float
    severity: Severity
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def alarms(conn: sqlite3.Connection | None, profiles: ProfileSet, now: float, window_s: float = DAY_S) -> list[Alarm]:
    """The alarms of the last `window_s` seconds, newest first."""
    if conn is None:
        return []
    since = now - window_s
    found = [*_api_billed(conn, profiles, since), *_unauthorized(conn, since), *_rate_limited(conn, since)]
    return sorted(found, key=lambda a: a.last, reverse=True)


def _api_billed(conn: sqlite3.Connection, profiles: ProfileSet, since: float) -> list[Alarm]:
    out = []
    for name in profiles.subscription_profiles:
        count, total, last = conn.execute(
            "SELECT SUM(billing = 'api'), COUNT(*), MAX(CASE WHEN billing = 'api' THEN ts END) FROM requests"
            " WHERE profile = ? AND ts >= ?",
            (name, since),
        ).fetchone()
        if count:
            out.append(
                Alarm(
                    "api_billed",
                    name,
                    count,
                    last,
                    "fail",
                    f"{count} of {total} requests on subscription profile {name} came back billed to an API key:"
                    " the plan is not what pays",
                    "check that no ANTHROPIC_API_KEY / apiKeyHelper is in play (ccgate current, ccgate doctor)",
                )
            )
    return out


def _unauthorized(conn: sqlite3.Connection, since: float) -> list[Alarm]:
    out = []
    rows = conn.execute(
        "SELECT profile, SUM(status = 401), MAX(CASE WHEN status = 401 THEN ts END), MAX(ts) FROM requests"
        " WHERE ts >= ? AND profile IS NOT NULL GROUP BY profile HAVING SUM(status = 401) > 0",
        (since,),
    ).fetchall()
    for profile, count, last_401, last in rows:
        newest = conn.execute(
            "SELECT status FROM requests WHERE profile = ? AND ts = ? ORDER BY id DESC LIMIT 1", (profile, last)
        ).fetchone()
        if newest is None or newest[0] != 401:
            continue  # a later request got through: the credential works again
        out.append(
            Alarm(
                "unauthorized",
                profile,
                count,
                last_401,
                "fail",
                f"the newest request of profile {profile} got 401: its credential expired or was revoked",
                f"claude setup-token (or /login), then ccgate profile edit {profile} --secret",
            )
        )
    return out


def _rate_limited(conn: sqlite3.Connection, since: float) -> list[Alarm]:
    rows = conn.execute(
        "SELECT profile, COUNT(*), MAX(ts) FROM requests WHERE ts >= ? AND status = 429 GROUP BY profile", (since,)
    ).fetchall()
    return [
        Alarm(
            "rate_limited",
            profile,
            count,
            last,
            "warn",
            f"{count} request(s) of {profile or 'no profile'} were refused with 429 (rate limit)",
            "wait for the reset shown on the dashboard's Limits, or use another profile",
        )
        for profile, count, last in rows
    ]
