"""The one place that opens the usage log for reading.

Every reader (stats, blocks, statusline, doctor, the dashboard, the metrics' start-up, the
parallel slices of a big report) gets a read-only connection here: reading never writes. A log
written by an older ccgate is brought up to date only when asked (`upgrade=True`: the commands
a person runs on purpose, `ccgate stats` and friends, which say so on stderr), never by the status
line or the dashboard, which read whatever schema is there or report it as outdated.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ccgate import paths
from ccgate.errors import CcgateError
from ccgate.usage.db import LATEST_MIGRATION, open_db


class LogOutdated(CcgateError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the usage log {path} was written by an older ccgate; run `ccgate stats` once (or start "
            "`ccgate serve`) to bring it up to date"
        )


def log_path() -> Path:
    return paths.usage_db()


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A bare read-only connection, safe to hand to another thread (the parallel slices)."""
    conn = open_db(path, readonly=True)
    conn.row_factory = sqlite3.Row
    return conn


def open_log(path: Path | None = None, *, upgrade: bool = False) -> sqlite3.Connection | None:
    """The usage log, read-only; None before anything was logged.

    A log whose schema is behind this ccgate's raises LogOutdated, unless `upgrade`, in which case
    the missing migrations are applied first (once, on a writer connection of the store's).
    """
    path = log_path() if path is None else Path(path)
    if not path.exists():
        return None
    conn = connect_readonly(path)
    if not current(conn):
        conn.close()
        if not upgrade:
            raise LogOutdated(path)
        upgrade_log(path)
        conn = connect_readonly(path)
    return conn


def current(conn: sqlite3.Connection) -> bool:
    try:
        found = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (LATEST_MIGRATION,)).fetchone()
    except sqlite3.OperationalError:
        return False
    return found is not None


def upgrade_log(path: Path) -> list[str]:
    """Apply the missing migrations; returns their names."""
    import sys

    from ccgate.usage import store

    conn = open_db(path)
    try:
        ran = store.migrate(conn)
    finally:
        conn.close()
    if ran:
        print(f"ccgate: upgraded the usage log ({', '.join(ran)})", file=sys.stderr)
    return ran


def db_file(conn: sqlite3.Connection) -> Path | None:
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None
