"""`ccgate log`: the last requests from the usage log (time, profile, model, status, tokens, duration).

`--json` prints a JSON array of records whose keys are the UsageRecord field names (plus `id`);
with `--follow` it prints one JSON object per line (JSON Lines) as requests arrive.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import Any

import typer

from ccgate.errors import UsageError

FOLLOW_POLL_S = 0.5
COLUMNS = ("time", "profile", "model", "status", "input", "c.read", "c.w5m", "c.w1h", "c.w?", "output", "ms")
WIDTHS = (19, 12, 26, 38, 8, 9, 8, 8, 6, 8, 7)


def _status_cell(row: dict[str, Any]) -> str:
    text = str(row["status"])
    if row["outcome"] != "ok":
        text += f" {row['outcome']}"
    if row["error_type"]:
        text += f" {row['error_type']}"
    return text


def format_row(row: dict[str, Any]) -> str:
    """One request as a fixed-width line; count_tokens calls show their count in brackets, not as spend."""
    model = row["model"] or row["request_model"] or "-"
    if row["endpoint"] == "count_tokens":
        model = f"count_tokens [{row['count_tokens_input'] if row['count_tokens_input'] is not None else '?'}]"
    elif row["endpoint"] not in ("messages",):
        model = f"{row['method']} {row['path'].split('?', 1)[0]}"
    cells = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["ts"])),
        row["profile"] or "-",
        model,
        _status_cell(row),
        row["input_tokens"],
        row["cache_read_tokens"],
        row["cache_write_5m_tokens"],
        row["cache_write_1h_tokens"],
        row["cache_write_other_tokens"],
        row["output_tokens"],
        round(row["duration_ms"]),
    )
    return _line(cells)


def _line(cells: Iterable[Any]) -> str:
    parts = []
    for i, (cell, width) in enumerate(zip(cells, WIDTHS, strict=True)):
        text = str(cell)
        if len(text) > width:
            text = text[: width - 1] + "…"
        parts.append(text.ljust(width) if i < 4 else text.rjust(width))
    return "  ".join(parts).rstrip()


def header() -> str:
    return _line(COLUMNS)


def _print_rows(rows: list[dict[str, Any]], as_json: bool, lines: bool) -> None:
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if as_json else format_row(row), flush=lines)


def show_log(limit: int, as_json: bool, follow: bool) -> None:
    from ccgate.reports import feed, reader

    conn = reader.open_log(upgrade=True)
    if conn is None and not follow:
        if as_json:
            print("[]")
        else:
            print("ccgate: no requests logged yet (the usage log fills while `ccgate serve` runs)", file=sys.stderr)
        return
    rows = feed.log_rows(conn, limit)
    if as_json and not follow:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not as_json:
        print(header())
    _print_rows(rows, as_json, follow)
    if follow:
        _follow(conn, rows[-1]["id"] if rows else 0, as_json)


def _follow(conn: Any, last_id: int, as_json: bool) -> None:
    from ccgate.reports import feed, reader

    try:
        while True:
            if conn is None:
                conn = reader.open_log(upgrade=True)
            if conn is not None:
                rows = feed.log_rows_after(conn, last_id)
                if rows:
                    _print_rows(rows, as_json, True)
                    last_id = rows[-1]["id"]
                    continue
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return


def register(app: typer.Typer) -> None:
    @app.command("log", epilog="Example: ccgate log -n 5 --json")
    def log_cmd(
        n: int = typer.Option(20, "-n", "--lines", help="How many of the latest requests to show."),
        as_json: bool = typer.Option(
            False, "--json", help="JSON array of records (UsageRecord field names); JSON Lines with --follow."
        ),
        follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new requests as they are logged."),
    ) -> None:
        """Show the latest requests from the usage log."""
        if n < 0:
            raise UsageError(f"-n must be 0 or more, not {n}")
        show_log(n, as_json, follow)
