"""`ccgate stats reconcile`: the forwarder's ledger beside Claude Code's own, session by session.

For each session in the range either source saw: the tokens of the requests the forwarder logged
and of those the transcripts recorded, side by side, and what differs: responses that bypassed the
gate (only a transcript has them: Claude Code went to the API directly) and responses the
transcripts never recorded (only the forwarder saw them: another client, or a transcript not
imported). A session no request of which went through ccgate is "not routed".
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ccgate.reports.context import ReportContext
from ccgate.reports.rules import SEEN_GATEWAY, SEEN_TRANSCRIPT

TOTAL = (
    "(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_write_other_tokens"
    " + output_tokens)"
)
RECONCILE_SQL = f"""
SELECT session_id, MIN(ts), MAX(ts), GROUP_CONCAT(DISTINCT REPLACE(profile, ',', char(31))),
       GROUP_CONCAT(DISTINCT REPLACE(project, ',', char(31))),
       SUM((seen & {SEEN_GATEWAY}) != 0), SUM(CASE WHEN seen & {SEEN_GATEWAY} THEN {TOTAL} ELSE 0 END),
       SUM((seen & {SEEN_TRANSCRIPT}) != 0),
       SUM(CASE WHEN seen & {SEEN_TRANSCRIPT} THEN COALESCE(transcript_tokens, {TOTAL}) ELSE 0 END),
       SUM(seen = {SEEN_TRANSCRIPT}), SUM(CASE WHEN seen = {SEEN_TRANSCRIPT} THEN {TOTAL} ELSE 0 END),
       SUM(seen = {SEEN_GATEWAY} AND status < 400 AND outcome = 'ok'),
       SUM(CASE WHEN seen = {SEEN_GATEWAY} AND status < 400 AND outcome = 'ok' THEN {TOTAL} ELSE 0 END)
FROM requests WHERE endpoint = 'messages' AND session_id IS NOT NULL AND ts >= ? AND ts < ?
GROUP BY session_id ORDER BY MAX(ts) DESC
"""


def split_labels(joined: str | None) -> list[str]:
    """A label column's values back from GROUP_CONCAT (commas inside a value came as \x1f)."""
    return [part.replace("\x1f", ",") for part in (joined or "").split(",") if part]


def reconcile_report(conn: sqlite3.Connection | None, ctx: ReportContext) -> dict[str, Any]:
    sessions = []
    for row in [] if conn is None else conn.execute(RECONCILE_SQL, (ctx.since, ctx.until)):
        gateway_requests, transcript_requests = row[5] or 0, row[7] or 0
        bypassed, unrecorded = row[9] or 0, row[11] or 0
        if not gateway_requests:
            status = "not routed"
        elif not transcript_requests:
            status = "no transcript"
        elif bypassed or unrecorded or (row[6] or 0) != (row[8] or 0):
            status = "differs"
        else:
            status = "matched"
        sessions.append(
            {
                "session_id": row[0],
                "first_ts": row[1],
                "last_ts": row[2],
                "profiles": sorted(split_labels(row[3])),
                "projects": sorted(split_labels(row[4])),
                "gateway_requests": gateway_requests,
                "gateway_tokens": row[6] or 0,
                "transcript_requests": transcript_requests,
                "transcript_tokens": row[8] or 0,
                "bypassed_requests": bypassed,
                "bypassed_tokens": row[10] or 0,
                "unrecorded_requests": unrecorded,
                "unrecorded_tokens": row[12] or 0,
                "status": status,
            }
        )
    return {"range": ctx.range_label(), "sessions": sessions}
