"""A copy of a usage log without the hourly sums: reports on it read only the raw rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ccgate.usage import store


def raw_only_copy(db: Path, dest: Path) -> sqlite3.Connection:
    """`dest`: the same rows as `db`, with the rollup tables and their triggers dropped."""
    source = sqlite3.connect(db)
    copy = sqlite3.connect(dest)
    source.backup(copy)
    source.close()
    for table in ("hourly", "session_hourly"):
        copy.execute(f"DROP TRIGGER {table}_sum")
        copy.execute(f"DROP TABLE {table}")
    copy.commit()
    copy.close()
    return store.open_db(dest)
