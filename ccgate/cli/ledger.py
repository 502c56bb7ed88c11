"""`ccgate import [PATH…]` and `ccgate export`: Claude Code's transcripts and other machines' ledgers."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer

from ccgate.cli._common import load, print_json
from ccgate.errors import UsageError

if TYPE_CHECKING:
    import sqlite3

    from ccgate.usage.ledger import MergeSummary


def import_(
    paths: list[Path] | None = typer.Argument(
        None, help="Transcript dirs or files, or another machine's export (default: Claude Code's own dirs)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was read and added as JSON."),
) -> None:
    """Add Claude Code's transcripts (or another machine's `ccgate export`) to the usage log.

    Incremental: a second run reads only what is new and adds nothing twice.

    Examples:
      ccgate import
      ccgate import laptop.jsonl
    """
    from ccgate.usage import ledger
    from ccgate.usage.roots import Root, roots_for

    config = load()
    conn = ledger.open_writer()
    try:
        if paths and all(_is_export(p) for p in paths):
            machine = ledger.machine_name(config.settings.machine_name)
            merged = [_merge_export(conn, p, machine) for p in paths]
            if as_json:
                print_json([m.to_dict() for m in merged])
            for m in [] if as_json else merged:
                print(f"ccgate: {m.machine}: {m.added} of {m.rows} rows added ({m.already_there} were already here)")
            return
        roots = [Root(p.resolve(), None) for p in paths] if paths else roots_for(config, os.environ)
        summary = ledger.import_transcripts(conn, roots)
    finally:
        conn.close()
    if as_json:
        print_json(summary.to_dict())
        return
    print(
        f"ccgate: {summary.files} transcript file(s), {summary.read_bytes / 1e6:.1f} MB read: "
        f"{summary.added} added, {summary.merged} matched the forwarder's, {summary.updated} updated"
    )
    for reason, count in summary.skipped.items():
        print(f"ccgate: skipped {count} line(s): {reason}", file=sys.stderr)
    for problem in summary.unreadable:
        print(f"ccgate: {problem}", file=sys.stderr)


def _is_export(path: Path) -> bool:
    """A file whose first line names the ledger export format."""
    from ccgate.usage.ledger import EXPORT_FORMAT

    if not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            head = f.readline(4096)
    except OSError:
        return False
    return EXPORT_FORMAT.encode() in head and b'"format"' in head


def _merge_export(conn: sqlite3.Connection, path: Path, machine: str) -> MergeSummary:
    from ccgate.usage import ledger

    try:
        with path.open(encoding="utf-8") as f:
            return ledger.import_export(conn, f, str(path), machine)
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; nothing was imported") from None


def export(
    since: str | None = typer.Option(None, "--since", help="From: YYYY-MM-DD, or a span like 30d (default: all)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (default: stdout)."),
) -> None:
    """Write the usage log as JSON Lines, a machine name on every row, for `ccgate import` elsewhere.

    Example: ccgate export --since 30d -o laptop.jsonl
    """
    import json

    from ccgate.reports import context, reader
    from ccgate.usage import ledger

    config = load()
    ctx = context.build(config, since=since, whole_log=since is None)
    conn = reader.open_log(upgrade=True)
    machine = ledger.machine_name(config.settings.machine_name)
    header = {"format": ledger.EXPORT_FORMAT, "machine": machine}
    rows = iter([header]) if conn is None else ledger.export_rows(conn, ctx.since, machine)
    out = sys.stdout if output is None else _private_file(output)
    try:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    finally:
        if output is not None:
            out.close()


def _private_file(path: Path) -> IO[str]:
    """The export holds the ledger (no secrets, but who used what): 0600, like every file of ccgate's."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)
