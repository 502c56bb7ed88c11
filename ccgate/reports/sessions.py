"""What tells the sessions of a `--by session` report apart: their profiles, models and start.

The report groups by session id alone (from the hourly sums); these few facts per session are
read from the raw rows of just the sessions shown, through the session index.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, tzinfo
from typing import Any

CHUNK = 500  # session ids per query: well under SQLite's bound-parameter limit

SQL = """
SELECT session_id, profile, COALESCE(model, request_model), MIN(ts)
FROM requests
WHERE endpoint = 'messages' AND session_id IN ({marks}) AND ts >= ? AND ts < ?
GROUP BY session_id, profile, COALESCE(model, request_model)
"""


def add_session_details(
    conn: sqlite3.Connection, rows: list[dict[str, Any]], since: float, until: float, tz: tzinfo
) -> None:
    """Give each session row `profiles` and `model_names` (in the order first used) and `start` (ISO, local)."""
    wanted = [r["key"] for r in rows if r["key"] != "-"]
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), CHUNK):
        ids = wanted[i : i + CHUNK]
        sql = SQL.format(marks=", ".join("?" * len(ids)))  # placeholders only: the ids are parameters
        for session_id, profile, model, first in conn.execute(sql, [*ids, since, until]):
            entry = found.setdefault(session_id, {"profiles": {}, "models": {}, "first": first})
            entry["first"] = min(entry["first"], first)
            if profile:
                entry["profiles"][profile] = min(entry["profiles"].get(profile, first), first)
            if model:
                entry["models"][model] = min(entry["models"].get(model, first), first)
    for row in rows:
        seen = found.get(row["key"])
        row["profiles"] = _by_first_seen(seen["profiles"]) if seen else []
        row["model_names"] = _by_first_seen(seen["models"]) if seen else []
        row["start"] = datetime.fromtimestamp(seen["first"], tz).isoformat(timespec="seconds") if seen else None


def _by_first_seen(first_seen: dict[str, float]) -> list[str]:
    return [name for name, _ts in sorted(first_seen.items(), key=lambda item: (item[1], item[0]))]
