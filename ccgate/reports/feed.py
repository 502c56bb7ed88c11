"""Single requests as the dashboard shows them: the newest rows and each finished record.

A feed row carries what a person may see of one request (never the credential fingerprint or
anything from a body), its cost priced like the reports price it, and the judgements the page
must not make itself: whether it is an error, and what kind of call it was (a `count_tokens`
call is a token count, not a 0-token request).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ccgate.reports.context import ReportContext
from ccgate.reports.pricing import request_cost
from ccgate.reports.rules import PRICED_COLUMNS, is_error

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
    *PRICED_COLUMNS,
    "count_tokens_input",
    "billing",
    "service_tier",
    "speed",
    "inference_geo",
    "project",
)
CALLS = {"messages": "message", "count_tokens": "token count", "models": "model list"}


def feed_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in FEED_FIELDS if name in row.keys()}  # noqa: SIM118 (sqlite3.Row)


def feed_row(fields: dict[str, Any], cost: Decimal | None) -> dict[str, Any]:
    """One request's feed row from its `feed_fields` and its price (pricing.request_cost)."""
    out = dict(fields)
    out["stream"] = bool(out.get("stream"))
    out["error"] = is_error(out.get("status", 0), out.get("outcome", "ok"))
    out["call"] = CALLS.get(str(out.get("endpoint")), "other")
    out["cost_usd"] = None if cost is None else float(round(cost, 6))
    return out


def recent(conn: sqlite3.Connection | None, ctx: ReportContext, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` requests, newest first."""
    if conn is None:
        return []
    cols = ", ".join(FEED_FIELDS)
    rows = conn.execute(f"SELECT {cols} FROM requests ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    out = [feed_row(fields, request_cost(ctx.pricer, fields)) for fields in map(feed_fields, rows)]
    ctx.pricer.save()
    return out


def last_id(conn: sqlite3.Connection | None) -> int:
    """The newest row's id (the rowid's B-tree end: constant time), a cheap version of the log."""
    if conn is None:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0])


def log_rows(conn: sqlite3.Connection | None, limit: int) -> list[dict[str, Any]]:
    """`ccgate log`: the newest `limit` requests as UsageRecord fields plus `id`, oldest first."""
    from ccgate.usage.store import row_to_dict

    if conn is None:
        return []
    rows = conn.execute("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [row_to_dict(r) for r in reversed(rows)]


def log_rows_after(conn: sqlite3.Connection, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Requests written after row `after_id`, oldest first (for `ccgate log --follow`)."""
    from ccgate.usage.store import row_to_dict

    rows = conn.execute("SELECT * FROM requests WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
    return [row_to_dict(r) for r in rows]
