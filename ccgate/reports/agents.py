"""Who spent it: a session split into its main loop and each agent, as a tree.

Claude Code marks a subagent's requests with `x-claude-code-agent-id` and, for an agent spawned
by an agent, `x-claude-code-parent-agent-id`; the main loop sends neither. Each node carries its
own totals and its subtree's, so the root's subtree is the whole session, agents included (the
figure Claude Code's status line leaves out). `ccgate stats --by agent` and the dashboard's
session view both build their trees here.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ccgate.reports.context import ReportContext
from ccgate.reports.rules import PRICED_COLUMNS

TOTAL_KEYS = (
    "requests",
    "input_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "output_tokens",
    "cost_usd",
    "unpriced",
)
TREE_COLUMNS = (
    "id",
    "ts",
    "session_id",
    "agent_id",
    "parent_agent_id",
    "endpoint",
    "model",
    "request_model",
    "speed",
    "inference_geo",
    "profile",
    "project",
    *PRICED_COLUMNS,
)


def row_cost(ctx: ReportContext, row: dict[str, Any]) -> float | None:
    """One request's cost at API list prices, priced exactly as the reports price it (count_tokens: 0)."""
    if row.get("endpoint") != "messages":
        return 0.0
    cost = ctx.pricer.row_cost(row)
    return None if cost is None else float(round(cost, 6))


def agent_tree(rows: list[dict[str, Any]], cost: dict[int, float | None]) -> dict[str, Any]:
    """The session's main loop (no agent id) with its subagents nested by parent agent id; every
    node carries its own totals and, in `subtree`, its own plus all its descendants'."""
    nodes: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        node = nodes.setdefault(row["agent_id"], _node(row["agent_id"], row["parent_agent_id"]))
        _add(node, row, cost.get(row["id"]))
    root = nodes.setdefault(None, _node(None, None))
    for agent_id, node in nodes.items():
        if agent_id is None:
            continue
        parent = nodes.get(node["parent_agent_id"], root)
        if parent is node:  # a self-parent would loop: hang it on the main loop
            parent = root
        parent["children"].append(node)
    return with_subtree(root)


def _node(agent_id: str | None, parent: str | None) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "parent_agent_id": parent,
        "requests": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.0,
        "unpriced": 0,
        "models": [],
        "first_ts": None,
        "last_ts": None,
        "children": [],
    }


def _add(node: dict[str, Any], row: dict[str, Any], cost: float | None) -> None:
    node["requests"] += 1
    node["input_tokens"] += row["input_tokens"]
    node["output_tokens"] += row["output_tokens"]
    node["cache_read_tokens"] += row["cache_read_tokens"]
    node["cache_write_tokens"] += (
        row["cache_write_5m_tokens"] + row["cache_write_1h_tokens"] + row["cache_write_other_tokens"]
    )
    if cost is None:
        node["unpriced"] += 1
    else:
        node["cost_usd"] += cost
    model = row["model"] or row["request_model"]
    if model and model not in node["models"]:
        node["models"].append(model)
    node["first_ts"] = row["ts"] if node["first_ts"] is None else node["first_ts"]
    node["last_ts"] = row["ts"]


def with_subtree(node: dict[str, Any]) -> dict[str, Any]:
    """Add `subtree` (own totals plus every descendant's) to `node` and its children."""
    subtree = {key: node[key] for key in TOTAL_KEYS}
    for child in node["children"]:
        for key, value in with_subtree(child)["subtree"].items():
            subtree[key] += value
    subtree["cost_usd"] = round(subtree["cost_usd"], 6)
    node["cost_usd"] = round(node["cost_usd"], 6)
    node["subtree"] = subtree
    return node


def session_rows(
    conn: sqlite3.Connection, *, since: float, until: float, session: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Messages rows with a session in [since, until) (or of one session), oldest first, per session."""
    sql = f"SELECT {', '.join(TREE_COLUMNS)} FROM requests WHERE endpoint = 'messages' AND ts >= ? AND ts < ?"
    args: list[Any] = [since, until]
    if session is not None:
        sql += " AND session_id = ?"
        args.append(session)
    else:
        sql += " AND session_id IS NOT NULL"
    by_session: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(sql + " ORDER BY ts, id", args):
        by_session.setdefault(row["session_id"], []).append(dict(row))
    return by_session


def session_trees(
    conn: sqlite3.Connection | None, ctx: ReportContext, *, session: str | None = None
) -> list[dict[str, Any]]:
    """One tree per session with Messages traffic in the range (a named session: whole), newest first."""
    if conn is None:
        return []
    since, until = (0.0, float("inf")) if session is not None else (ctx.since, ctx.until)
    trees = []
    for session_id, rows in session_rows(conn, since=since, until=until, session=session).items():
        costs = {r["id"]: row_cost(ctx, r) for r in rows}
        trees.append(
            {
                "session_id": session_id,
                "profiles": sorted({r["profile"] for r in rows if r["profile"]}),
                "projects": sorted({r["project"] for r in rows if r["project"]}),
                "first_ts": rows[0]["ts"],
                "last_ts": rows[-1]["ts"],
                "tree": agent_tree(rows, costs),
            }
        )
    ctx.pricer.save()
    trees.sort(key=lambda t: t["last_ts"], reverse=True)
    return trees
