"""How the usage log's file is opened: the one place that connects to it.

The store (writer side, migrations) and the reports' reader both open it through here, so the
busy timeout, the read-only URI and the file's mode are decided once. Kept free of the store's
imports: the status line opens the log through the reader on every prompt.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ccgate import paths

BUSY_TIMEOUT_MS = 5000
# The store's last migration (usage/store.py refuses to load if it names another): migrations run in
# order, so a log that has it has them all, and the reader can tell without importing the store.
LATEST_MIGRATION = "m008_rollup_usage_counts"
# The tier starts the ledger's hourly sums split every model's prompts at (m005, usage/store.py):
# here, not in the store, because every report that reads the sums needs them and the store's
# record model costs a report ~4 ms of start-up it otherwise never uses.
LEDGER_ROLLUP_EDGES = (100_000, 200_000)


def create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite would use the umask)."""
    paths.ensure_private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def open_db(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A bare connection in autocommit mode (transactions are explicit) with the busy timeout set,
    safe to hand to another thread (the parallel slices of a report)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn
