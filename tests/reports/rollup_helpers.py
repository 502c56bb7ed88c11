"""A copy of a usage log without the `hourly` sums: reports on it read only the raw rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ccgate.usage import store


def raw_only_copy(db: Path, dest: Path) -> sqlite3.Connection:
    """`dest`: the same rows as `db`, with the rollup table and its trigger dropped."""
    source = sqlite3.connect(db)
    copy = sqlite3.connect(dest)
    source.backup(copy)
    source.close()
    copy.execute("DROP TRIGGER requests_hourly")
    copy.execute("DROP TABLE hourly")
    copy.commit()
    copy.close()
    return store.open_db(dest)
