"""Output for `ccgate stats`: rich tables for people, JSON and CSV for machines.

JSON is the report dicts as they are; CSV flattens rows with the same field names (documented in
README "Stats fields"). Tables are built from those same dicts, so the three always agree.
rich honours NO_COLOR by itself; on narrow terminals the less essential columns are dropped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

CSV_FIELDS = (
    "key",
    "model",
    "start",
    "end",
    "requests",
    "errors",
    "input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "total_tokens",
    "cache_hit_ratio",
    "cost_usd",
    "api_cost_usd",
    "subscription_cost_usd",
    "unknown_billing_cost_usd",
    "cost_basis",
    "unpriced_requests",
    "unpriced_models",
    "profiles",
    "model_names",
)
BLOCK_CSV_FIELDS = (
    "account",
    "start",
    "end",
    "window",
    "active",
    "requests",
    "input_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "unpriced_requests",
    "utilization_5h",
    "reset_5h",
    "utilization_7d",
    "reset_7d",
)


# --- machine formats ---------------------------------------------------------------------------


def to_json(data: Any, *, ascii_only: bool = False) -> str:
    """Indented JSON: every --json output goes through here."""
    if ascii_only:
        return json.dumps(data, indent=2, ensure_ascii=True)
    import msgspec

    # The text json.dumps(indent=2) writes, written by C: a 5 MB session report took 0.37 s in
    # json's pure-Python indenting encoder, 0.02 s here.
    return msgspec.json.format(msgspec.json.encode(data), indent=2).decode()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return _float_text(value)
    return value


def _float_text(value: float) -> str:
    """0.011279999999999998 -> 0.01128: sums of float costs carry binary noise far below a micro-dollar."""
    text = repr(round(value, 9))
    return text.removesuffix(".0") if text.endswith(".0") else text


def stats_csv(report: dict[str, Any]) -> str:
    """One line per row (and per model under it with --breakdown), then the totals line."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow({k: _csv_value(row.get(k)) for k in CSV_FIELDS} | {"model": ""})
        for sub in row.get("models", []):
            writer.writerow({k: _csv_value(sub.get(k)) for k in CSV_FIELDS} | {"key": row["key"]})
    writer.writerow({k: _csv_value(report["totals"].get(k)) for k in CSV_FIELDS} | {"model": ""})
    return buf.getvalue()


