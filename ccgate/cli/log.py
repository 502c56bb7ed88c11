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

from ccgate.cli._common import print_json
from ccgate.errors import UsageError

FOLLOW_POLL_S = 0.5
COLUMNS = ("time", "profile", "model", "status", "input", "c.read", "c.w5m", "c.w1h", "c.w?", "output", "ms")
WIDTHS = (19, 12, 26, 38, 8, 9, 8, 8, 6, 8, 7)
STATUS = 3
FOLLOW_STATUS_WIDTH = 24  # rows yet to come cannot be measured
# Which columns go first when the terminal is too narrow (highest number first, right-most first).
PRIORITY = (0, 2, 0, 0, 1, 2, 3, 3, 4, 1, 2)
LEFT_ALIGNED = 4  # time, profile, model, status
SEP = "  "


def column_widths(rows: list[dict[str, Any]], follow: bool) -> tuple[int, ...]:
    """WIDTHS, with the status column only as wide as the statuses shown need."""
    status = FOLLOW_STATUS_WIDTH if follow else max([len("status"), *(len(_status_cell(r)) for r in rows)])
    return (*WIDTHS[:STATUS], min(status, WIDTHS[STATUS]), *WIDTHS[STATUS + 1 :])


def fit(width: int | None, widths: tuple[int, ...] = WIDTHS) -> tuple[int, ...]:
    """The indexes of the columns that fit `width` characters (all of them for None)."""
    kept = list(range(len(COLUMNS)))
    if width is None:
        return tuple(kept)
    while sum(widths[i] for i in kept) + len(SEP) * (len(kept) - 1) > width:
        worst = max(PRIORITY[i] for i in kept)
        if worst == 0:
            break
        kept.remove(next(i for i in reversed(kept) if PRIORITY[i] == worst))
    return tuple(kept)


def output_width() -> int | None:
    """The terminal's width; a pipe gets every column unless COLUMNS says otherwise."""
    import os
    import shutil

    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return shutil.get_terminal_size().columns
    return None


def _status_cell(row: dict[str, Any]) -> str:
    text = str(row["status"])
    if row["outcome"] != "ok":
        text += f" {row['outcome']}"
    if row["error_type"]:
        text += f" {row['error_type']}"
    return text


def format_row(row: dict[str, Any], kept: tuple[int, ...] | None = None, widths: tuple[int, ...] = WIDTHS) -> str:
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
    return _line(cells, kept, widths)


def _line(cells: Iterable[Any], kept: tuple[int, ...] | None = None, widths: tuple[int, ...] = WIDTHS) -> str:
    parts = []
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        if kept is not None and i not in kept:
            continue
        text = str(cell)
        if len(text) > width:
            text = text[: width - 1] + "…"
        parts.append(text.ljust(width) if i < LEFT_ALIGNED else text.rjust(width))
    return SEP.join(parts).rstrip()


def header(kept: tuple[int, ...] | None = None, widths: tuple[int, ...] = WIDTHS) -> str:
    return _line(COLUMNS, kept, widths)


def dropped_note(kept: tuple[int, ...], width: int | None) -> str | None:
    left_out = [name for i, name in enumerate(COLUMNS) if i not in kept]
    if not left_out:
        return None
    noun = "column" if len(left_out) == 1 else "columns"
    return (
        f"ccgate: {len(left_out)} {noun} left out to fit {width} characters: {', '.join(left_out)}; "
        "widen the terminal or use --json"
    )


Layout = tuple[tuple[int, ...], tuple[int, ...]]  # kept column indexes, column widths


def _print_rows(rows: list[dict[str, Any]], as_json: bool, lines: bool, layout: Layout) -> None:
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if as_json else format_row(row, *layout), flush=lines)


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
        print_json(rows)
        return
    width = None if as_json else output_width()
    widths = column_widths(rows, follow)
    layout = (fit(width, widths), widths)
    if not as_json:
        note = dropped_note(layout[0], width)
        if note:
            print(note, file=sys.stderr)
        print(header(*layout))
    _print_rows(rows, as_json, follow, layout)
    if follow:
        _follow(conn, rows[-1]["id"] if rows else 0, as_json, layout)


def _follow(conn: Any, last_id: int, as_json: bool, layout: Layout) -> None:
    from ccgate.reports import feed, reader

    try:
        while True:
            if conn is None:
                conn = reader.open_log(upgrade=True)
            if conn is not None:
                rows = feed.log_rows_after(conn, last_id)
                if rows:
                    _print_rows(rows, as_json, True, layout)
                    last_id = rows[-1]["id"]
                    continue
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        # Ctrl-C is how --follow ends: the shell's 130, without click's "Aborted!".
        raise typer.Exit(130) from None


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