def blocks_csv(report: dict[str, Any]) -> str:
    """One line per block of each subscription account (the `account` column says whose)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, BLOCK_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for account in report["accounts"]:
        for block in account["blocks"]:
            limits = block.get("rate_limits") or {}
            keys = ("utilization_5h", "reset_5h", "utilization_7d", "reset_7d")
            flat = {**block, "account": account["account"], **{k: limits.get(k) for k in keys}}
            writer.writerow({k: _csv_value(flat.get(k)) for k in BLOCK_CSV_FIELDS})
    return buf.getvalue()


# --- cells -------------------------------------------------------------------------------------


def tokens(n: int) -> str:
    return f"{n:,}"


def money(value: float | None, unpriced: int = 0) -> str:
    """`unpriced` when nothing in the cell has a price; a trailing `+?` when part of it has none."""
    if value is None:
        return "unpriced"
    text = f"${value:,.2f}"
    return f"{text}+?" if unpriced else text


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.0f}%"


def local_time(ts: float | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, tz).strftime(fmt)


# --- tables ------------------------------------------------------------------------------------

Column = tuple[str, Callable[[dict[str, Any]], str], int]  # header, cell, priority (lower stays longer)


def stats_columns(report: dict[str, Any], key_header: str) -> list[Column]:
    has_sub = report["totals"]["subscription_cost_usd"] > 0
    has_paid = report["totals"]["api_cost_usd"] > 0 or report["totals"]["unknown_billing_cost_usd"] > 0
    cols: list[Column] = [
        (key_header, lambda r: str(r["key"]), 0),
        ("requests", lambda r: tokens(r["requests"]), 1),
        ("errors", lambda r: tokens(r["errors"]), 4),
        ("input", lambda r: tokens(r["input_tokens"]), 1),
        ("cache write", lambda r: tokens(r["cache_write_tokens"]), 3),
        ("cache read", lambda r: tokens(r["cache_read_tokens"]), 3),
        ("output", lambda r: tokens(r["output_tokens"]), 1),
        ("hit", lambda r: ratio(r["cache_hit_ratio"]), 4),
        ("cost", lambda r: money(r["cost_usd"], r["unpriced_requests"]), 0),
    ]
    if has_sub and has_paid:
        cols.append(("API-billed", lambda r: money(r["api_cost_usd"] + r["unknown_billing_cost_usd"]), 2))
        cols.append(("sub. API-equiv.", lambda r: money(r["subscription_cost_usd"]), 2))
    return cols


def fit_columns(cols: list[Column], rows: list[dict[str, Any]], width: int) -> list[Column]:
    """Drop the lowest-priority columns until the measured table fits `width` characters.

    The caller compares the result with `cols` to tell the reader what was left out."""

    def need(col: Column) -> int:
        header, cell, _prio = col
        return max([len(header), *(len(cell(r)) for r in rows)]) + 3  # padding and border

    widths = {id(c): need(c) for c in cols}
    kept = list(cols)
    while sum(widths[id(c)] for c in kept) + 1 > width:
        worst = max(c[2] for c in kept)
        if worst == 0:
            break
        # Drop the right-most column of the lowest priority first.
        victim = next(c for c in reversed(kept) if c[2] == worst)
        kept.remove(victim)
    return kept


def _table(
    console: Any, title: str, cols: list[Column], body: list[tuple[dict[str, Any], str | None]]
) -> tuple[Any, list[str]]:
    """The rich table, and the headers of the columns dropped to fit the terminal."""
    from rich.table import Table

    kept = fit_columns(cols, [row for row, _style in body], console.width)
    dropped = [header for header, _cell, _prio in cols if all(header != k[0] for k in kept)]
    cols = kept
    table = Table(title=title, header_style="bold")
    for i, (header, _cell, _prio) in enumerate(cols):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    for row, style in body:
        if style == "section":
            table.add_section()
            style = "bold"
        table.add_row(*(cell(row) for _h, cell, _p in cols), style=style)
    return table, dropped


def print_dropped(console: Any, dropped: list[str], machine_hint: str = "--json or --csv") -> None:
    if not dropped:
        return
    noun = "column" if len(dropped) == 1 else "columns"
    console.print(
        f"({len(dropped)} {noun} left out to fit {console.width} characters: {', '.join(dropped)}; "
        f"widen the terminal or use {machine_hint})",
        style="dim",
        highlight=False,
        markup=False,
    )


def print_stats(report: dict[str, Any], *, chart: bool, breakdown: bool) -> None:
    from rich.console import Console

    console = Console()
    cols = stats_columns(report, report["by"])
    if report["by"] == "session":
        cols[1:1] = session_columns()
    title = report["title"]
    if report["totals"]["cost_basis"] == "api-equivalent":
        title += " · cost is API-equivalent (subscription)"
    body: list[tuple[dict[str, Any], str | None]] = []
    for row in report["rows"]:
        body.append((row, None))
        if breakdown and report["by"] != "model":
            body.extend(({**sub, "key": f"  └ {sub['model']}"}, "dim") for sub in row.get("models", []))
    body.append((report["totals"], "section"))
    table, dropped = _table(console, title, cols, body)
    console.print(table)
    print_dropped(console, dropped)
    if chart:
        print_chart(console, report)
    _print_plan(console, report.get("plan"))
    for note in report["notes"]:
        # Yellow draws the eye to unpriced rows and API fallbacks; NO_COLOR turns it off (rich reads it).
        console.print(f"note: {note}", style="yellow", highlight=False, markup=False)


def session_columns() -> list[Column]:
    """What tells sessions apart besides their id: when each started, its profile and models."""

    def listed(key: str) -> Callable[[dict[str, Any]], str]:
        def cell(row: dict[str, Any]) -> str:
            values = row.get(key) or []
            return values[0] + (f" +{len(values) - 1}" if len(values) > 1 else "") if values else ""

        return cell

    def started(row: dict[str, Any]) -> str:
        start = row.get("start")  # ISO 8601 in the report's zone: show month-day hour:minute
        return f"{start[5:10]} {start[11:16]}" if start and row["key"] != "total" else ""

    return [
        ("start", started, 2),
        ("profile", listed("profiles"), 2),
        ("model", listed("model_names"), 3),
        ("project", listed("projects"), 3),
    ]


def print_chart(console: Any, report: dict[str, Any]) -> None:
    """A horizontal bar per row, length proportional to its cost."""
    rows = report["rows"]
    if not rows:
        return
    top = max((r["cost_usd"] or 0) for r in rows) or 1
    label_w = max(len(str(r["key"])) for r in rows)
    bar_w = max(console.width - label_w - 14, 10)
    console.print()
    for r in rows:
        cost = r["cost_usd"] or 0
        bar = "█" * round(cost / top * bar_w)
        console.print(
            f"{str(r['key']).ljust(label_w)} {bar} {money(r['cost_usd'], r['unpriced_requests'])}", highlight=False
        )


def _print_plan(console: Any, plan: dict[str, Any] | None) -> None:
    if not plan or not plan["subscription_api_equivalent_usd"]:
        return
    saved = plan["plan_saved_usd"]
    verdict = (
        f"saved {money(saved)}" if saved >= 0 else f"the plan cost {money(-saved)} more than API prices would have"
    )
    console.print(
        f"plan: {money(plan['plan_monthly_usd'])}/month → {money(plan['plan_cost_for_period_usd'])} for "
        f"{plan['period_days']:g} days; subscription usage at API prices "
        f"{money(plan['subscription_api_equivalent_usd'])}"
        f": {verdict}",
        highlight=False,
    )


def block_columns(tz: tzinfo) -> list[Column]:
    def limit(key: str, fmt: Callable[[Any], str]) -> Callable[[dict[str, Any]], str]:
        return lambda b: fmt((b.get("rate_limits") or {}).get(key))

    return [
        ("start", lambda b: local_time(b["start"], tz) + (" *" if b["active"] else ""), 0),
        ("end", lambda b: local_time(b["end"], tz, "%H:%M"), 1),
        ("requests", lambda b: tokens(b["requests"]), 2),
        ("tokens", lambda b: tokens(b["total_tokens"]), 1),
        ("cost", lambda b: money(b["cost_usd"], b["unpriced_requests"]), 0),
        ("5h used", limit("utilization_5h", percent), 1),
        ("5h reset", limit("reset_5h", lambda ts: local_time(ts, tz, "%H:%M")), 2),
        ("7d used", limit("utilization_7d", percent), 2),
        ("window", lambda b: b["window"], 3),
    ]


def print_blocks(report: dict[str, Any], tz: tzinfo) -> None:
    from rich.console import Console

    console = Console()
    for account in report["accounts"]:
        body = [(b, "bold" if b["active"] else None) for b in account["blocks"]]
        title = f"5-hour blocks of {', '.join(account['profiles'])} (* active) · {report['range']}"
        table, dropped = _table(console, title, block_columns(tz), body)
        console.print(table)
        print_dropped(console, dropped)
        _print_active(console, account.get("active"))
        rl = account.get("rate_limits")
        if rl:
            console.print(
                f"latest upstream figures ({local_time(rl['ts'], tz)}): 5h {percent(rl['utilization_5h'])} "
                f"resets {local_time(rl['reset_5h'], tz)}; 7d {percent(rl['utilization_7d'])} "
                f"resets {local_time(rl['reset_7d'], tz)}",
                highlight=False,
            )
    other = report["other_traffic"]
    if other["requests"]:
        console.print(
            f"beside the subscription blocks: {tokens(other['requests'])} request(s) no subscription paid for "
            f"(API key, LiteLLM, unknown), {money(other['cost_usd'], other['unpriced_requests'])}",
            highlight=False,
        )


def _print_active(console: Any, active: dict[str, Any] | None) -> None:
    if not active:
        console.print("no active block", style="dim")
        return
    console.print(
        f"active block: {tokens(active['total_tokens'])} tokens, {money(active['cost_usd'])} so far; "
        f"burn {active['burn_tokens_per_min']:,.0f} tokens/min, {money(active['burn_cost_per_hour_usd'])}/hour; "
        f"{active['minutes_remaining']:.0f} min left → projected "
        f"{tokens(active['projected_total_tokens'])} tokens, "
        f"{money(active['projected_cost_usd'])}",
        highlight=False,
    )


# --- agent trees (ccgate stats --by agent / --session) -----------------------------------------

AGENT_FIELDS = ("requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens", "cost_usd")


def agent_rows(trees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each node as a flat row (session, depth, agent, own and subtree figures), parents first."""
    rows: list[dict[str, Any]] = []

    def walk(session: str, node: dict[str, Any], depth: int) -> None:
        row = {
            "session_id": session,
            "depth": depth,
            "agent_id": node["agent_id"],
            "parent_agent_id": node["parent_agent_id"],
        }
        row.update({key: node[key] for key in AGENT_FIELDS})
        row.update({f"subtree_{key}": node["subtree"][key] for key in AGENT_FIELDS})
        rows.append(row)
        for child in node["children"]:
            walk(session, child, depth + 1)

    for tree in trees:
        walk(tree["session_id"], tree["tree"], 0)
    return rows


def agents_csv(trees: list[dict[str, Any]]) -> str:
    rows = agent_rows(trees)
    out = io.StringIO()
    fields = [
        "session_id",
        "depth",
        "agent_id",
        "parent_agent_id",
        *AGENT_FIELDS,
        *(f"subtree_{k}" for k in AGENT_FIELDS),
    ]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def print_agent_trees(trees: list[dict[str, Any]]) -> None:
    from rich.console import Console

    console = Console()
    if not trees:
        console.print("no sessions with requests in this range", highlight=False)
        return
    cols: list[Column] = [
        ("agent", lambda r: "  " * r["depth"] + (f"agent {r['agent_id']}" if r["agent_id"] else "main loop"), 0),
        ("requests", lambda r: tokens(r["requests"]), 1),
        ("input", lambda r: tokens(r["input_tokens"]), 3),
        ("cache write", lambda r: tokens(r["cache_write_tokens"]), 4),
        ("cache read", lambda r: tokens(r["cache_read_tokens"]), 4),
        ("output", lambda r: tokens(r["output_tokens"]), 2),
        ("own cost", lambda r: money(r["cost_usd"]), 2),
        ("with agents", lambda r: money(r["subtree_cost_usd"]), 1),
    ]
    dropped: list[str] = []
    for tree in trees:
        rows = agent_rows([tree])
        table, dropped = _table(console, f"session {tree['session_id']}", cols, [(r, None) for r in rows])
        console.print(table)
    print_dropped(console, dropped)


# --- stats reconcile ---------------------------------------------------------------------------


def print_reconcile(report: dict[str, Any], tz: tzinfo) -> None:
    from rich.console import Console

    console = Console()
    if not report["sessions"]:
        console.print(f"no sessions in this range ({report['range']})", highlight=False)
        return
    cols: list[Column] = [
        ("session", lambda r: str(r["session_id"])[:13], 0),
        ("last", lambda r: local_time(r["last_ts"], tz), 2),
        ("project", lambda r: ", ".join(r["projects"]) or "-", 3),
        ("gateway tokens", lambda r: tokens(r["gateway_tokens"]), 1),
        ("transcript tokens", lambda r: tokens(r["transcript_tokens"]), 1),
        ("bypassed", lambda r: tokens(r["bypassed_requests"]), 2),
        ("not in transcript", lambda r: tokens(r["unrecorded_requests"]), 2),
        ("status", lambda r: r["status"], 0),
    ]
    table, dropped = _table(
        console, f"ccgate stats reconcile · {report['range']}", cols, [(r, None) for r in report["sessions"]]
    )
    console.print(table)
    print_dropped(console, dropped)
